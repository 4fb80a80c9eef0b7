"""The approval web app over HTTP: login, CSRF, roles, safe rendering, status page, JSON API."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx

from tests.approval.conftest import Starter, csrf_of, deliver, hold, login
from tests.conftest import Sink

CIRCULAR = (
    b"From: ana@gto.gob.mx\r\nTo: todos@gto.gob.mx\r\nSubject: Circular\r\nMessage-ID: <w1@gto.gob.mx>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHola a todos.\r\n"
)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def html_mail() -> bytes:
    html = (
        '<html><body><p onclick="steal()">Convocatoria</p><script>alert("x")</script>'
        '<img src="http://evil.example/pixel.gif?who=dgtit"><img src="cid:logo@gto.gob.mx" alt="logo">'
        '<a href="javascript:alert(1)">liga</a><iframe src="https://evil.example/"></iframe></body></html>'
    )
    return (
        "From: ana@gto.gob.mx\r\nTo: todos@gto.gob.mx\r\nSubject: Boletin\r\nMessage-ID: <h1@gto.gob.mx>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary="B"\r\n\r\n'
        f"--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
        "--B\r\nContent-Type: image/png\r\nContent-ID: <logo@gto.gob.mx>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.b64encode(PNG).decode()}\r\n"
        "--B\r\nContent-Type: application/octet-stream; name=acta.pdf\r\nContent-Disposition: attachment; filename=acta.pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.b64encode(PDF).decode()}\r\n--B--\r\n"
    ).encode()


async def test_pages_need_a_login(approval: Starter) -> None:
    app = await approval()
    async with httpx.AsyncClient(base_url=app.base) as client:
        assert (await client.get("/retenidos")).headers["location"] == "/ingresar"
        assert (await client.get("/retenidos/C-000001")).status_code == 303
        bad = await login(client, "dgtit1", "otra contraseña")
        assert "incorrectos" in bad.text and "compuerta_sesion" not in client.cookies


async def test_session_cookie_is_httponly_and_samesite(approval: Starter) -> None:
    app = await approval()
    async with httpx.AsyncClient(base_url=app.base) as client:
        form = await client.get("/ingresar")
        data = {"csrf": csrf_of(form.text), "usuario": "dgtit1", "contrasena": "contraseña de prueba"}
        response = await client.post("/ingresar", data=data)
        cookie = response.headers["set-cookie"]
        assert "compuerta_sesion=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie


async def test_a_form_without_its_csrf_token_is_refused(approval: Starter, sink: Sink) -> None:
    app = await approval()
    ticket = await hold(app, CIRCULAR)
    async with httpx.AsyncClient(base_url=app.base) as client:
        page = await login(client, "dgtit1")
        assert ticket in page.text
        for csrf in ("", "x" * 43):
            response = await client.post(
                f"/retenidos/{ticket}/decision", data={"csrf": csrf, "decision": "approve"}
            )
            assert response.status_code == 403 and "CSRF" in response.text
        login_post = await client.post(
            "/ingresar", data={"usuario": "dgtit1", "contrasena": "contraseña de prueba"}
        )
        assert login_post.status_code == 403
    held = await app.gateway.store.held(ticket)
    assert held is not None and held.state == "held"
    assert not [r for r in sink.handler.received if "todos@gto.gob.mx" in r.rcpt_tos]


async def test_an_auditor_reads_but_cannot_approve(approval: Starter) -> None:
    app = await approval()
    ticket = await hold(app, CIRCULAR)
    async with httpx.AsyncClient(base_url=app.base) as client:
        await login(client, "auditora")
        detail = await client.get(f"/retenidos/{ticket}")
        assert detail.status_code == 200 and 'value="approve"' not in detail.text
        csrf = csrf_of(detail.text)
        response = await client.post(
            f"/retenidos/{ticket}/decision", data={"csrf": csrf, "decision": "approve"}
        )
        assert response.status_code == 403
        bulk = await client.post(
            "/retenidos/lote", data={"csrf": csrf, "decision": "approve", "folios": ticket}
        )
        assert bulk.status_code == 403
    held = await app.gateway.store.held(ticket)
    assert held is not None and held.state == "held" and held.approvals == ()


async def test_held_html_is_rendered_harmless(approval: Starter) -> None:
    app = await approval()
    ticket = await hold(app, html_mail())
    async with httpx.AsyncClient(base_url=app.base) as client:
        await login(client, "dgtit1")
        detail = await client.get(f"/retenidos/{ticket}")
        body = detail.text
        assert "Convocatoria" in body
        for harmful in ("<script", "alert(", "onclick", "evil.example", "javascript:", "<iframe"):
            assert harmful not in body, harmful
        assert f'src="/retenidos/{ticket}/cid/logo@gto.gob.mx"' in body
        assert "default-src 'none'" in detail.headers["content-security-policy"]
        assert "acta.pdf" in body and "application/pdf" in body, "attachments show their true type"
        image = await client.get(f"/retenidos/{ticket}/cid/logo@gto.gob.mx")
        assert (
            image.status_code == 200 and image.content == PNG and image.headers["content-type"] == "image/png"
        )


async def test_bulk_approval_and_the_status_page(approval: Starter, sink: Sink) -> None:
    app = await approval()
    tickets = [await hold(app, CIRCULAR) for _ in range(3)]
    async with httpx.AsyncClient(base_url=app.base) as client:
        queue = await login(client, "jefe")
        assert all(t in queue.text for t in tickets)
        data = {"csrf": csrf_of(queue.text), "decision": "approve", "motivo": "ok", "folios": tickets[:2]}
        done = await client.post("/retenidos/lote", data=data, follow_redirects=True)
        assert "2 resueltos" in done.text and tickets[2] in done.text and tickets[0] not in done.text
    await deliver(app)
    released = [r for r in sink.handler.received if "todos@gto.gob.mx" in r.rcpt_tos]
    assert len(released) == 2
    held = await app.gateway.store.held(tickets[0])
    assert held is not None
    async with httpx.AsyncClient(base_url=app.base) as anonymous:
        status = await anonymous.get(f"/estado/{held.status_token}")
        assert status.status_code == 200 and "autorizado y enviado" in status.text
        assert "Entregados" in status.text and "(100 %)" in status.text  # the outbox progress (issue 5)
        assert (await anonymous.get("/estado/adivinanza")).status_code == 404


async def test_json_api_with_tokens(approval: Starter, sink: Sink) -> None:
    app = await approval()
    ticket = await hold(app, CIRCULAR)
    tokens = {}
    for name in ("auditora", "dgtit1"):
        from gateway.approval import auth

        tokens[name] = auth.new_token()
        await app.gateway.store.update_user(
            name, "api_token_hash", auth.token_hash(tokens[name]), app.gateway.services.env.clock.now()
        )
    async with httpx.AsyncClient(base_url=app.base) as client:
        assert (await client.get("/api/v1/held")).status_code == 401
        spec = (await client.get("/api/v1/openapi.json")).json()
        assert spec["openapi"].startswith("3.") and "/api/v1/held/{ticket}/approve" in spec["paths"]
        auditor = {"Authorization": f"Bearer {tokens['auditora']}"}
        listing = (await client.get("/api/v1/held", headers=auditor)).json()
        assert listing["total"] == 1 and listing["items"][0]["ticket"] == ticket
        refused = await client.post(f"/api/v1/held/{ticket}/approve", headers=auditor, content=b"{}")
        assert refused.status_code == 403
        approver = {"Authorization": f"Bearer {tokens['dgtit1']}"}
        body = json.dumps({"reason": "procede"}).encode()
        done = await client.post(f"/api/v1/held/{ticket}/approve", headers=approver, content=body)
        assert done.status_code == 200 and done.json()["state"] == "approved"  # the outbox delivers it
        again = await client.post(f"/api/v1/held/{ticket}/approve", headers=approver, content=body)
        assert again.status_code == 409
        await deliver(app)
        shown = (await client.get(f"/api/v1/held/{ticket}", headers=approver)).json()
        assert (
            shown["state"] == "delivered"
            and shown["progress"]["done"]
            and shown["progress"]["delivered"] >= 1
        )
    assert len([r for r in sink.handler.received if "todos@gto.gob.mx" in r.rcpt_tos]) == 1


async def test_password_guessing_is_throttled(approval: Starter) -> None:
    app = await approval()
    async with httpx.AsyncClient(base_url=app.base) as client:
        for _ in range(5):
            assert "incorrectos" in (await login(client, "dgtit1", "adivinanza número")).text
        locked = await login(client, "dgtit1")
        assert locked.status_code == 429 and "compuerta_sesion" not in client.cookies
    assert [e.action for e in await app.gateway.store.audit_entries()].count("login.failed") == 5


async def test_one_address_guessing_many_user_names_is_throttled(approval: Starter) -> None:
    app = await approval()
    async with httpx.AsyncClient(base_url=app.base) as client:
        for n in range(20):  # four per name: no user name reaches its own limit
            assert "incorrectos" in (await login(client, f"usuario{n % 5}", "adivinanza")).text
        locked = await login(client, "dgtit1")  # even the right password, from this address
        assert locked.status_code == 429 and "compuerta_sesion" not in client.cookies


async def test_two_approvers_clicking_at_once_release_once(approval: Starter, sink: Sink) -> None:
    app = await approval()
    ticket = await hold(app, CIRCULAR)
    async with httpx.AsyncClient(base_url=app.base) as first, httpx.AsyncClient(base_url=app.base) as second:
        forms = []
        for client, name in ((first, "dgtit1"), (second, "jefe")):
            await login(client, name)
            forms.append(csrf_of((await client.get(f"/retenidos/{ticket}")).text))
        responses = await asyncio.gather(
            *(client.post(f"/retenidos/{ticket}/decision", data={"csrf": csrf, "decision": "approve"})
              for client, csrf in zip((first, second), forms, strict=True))
        )  # fmt: skip
    assert sorted(r.status_code for r in responses) == [303, 409]
    await deliver(app)
    assert len([r for r in sink.handler.received if "todos@gto.gob.mx" in r.rcpt_tos]) == 1
