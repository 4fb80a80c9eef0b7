"""The web listener under attack: every route guarded, every role checked on every route,
no stored XSS from held messages, security headers on every response, sessions and CSRF.

The route list is read from the app itself, so a route added later without a guard fails here
unless it is added to OPEN on purpose (DESIGN.md: "Nobody reaches the web app's data without
logging in").
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route, Router

from gateway import web
from gateway.approval import auth
from tests.approval.conftest import USERS, Approval, Starter, csrf_of, hold, login

# Routes anybody may reach, and why.
OPEN = {
    "/healthz": "liveness probe",
    "/readyz": "readiness probe",
    "/metrics": "Prometheus scrape (loopback listener)",
    "/": "a redirect to the queue",
    "/ingresar": "the login form",
    "/estado/{token}": "the sender's status page: its unguessable token is the credential",
    "/api/v1/openapi.json": "the API's description, no data",
    "/confirmar/{token}": "a peer administrator's confirm link: its unguessable token is the credential",
}
CIRCULAR = (
    b"From: ana@gto.gob.mx\r\nTo: todos@gto.gob.mx\r\nSubject: Circular\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nHola a todos.\r\n"
)
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
SVG = "<svg onload=alert(3)>"


def hostile() -> bytes:
    """A held message whose subject, names and file name are all HTML."""
    return (
        f'From: "<b onmouseover=alert(4)>Ana</b>" <ana@gto.gob.mx>\r\nTo: "{IMG}" <todos@gto.gob.mx>\r\n'
        f"Subject: Aviso {SCRIPT}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        f"--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hola</p>{SCRIPT}{IMG}\r\n"
        f'--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="{SVG}.pdf"\r\n'
        "\r\n%PDF-1.4\r\n--B--\r\n"
    ).encode()


class Tags(HTMLParser):
    """The elements a browser would build from a page: scripts and handlers are what matters."""

    def __init__(self) -> None:
        super().__init__()
        self.harmful: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "svg", "iframe", "object", "embed"):
            self.harmful.append(tag)
        self.harmful += [f"{tag} {name}" for name, _ in attrs if name.startswith("on")]
        self.harmful += [f"{tag} {name}" for name, value in attrs if "javascript:" in (value or "")]
        if tag == "img":
            self.images += [value or "" for name, value in attrs if name == "src"]


def flatten(routes: list[BaseRoute]) -> list[Route]:
    found: list[Route] = []
    for route in routes:
        if isinstance(route, Mount):
            inner = route.app
            while not isinstance(inner, Router) and hasattr(inner, "app"):
                inner = inner.app
            assert isinstance(inner, Router), f"cannot see inside mount {route.path!r}"
            found += flatten(list(inner.routes))
        elif isinstance(route, Route):
            found.append(route)
    return found


def concrete(path: str, ticket: str) -> str:
    values = {"ticket": ticket, "cid": "logo@gto.gob.mx", "decision": "approve", "token": "adivinanza"}
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], path)


async def tokens(app: Approval) -> dict[str, str]:
    issued = {}
    for name, _ in USERS:
        issued[name] = auth.new_token()
        await app.gateway.store.update_user(
            name, "api_token_hash", auth.token_hash(issued[name]), app.gateway.services.env.clock.now()
        )
    return issued


async def test_every_route_but_the_open_ones_needs_a_login(approval: Starter) -> None:
    app = await approval()
    ticket = await hold(app, CIRCULAR)
    routes = flatten(web.build(app.gateway.services).routes)
    assert len(routes) >= 15
    async with httpx.AsyncClient(base_url=app.base) as client:
        for route in routes:
            if route.path in OPEN:
                continue
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                response = await client.request(method, concrete(route.path, ticket), data={"csrf": "x"})
                where = f"{method} {route.path}"
                if route.path.startswith("/api/"):
                    assert response.status_code == 401, where
                elif method == "GET":
                    assert (response.status_code, response.headers.get("location")) == (303, "/ingresar"), (
                        where
                    )
                else:
                    assert response.status_code == 403, where
                assert "Circular" not in response.text, where
    held = await app.gateway.store.held(ticket)
    assert held is not None and held.state == "held"


# What each role may do to a message that needs the "dgtit" role ([approval] required).
DECIDE = {"dgtit1": 200, "jefe": 200, "social1": 403, "auditora": 403}


@pytest.mark.parametrize("name", [name for name, _ in USERS])
async def test_each_api_route_as_each_role(approval: Starter, name: str) -> None:
    app = await approval()
    issued = await tokens(app)
    tickets = [await hold(app, CIRCULAR) for _ in range(2)]
    headers = {"Authorization": f"Bearer {issued[name]}"}
    async with httpx.AsyncClient(base_url=app.base, headers=headers) as client:
        assert (await client.get("/api/v1/held")).status_code == 200
        assert (await client.get(f"/api/v1/held/{tickets[0]}")).status_code == 200
        body = json.dumps({"reason": "revisado"}).encode()
        approve = await client.post(f"/api/v1/held/{tickets[0]}/approve", content=body)
        reject = await client.post(f"/api/v1/held/{tickets[1]}/reject", content=body)
        assert (approve.status_code, reject.status_code) == (DECIDE[name], DECIDE[name]), approve.text
    states = [held.state for t in tickets if (held := await app.gateway.store.held(t)) is not None]
    # approved: released into the outbox, whose worker delivers it (tests/gateway/test_delivery.py)
    assert states == (["approved", "rejected"] if DECIDE[name] == 200 else ["held", "held"])


@pytest.mark.parametrize("name", [name for name, _ in USERS])
async def test_each_page_as_each_role(approval: Starter, name: str) -> None:
    app = await approval()
    tickets = [await hold(app, CIRCULAR) for _ in range(3)]
    async with httpx.AsyncClient(base_url=app.base) as client:
        await login(client, name)
        assert (await client.get("/retenidos")).status_code == 200
        detail = await client.get(f"/retenidos/{tickets[0]}")
        assert detail.status_code == 200
        csrf = csrf_of(detail.text)
        decided = await client.post(
            f"/retenidos/{tickets[0]}/decision", data={"csrf": csrf, "decision": "approve"}
        )
        taken = await client.post(f"/retenidos/{tickets[1]}/tomar", data={"csrf": csrf})
        bulk = await client.post(
            "/retenidos/lote", data={"csrf": csrf, "decision": "reject", "folios": tickets[2]}
        )
    if name == "auditora":  # read-only everywhere
        assert [r.status_code for r in (decided, taken, bulk)] == [403, 403, 403]
    else:
        assert taken.status_code == 303 and bulk.status_code == 303
        assert decided.status_code == (403 if name == "social1" else 303)
    first = await app.gateway.store.held(tickets[0])
    assert first is not None and first.state == ("approved" if name in ("dgtit1", "jefe") else "held")


async def test_held_message_fields_cannot_inject_html(approval: Starter) -> None:
    app = await approval()
    ticket = await hold(app, hostile())
    held = await app.gateway.store.held(ticket)
    assert held is not None
    async with httpx.AsyncClient(base_url=app.base) as client:
        await login(client, "dgtit1")
        pages = [await client.get("/retenidos"), await client.get(f"/retenidos/{ticket}"),
                 await client.get(f"/estado/{held.status_token}")]  # fmt: skip
    for page in pages:
        assert page.status_code == 200, page.url
        tags = Tags()
        tags.feed(page.text)
        assert tags.harmful == [], page.url
        assert tags.images == [] or all(src.startswith("/retenidos/") for src in tags.images), tags.images
    assert "&lt;script&gt;" in pages[0].text, "the subject is shown, escaped"


async def test_security_headers_on_every_approval_response(approval: Starter) -> None:
    app = await approval()
    ticket = await hold(app, CIRCULAR)
    async with httpx.AsyncClient(base_url=app.base) as client:
        responses = [await client.get("/ingresar"), await client.get("/estado/nada"),
                     await client.get("/retenidos"), await client.get("/api/v1/held")]  # fmt: skip
        await login(client, "dgtit1")
        responses += [await client.get(f"/retenidos/{ticket}"), await client.get("/retenidos/C-999999")]
    for response in responses:
        csp = response.headers.get("content-security-policy", "")
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, response.url
        assert "script-src" not in csp, "no script may run at all"
        assert response.headers.get("x-content-type-options") == "nosniff", response.url
        assert response.headers.get("cache-control") == "no-store", response.url


async def test_logout_ends_the_session_on_the_server(approval: Starter) -> None:
    app = await approval()
    async with httpx.AsyncClient(base_url=app.base) as client:
        queue = await login(client, "dgtit1")
        stolen = dict(client.cookies)
        await client.post("/salir", data={"csrf": csrf_of(queue.text)})
    async with httpx.AsyncClient(base_url=app.base, cookies=stolen) as replay:
        assert (await replay.get("/retenidos")).status_code == 303


async def test_csrf_token_of_another_session_refused(approval: Starter) -> None:
    app = await approval()
    ticket = await hold(app, CIRCULAR)
    async with (
        httpx.AsyncClient(base_url=app.base) as victim,
        httpx.AsyncClient(base_url=app.base) as attacker,
    ):
        await login(victim, "dgtit1")
        own = csrf_of((await login(attacker, "social1")).text)
        forged = await victim.post(f"/retenidos/{ticket}/decision", data={"csrf": own, "decision": "approve"})
    assert forged.status_code == 403
    held = await app.gateway.store.held(ticket)
    assert held is not None and held.state == "held"


async def test_login_throttled_per_name_even_with_a_fresh_client(approval: Starter) -> None:
    app = await approval()
    for _ in range(5):
        async with httpx.AsyncClient(base_url=app.base) as client:
            await login(client, "jefe", "adivinanza")
    async with httpx.AsyncClient(base_url=app.base) as fresh:
        locked = await login(fresh, "jefe")
    assert locked.status_code == 429 and "compuerta_sesion" not in fresh.cookies
