"""Acceptance (issue 4) in a real browser: a masivo over SMTP is held, the sender is told, an
approver logs in with Chromium, approves, the message reaches upstream, the status page shows it.

Playwright drives Debian's /usr/bin/chromium (its own browser download cannot work here).
"""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

from playwright.async_api import async_playwright

from tests.approval.conftest import PASSWORD, Starter, deliver, hold
from tests.conftest import Sink, require

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
MASIVO = (
    b"From: Ana Ruiz <ana@gto.gob.mx>\r\nTo: Todo el personal <todos@gto.gob.mx>\r\n"
    b"Subject: =?utf-8?q?Jornada_de_vacunaci=C3=B3n?=\r\nMessage-ID: <b1@gto.gob.mx>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Se invita a <b>todo el personal</b>.</p>\r\n"
)


def status_path(notice: bytes) -> str:
    parsed = email.message_from_bytes(notice, policy=email.policy.default)
    body = parsed.get_body()
    assert body is not None
    found = re.search(r"/estado/[A-Za-z0-9_-]+", body.get_content())
    assert found, "the notice links the status page"
    return found.group(0)


async def test_approve_in_a_real_browser(approval: Starter, sink: Sink) -> None:
    if not CHROMIUM.exists():
        require("chromium", "scripts/setup --test installs Debian's chromium")
    app = await approval()
    ticket = await hold(app, MASIVO)
    [notice] = [r.data for r in sink.handler.received if r.rcpt_tos == ["ana@gto.gob.mx"]]
    assert ticket.encode() in notice
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = await browser.new_page()
        await page.goto(f"{app.base}/retenidos")
        await page.fill("input[name=usuario]", "dgtit1")
        await page.fill("input[name=contrasena]", PASSWORD)
        await page.click("button[type=submit]")
        row = page.locator("tr", has_text=ticket)
        assert "Jornada de vacunación" in await row.inner_text()
        await page.click(f"text={ticket}")
        await page.fill("#motivo", "Procede: campaña de salud")
        await page.click("button[value=approve]")
        assert "autorizado" in await page.inner_text("#estado")
        await deliver(app)  # the outbox's worker sends it; the sweep marks it delivered
        anonymous = await browser.new_context()
        status = await anonymous.new_page()
        await status.goto(app.base + status_path(notice))
        assert "autorizado y enviado" in await status.inner_text("#estado")
        await browser.close()
    released = [r for r in sink.handler.received if r.rcpt_tos == ["todos@gto.gob.mx"]]
    assert len(released) == 1 and released[0].data == MASIVO
    outcome = [r for r in sink.handler.received if r.rcpt_tos == ["ana@gto.gob.mx"]]
    assert len(outcome) == 2, "the sender is told of the outcome"
