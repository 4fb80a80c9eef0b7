"""The confirm link of a peer administrator's copy: "re-sent inside my domain", without a login.

Trusts nothing in the request: the token in the path is the only credential (unguessable,
24 random bytes, one per peer domain and release) and an unknown one gets 404. GET only shows
the page, because mail scanners open links; the POST of its button records the confirmation
(gateway.store.outbox.confirm), once: a second click keeps the first time.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.outcome import Services
from gateway.store import outbox
from gateway.store.moderation import ticket_of
from relay.cover import when

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True
)


def routes(services: Services) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        token = str(request.path_params["token"])
        found = await outbox.peer_by_token(services.store.db, token)
        if found is None:
            return _render("confirmacion.html", {"unknown": True}, 404)
        held_id, domain, confirmed_at = found
        if request.method == "POST":
            confirmed = await outbox.confirm(services.store.db, token, services.env.clock.now())
            confirmed_at = confirmed[2] if confirmed else confirmed_at
        held = await services.store.held(ticket_of(held_id))
        return _render("confirmacion.html", {
            "ticket": ticket_of(held_id), "domain": domain, "subject": held.subject if held else "",
            "confirmed": when(confirmed_at) if confirmed_at else "", "token": token,
        })  # fmt: skip

    return [Route("/confirmar/{token}", page, methods=["GET", "POST"])]


def _render(name: str, context: dict[str, object], status: int = 200) -> HTMLResponse:
    return HTMLResponse(_TEMPLATES.get_template(name).render(**context), status_code=status)
