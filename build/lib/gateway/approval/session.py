"""Login sessions of the web app: the cookie, the user behind it, CSRF on every form.

Trusts the store's sessions table; the cookie holds a random token whose SHA-256 is the key,
HttpOnly and SameSite=Strict (Secure behind HTTPS). Every form carries the session's CSRF token
(the login form a double-submit cookie), compared in constant time. Hands the views a Viewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from gateway.approval import auth
from gateway.model import User
from gateway.outcome import Services

COOKIE = "compuerta_sesion"
LOGIN_CSRF = "compuerta_ingreso"


@dataclass(frozen=True)
class Viewer:
    user: User
    csrf: str
    token_hash: str

    @property
    def may_decide(self) -> bool:
        return auth.may_decide(self.user)


async def viewer(request: Request, services: Services) -> Viewer | None:
    token = request.cookies.get(COOKIE, "")
    if not token:
        return None
    hashed = auth.token_hash(token)
    found = await services.store.session(hashed, services.env.clock.now())
    return None if found is None else Viewer(found[0], found[1], hashed)


async def open_for(response: Response, user: User, services: Services) -> None:
    """Start a session for ``user`` and set its cookie on ``response``."""
    token, csrf = auth.new_token(), auth.new_token()
    hours = services.env.config.approval.session_hours
    expires = services.env.clock.now() + timedelta(hours=hours)
    await services.store.open_session(auth.token_hash(token), user.username, csrf, expires)
    set_cookie(response, services, COOKIE, token, int(hours * 3600))


def set_cookie(response: Response, services: Services, name: str, value: str, max_age: int) -> None:
    secure = services.env.config.approval.secure_cookies
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/"
    )


async def csrf_ok(request: Request, expected: str) -> bool:
    """The form's csrf field equals ``expected`` (the session's, or the login cookie's)."""
    form = await request.form()
    sent = form.get("csrf")
    return bool(expected) and isinstance(sent, str) and auth.same(sent, expected)
