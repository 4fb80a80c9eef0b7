"""Acceptance (issue 6): a real Postfix in front of compuerta, configured with the shipped deploy/ snippets.

Mail goes INTO Postfix; Postfix routes it through compuerta (after-queue content_filter, or
before-queue smtpd_proxy_filter), compuerta hands it back to Postfix's re-injection listener,
and Postfix relays it to the final sink. Checked: clean mail arrives; an .exe is refused with
compuerta's reason (a bounce from Postfix after-queue, the 550 itself before-queue); compuerta
stopped means Postfix defers and delivers once it is back, with nothing lost; /metrics moved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.conftest import Received, Sink, message, send
from tests.gateway.test_smtp import with_attachment
from tests.integration.compuerta import Compuerta, sample
from tests.integration.postfix import Postfix, free_port, render, snippet

SENDER = "ana@gto.gob.mx"
RCPT = "luis@gto.gob.mx"


async def until(condition: Callable[[], bool], what: str, diagnostics: Callable[[], str],
                timeout: float = 60) -> None:  # fmt: skip
    """Wait for an event (a delivery, a log line) without assuming how long it takes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}{diagnostics()}")
        await asyncio.sleep(0.05)


def bounces(sink: Sink) -> list[Received]:
    # RFC 5321 §4.5.5: the null sender; the sink keeps it as aiosmtpd writes it
    return [r for r in sink.handler.received if r.mail_from in ("", "<>")]


def with_subject(sink: Sink, subject: str) -> list[Received]:
    return [r for r in sink.handler.received if f"Subject: {subject}".encode() in r.data]


async def after_queue(sink: Sink, postfix: Callable[[], Postfix], compuerta: Callable[[int], Compuerta]
                      ) -> tuple[Postfix, Compuerta]:  # fmt: skip
    instance = postfix()
    reinject = free_port()
    gateway = compuerta(reinject)
    main = render(snippet("after-queue", "main.cf"), gateway.smtp_port)
    master = render(snippet("after-queue", "master.cf"), gateway.smtp_port, reinject)
    instance.configure(sink.port, main, master)
    await asyncio.to_thread(instance.launch)
    await asyncio.to_thread(gateway.start)
    return instance, gateway


def diagnostics(instance: Postfix, gateway: Compuerta) -> Callable[[], str]:
    return lambda: instance.log() + gateway.log()


async def test_after_queue_relays_clean_mail_and_bounces_exe(
    sink: Sink, postfix: Callable[[], Postfix], compuerta: Callable[[int], Compuerta]
) -> None:
    instance, gateway = await after_queue(sink, postfix, compuerta)
    why = diagnostics(instance, gateway)

    code, _ = await send(instance.port, SENDER, [RCPT], message(subject="Limpio"))
    assert code == 250
    await until(lambda: bool(with_subject(sink, "Limpio")), "the clean mail at the sink", why)
    # It went Postfix -> compuerta -> Postfix's re-injection listener -> sink.
    assert f"relay=127.0.0.1[127.0.0.1]:{gateway.smtp_port}" in instance.log()
    assert f"[127.0.0.1]:{gateway.upstream_port}" not in instance.log()  # 10025 is a listener, not a relay
    assert "action=accept" in gateway.log()

    code, _ = await send(instance.port, SENDER, [RCPT], with_attachment("Factura.exe"))
    assert code == 250  # queued by Postfix; compuerta decides after the queue
    await until(lambda: bool(bounces(sink)), "the bounce", why)
    bounce = bounces(sink)[0]
    assert bounce.rcpt_tos == [SENDER]
    text = bounce.data.decode(errors="replace")
    assert "550 5.7.1" in text and "attach.dangerous" in text and "000 norma 18" in text
    assert not any(b"Factura.exe" in r.data for r in sink.handler.received if r not in bounces(sink))

    families = await asyncio.to_thread(gateway.scrape)
    assert sample(families, "compuerta_messages_total", action="accept") >= 1
    assert sample(families, "compuerta_messages_total", action="reject") >= 1
    assert sample(families, "compuerta_rule_hits_total", rule="attach.dangerous", action="reject") >= 1
    assert sample(families, "compuerta_upstream_deliveries_total", result="accepted") >= 1
    assert sample(families, "compuerta_smtp_sessions_total", result="accepted") >= 1
    assert sample(families, "compuerta_stage_seconds_count", stage="data") >= 2
    assert sample(families, "compuerta_held_messages", state="held") == 0
    status, body = await asyncio.to_thread(gateway.get, "/readyz")
    assert status == 200 and '"ready":true' in body.replace(" ", ""), body


async def test_after_queue_defers_while_compuerta_is_down_and_loses_nothing(
    sink: Sink, postfix: Callable[[], Postfix], compuerta: Callable[[int], Compuerta]
) -> None:
    instance, gateway = await after_queue(sink, postfix, compuerta)
    why = diagnostics(instance, gateway)
    assert await asyncio.to_thread(gateway.stop) == 0

    subjects = [f"Durante la caida {n}" for n in range(3)]
    for subject in subjects:
        code, _ = await send(instance.port, SENDER, [RCPT], message(subject=subject))
        assert code == 250
    await until(lambda: instance.log().count("status=deferred") >= len(subjects), "deferrals", why)
    assert sink.handler.received == []
    assert len(await asyncio.to_thread(instance.queue)) == len(subjects)

    await asyncio.to_thread(gateway.start)
    await asyncio.to_thread(instance.flush)
    await until(lambda: all(with_subject(sink, s) for s in subjects), "the deferred mail", why)
    await until(lambda: not instance.queue(), "an empty Postfix queue", why)
    assert all(len(with_subject(sink, s)) == 1 for s in subjects)  # each exactly once


async def test_before_queue_client_gets_compuertas_reply(
    sink: Sink, postfix: Callable[[], Postfix], compuerta: Callable[[int], Compuerta]
) -> None:
    instance = postfix()
    reinject = free_port()
    gateway = compuerta(reinject)
    master = render(snippet("before-queue", "master.cf"), gateway.smtp_port, reinject, instance.port)
    instance.configure(sink.port, "", master, listener=False)
    await asyncio.to_thread(instance.launch)
    await asyncio.to_thread(gateway.start)
    why = diagnostics(instance, gateway)

    code, _ = await send(instance.port, SENDER, [RCPT], message(subject="Antes de la cola"))
    assert code == 250
    await until(lambda: bool(with_subject(sink, "Antes de la cola")), "the clean mail at the sink", why)

    code, text = await send(instance.port, SENDER, [RCPT], with_attachment("setup.exe"))
    assert code == 550, text
    assert text.startswith("5.7.1") and "attach.dangerous" in text
    # Nothing was queued for the refused message, so nothing can bounce.
    await until(lambda: not instance.queue(), "an empty Postfix queue", why)
    assert not bounces(sink) and "action=reject" in gateway.log()

    assert await asyncio.to_thread(gateway.stop) == 0
    code, text = await send(instance.port, SENDER, [RCPT], message(subject="Sin filtro"))
    assert 400 <= code < 500, (code, text)  # the client keeps the message and retries
    # Postfix queued nothing of the client's (only its own notice to postmaster, notify_classes).
    assert not [m for m in instance.queue() if m.get("sender") == SENDER], why()
