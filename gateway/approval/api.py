"""The JSON API of the approval queue (/api/v1): the same operations as the web and the CLI.

Trusts a bearer token (issued by `compuerta users token`, stored as SHA-256) to name a user;
that user's roles decide, exactly as in the web app (an auditor reads, never decides). No
cookies, so no CSRF. Hands decisions to gateway.moderation; describes itself in OPENAPI.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import moderation, progress
from gateway.approval import auth
from gateway.model import HeldMessage, User
from gateway.moderation import Actor, ModerationError
from gateway.outcome import Services
from gateway.store.moderation import QueueFilter

_STATUS = {"not-found": 404, "forbidden": 403, "decided": 409, "bad-request": 400}
STATES = ("held", "approved", "delivered", "rejected", "expired")


def as_json(held: HeldMessage) -> dict[str, object]:
    return {
        "ticket": held.ticket, "state": held.state, "sender": held.envelope.mail_from,
        "dependency": held.dependency, "subject": held.subject,
        "recipients": len(held.envelope.rcpt_tos), "recipients_by_class": dict(held.classes),
        "reasons": [{"rule": v.rule, "detail": v.detail} for v in held.reasons],
        "created_at": held.created_at.isoformat(),
        "deadline": held.deadline.isoformat() if held.deadline else None,
        "required_roles": list(held.required_roles), "assignee": held.assignee,
        "approvals": [{"role": a.role, "user": a.username, "decision": a.decision, "reason": a.reason,
                       "at": a.at.isoformat()} for a in held.approvals],
        "outcome_reason": held.outcome_reason,
    }  # fmt: skip


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


Handler = Callable[[Request, Services, User], Awaitable[Response]]


def _authenticated(handler: Handler, services: Services) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        user = (
            await services.store.user_by_token(auth.token_hash(token))
            if scheme.lower() == "bearer" and token
            else None
        )
        if user is None or not user.active:
            return JSONResponse({"error": "unauthorized"}, 401, headers={"WWW-Authenticate": "Bearer"})
        return await handler(request, services, user)

    return endpoint


async def _list(request: Request, services: Services, user: User) -> Response:
    query = request.query_params
    state = query.get("state", "held")
    if state not in STATES:
        return _error(400, f"state must be one of {', '.join(STATES)}")
    limit = min(int(query["limit"]), 500) if query.get("limit", "").isdigit() else 50
    offset = int(query["offset"]) if query.get("offset", "").isdigit() else 0
    spec = QueueFilter(state, query.get("sender", ""), query.get("dependency", ""), query.get("subject", ""),
                       limit, offset)  # fmt: skip
    items, total = await services.store.queue(spec)
    return JSONResponse({"total": total, "items": [as_json(h) for h in items]})


async def _one(request: Request, services: Services, user: User) -> Response:
    held = await services.store.held(request.path_params["ticket"])
    if held is None:
        return _error(404, "not found")
    return JSONResponse(
        {**as_json(held), "progress": progress.as_json(await services.store.progress(held.ticket))}
    )


async def _decide(request: Request, services: Services, user: User) -> Response:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return _error(400, "body must be JSON")
    reason = str(body.get("reason", ""))[:1000] if isinstance(body, dict) else ""
    decision = request.path_params["decision"]
    try:
        outcome = await moderation.decide(services, request.path_params["ticket"],
                                          Actor(user.username, user.roles), decision, reason)  # fmt: skip
    except ModerationError as error:
        return _error(_STATUS[error.kind], f"{error.kind}: {error}")
    return JSONResponse({**as_json(outcome.held), "pending_roles": list(outcome.pending)})


async def _openapi(request: Request) -> Response:
    return JSONResponse(OPENAPI)


def routes(services: Services) -> list[BaseRoute]:
    return [
        Route("/api/v1/openapi.json", _openapi),
        Route("/api/v1/held", _authenticated(_list, services)),
        Route("/api/v1/held/{ticket}", _authenticated(_one, services)),
        Route("/api/v1/held/{ticket}/{decision:str}", _authenticated(_decide, services), methods=["POST"]),
    ]


_TICKET = {
    "name": "ticket",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "example": "C-000001"},
}
_HELD = {"$ref": "#/components/schemas/Held"}
OPENAPI: dict[str, object] = {
    "openapi": "3.1.0",
    "info": {
        "title": "compuerta: mensajes retenidos",
        "version": "1",
        "description": "Cola de correos masivos retenidos para autorización (lineamiento 000 Anexo A).",
    },
    "components": {
        "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer", "description": "compuerta users token USUARIO"}
        },
        "schemas": {
            "Held": {
                "type": "object",
                "properties": {
                    "ticket": {"type": "string"},
                    "state": {"type": "string", "enum": list(STATES)},
                    "sender": {"type": "string"},
                    "dependency": {"type": "string"},
                    "subject": {"type": "string"},
                    "recipients": {"type": "integer"},
                    "recipients_by_class": {"type": "object"},
                    "reasons": {"type": "array"},
                    "deadline": {"type": ["string", "null"], "format": "date-time"},
                    "required_roles": {"type": "array", "items": {"type": "string"}},
                    "approvals": {"type": "array"},
                    "assignee": {"type": "string"},
                },
            }
        },
    },
    "security": [{"token": []}],
    "paths": {
        "/api/v1/held": {
            "get": {
                "summary": "La cola",
                "parameters": [
                    {"name": n, "in": "query", "schema": {"type": t}}
                    for n, t in (
                        ("state", "string"),
                        ("sender", "string"),
                        ("dependency", "string"),
                        ("subject", "string"),
                        ("limit", "integer"),
                        ("offset", "integer"),
                    )
                ],
                "responses": {
                    "200": {
                        "description": "total and items",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "total": {"type": "integer"},
                                        "items": {"type": "array", "items": _HELD},
                                    },
                                }
                            }
                        },
                    }
                },
            }
        },
        "/api/v1/held/{ticket}": {
            "get": {
                "summary": "Un mensaje",
                "parameters": [_TICKET],
                "responses": {
                    "200": {"description": "the message", "content": {"application/json": {"schema": _HELD}}},
                    "404": {"description": "no such ticket"},
                },
            }
        },
        **{
            f"/api/v1/held/{{ticket}}/{d}": {
                "post": {
                    "summary": "Autorizar" if d == "approve" else "Rechazar",
                    "parameters": [_TICKET],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "properties": {"reason": {"type": "string"}}}
                            }
                        }
                    },
                    "responses": {
                        "200": {
                            "description": "decision recorded",
                            "content": {"application/json": {"schema": _HELD}},
                        },
                        "403": {"description": "role may not decide"},
                        "409": {"description": "already decided"},
                    },
                }
            }
            for d in ("approve", "reject")
        },
    },
}
