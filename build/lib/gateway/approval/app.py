"""The approval app's routes: each page behind its guard (login, role, CSRF), plus the API.

Trusts nothing in a request: every route but the login form, the sender status page and the
OpenAPI description requires a session (or an API token); every POST checks the session's
CSRF token; decisions check the role again in gateway.moderation. Every response carries a
strict Content-Security-Policy, so a held message's HTML can never load remote content or run
script even if the sanitiser missed something. Hands the routes to gateway.web.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.approval import api, session, views
from gateway.approval.session import Viewer
from gateway.outcome import Services

CSP = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),  # the status page's URL is its secret
    (b"cache-control", b"no-store"),
]

View = Callable[[Request, Services, Viewer], Awaitable[Response]]


class Secured:
    """ASGI wrapper adding the security headers to every response of the approval app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def _guarded(
    view: View, services: Services, post: bool = False, decide: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        viewer = await session.viewer(request, services)
        if viewer is None:
            if post:
                return views.refused(services, None, 403, "Sesión vencida: ingrese de nuevo.")
            return RedirectResponse("/ingresar", 303)
        if post and not await session.csrf_ok(request, viewer.csrf):
            return views.refused(services, viewer, 403, "Solicitud rechazada: token CSRF inválido.")
        if decide and not viewer.may_decide:
            return views.refused(services, viewer, 403, "Su rol es de sólo lectura.")
        return await view(request, services, viewer)

    return endpoint


def _open(
    view: Callable[[Request, Services], Awaitable[Response]], services: Services
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await view(request, services)

    return endpoint


async def _home(request: Request) -> Response:
    return RedirectResponse("/retenidos", 303)


def routes(services: Services) -> list[BaseRoute]:
    pages: list[BaseRoute] = [
        Route("/", _home),
        Route("/ingresar", _open(views.login_form, services), methods=["GET"]),
        Route("/ingresar", _open(views.login, services), methods=["POST"]),
        Route("/salir", _guarded(views.logout, services, post=True), methods=["POST"]),
        Route("/estado/{token}", _open(views.status, services)),
        Route("/retenidos", _guarded(views.queue, services)),
        Route("/retenidos/lote", _guarded(views.bulk, services, post=True, decide=True), methods=["POST"]),
        Route("/retenidos/{ticket}", _guarded(views.detail, services)),
        Route(
            "/retenidos/{ticket}/decision",
            _guarded(views.decide, services, post=True, decide=True),
            methods=["POST"],
        ),
        Route(
            "/retenidos/{ticket}/tomar",
            _guarded(views.assign, services, post=True, decide=True),
            methods=["POST"],
        ),
        Route("/retenidos/{ticket}/cid/{cid}", _guarded(views.inline_image, services)),
        *api.routes(services),
    ]
    return [Mount("", app=Secured(Router(routes=pages)))]
