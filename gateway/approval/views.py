"""The HTML pages of the approval app: validate the request, call moderation, render Spanish.

Trusts gateway.approval.session for who is asking and gateway.moderation for what they may
do; checks the role and the CSRF token on every route that changes anything. Hands pages to
the Jinja2 templates (autoescaped; the message body only after nh3 in render.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from filters import _recipients
from gateway import moderation, notices, progress
from gateway.approval import auth, render, session
from gateway.approval.session import Viewer
from gateway.model import Context, Organization
from gateway.moderation import Actor, ModerationError
from gateway.outcome import Services
from gateway.store.audit import AuditEntry
from gateway.store.moderation import QueueFilter

TEMPLATES = Environment(loader=PackageLoader("gateway.approval", "templates"), autoescape=True)
KINDS = {kind.value: label for kind, label in _recipients.LABELS_ES.items()}
STATES = {"held": "retenidos", "approved": "autorizados", "delivered": "enviados",
          "rejected": "rechazados", "expired": "vencidos"}  # fmt: skip
# Throttle password guessing: after 5 failures a user name is locked for 15 minutes, and after
# 20 (any user names: one guesser trying many) so is the client address (offices share one).
MAX_FAILURES = 5
MAX_FAILURES_FROM = 20
LOCKOUT = timedelta(minutes=15)
_STATUS = {"not-found": 404, "forbidden": 403, "decided": 409, "bad-request": 400}


def page(services: Services, name: str, status: int = 200, **values: object) -> HTMLResponse:
    values.setdefault("viewer", None)
    values["local"] = lambda at: notices.local_time(services.env.config, at)
    values.setdefault("states", STATES)
    values["rules"] = notices.RULES_ES
    html = TEMPLATES.get_template(name).render(kinds=KINDS, **values)
    return HTMLResponse(html, status_code=status)


def refused(services: Services, viewer: Viewer | None, status: int, message: str) -> HTMLResponse:
    title = {400: "Solicitud inválida", 403: "No permitido", 404: "No encontrado", 409: "Ya resuelto"}
    return page(
        services, "error.html", status, viewer=viewer, title=title.get(status, "Error"), message=message
    )


async def login_form(request: Request, services: Services) -> Response:
    csrf = auth.new_token()
    response = page(services, "login.html", csrf=csrf, error=request.query_params.get("error"))
    session.set_cookie(response, services, session.LOGIN_CSRF, csrf, 3600)
    return response


async def login(request: Request, services: Services) -> Response:
    if not await session.csrf_ok(request, request.cookies.get(session.LOGIN_CSRF, "")):
        return refused(services, None, 403, "Solicitud rechazada: el formulario caducó (CSRF).")
    form = await request.form()
    username, password = str(form.get("usuario", ""))[:100], str(form.get("contrasena", ""))[:1000]
    now = services.env.clock.now()
    if await _throttled(services, username, _client(request), now):
        return page(services, "login.html", 429, csrf=request.cookies.get(session.LOGIN_CSRF, ""),
                    error="Demasiados intentos fallidos; espere 15 minutos.")  # fmt: skip
    user = await services.store.user(username)
    if not auth.check_password(user, password) or user is None:
        await services.store.audit_event(AuditEntry(now, username, "", "login.failed", "", _client(request)))
        return RedirectResponse("/ingresar?" + urlencode({"error": "Usuario o contraseña incorrectos"}), 303)
    await services.store.audit_event(AuditEntry(now, username, "", "login", "", _client(request)))
    response = RedirectResponse("/retenidos", 303)
    await session.open_for(response, user, services)
    response.delete_cookie(session.LOGIN_CSRF, path="/")
    return response


async def _throttled(services: Services, username: str, client: str, now: datetime) -> bool:
    store, since = services.store, now - LOCKOUT
    return (
        await store.audit_count(username, "login.failed", since) >= MAX_FAILURES
        or await store.audit_count_from(client, "login.failed", since) >= MAX_FAILURES_FROM
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


async def logout(request: Request, services: Services, viewer: Viewer) -> Response:
    await services.store.close_session(viewer.token_hash)
    response = RedirectResponse("/ingresar", 303)
    response.delete_cookie(session.COOKIE, path="/")
    return response


def _spec(request: Request) -> QueueFilter:
    query = request.query_params
    state = query.get("estado", "held")
    limit = min(_int(query.get("limite"), 50), 200)
    return QueueFilter(state if state in STATES else "held", query.get("remitente", "").strip(),
                       query.get("dependencia", "").strip(), query.get("asunto", "").strip(),
                       max(limit, 1), max(_int(query.get("desde"), 0), 0))  # fmt: skip


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() and len(value) < 9 else default


async def queue(request: Request, services: Services, viewer: Viewer) -> Response:
    spec = _spec(request)
    items, total = await services.store.queue(spec)

    def link(offset: int) -> str:
        query = dict(request.query_params)
        query["desde"] = str(max(offset, 0))
        return "/retenidos?" + urlencode(query)

    return page(services, "queue.html", viewer=viewer, items=items, total=total, spec=spec, page=link,
                notice=request.query_params.get("aviso"))  # fmt: skip


async def detail(request: Request, services: Services, viewer: Viewer) -> Response:
    held = await services.store.held(request.path_params["ticket"])
    if held is None:
        return refused(services, viewer, 404, "No existe ese folio.")
    found = _recipients.classify(held.envelope.rcpt_tos, held.envelope.mail_from, _ctx(services))
    recipients = [(kind.value, addresses) for kind, addresses in found.by_kind.items()]
    approved = {a.role: a for a in held.approvals if a.decision == "approve"}
    return page(services, "detail.html", viewer=viewer, held=held, approved=approved, states=notices.STATES_ES,
                rendered=render.render(held.raw, held.ticket), recipients=recipients,
                progress=await services.store.progress(held.ticket), delivery_kinds=progress.KIND_ES,
                delivery_statuses=progress.STATUS_ES,
                notice=request.query_params.get("aviso"), error=request.query_params.get("error"))  # fmt: skip


def _ctx(services: Services) -> Context[None]:
    config = services.env.config
    organization = Organization(config.organization.home_domains, config.organization.name)
    return Context(None, services.env.clock, organization, services.env.current_directory())


async def decide(request: Request, services: Services, viewer: Viewer) -> Response:
    ticket = request.path_params["ticket"]
    form = await request.form()
    decision, reason = str(form.get("decision", "")), str(form.get("motivo", "")).strip()[:1000]
    try:
        outcome = await moderation.decide(services, ticket, _actor(viewer), decision, reason)
    except ModerationError as error:
        return refused(services, viewer, _STATUS[error.kind], _explain(error))
    state = notices.STATES_ES.get(outcome.held.state, outcome.held.state)
    text = (
        f"Decisión registrada. Faltan: {', '.join(outcome.pending)}"
        if outcome.pending
        else f"Mensaje {state}."
    )
    return RedirectResponse(f"/retenidos/{ticket}?" + urlencode({"aviso": text}), 303)


def _actor(viewer: Viewer) -> Actor:
    return Actor(viewer.user.username, viewer.user.roles)


def _explain(error: ModerationError) -> str:
    return {
        "not-found": "No existe ese folio.",
        "forbidden": "Su rol no puede decidir sobre este mensaje.",
        "decided": "Este mensaje ya fue resuelto por otra persona.",
        "bad-request": "Decisión inválida.",
    }[error.kind]


async def assign(request: Request, services: Services, viewer: Viewer) -> Response:
    ticket = request.path_params["ticket"]
    taken = await moderation.assign(services, ticket, _actor(viewer))
    text = "Lo tiene usted en revisión." if taken else "No se pudo tomar (ya resuelto)."
    return RedirectResponse(f"/retenidos/{ticket}?" + urlencode({"aviso": text}), 303)


async def bulk(request: Request, services: Services, viewer: Viewer) -> Response:
    form = await request.form()
    decision, reason = str(form.get("decision", "")), str(form.get("motivo", "")).strip()[:1000]
    done, failed = 0, 0
    for ticket in [str(t) for t in form.getlist("folios")][:200]:
        try:
            await moderation.decide(services, ticket, _actor(viewer), decision, reason)
            done += 1
        except ModerationError:
            failed += 1
    return RedirectResponse(
        "/retenidos?" + urlencode({"aviso": f"{done} resueltos, {failed} sin cambio"}), 303
    )


async def inline_image(request: Request, services: Services, viewer: Viewer) -> Response:
    held = await services.store.held(request.path_params["ticket"])
    found = render.inline_image(held.raw, request.path_params["cid"]) if held else None
    if found is None:
        return Response(status_code=404)
    data, kind = found
    return Response(data, media_type=kind, headers={"Content-Disposition": "inline"})


async def status(request: Request, services: Services) -> Response:
    token = request.path_params["token"]
    held = await services.store.held_by_token(token) if len(token) <= 64 else None
    if held is None:
        return refused(services, None, 404, "El enlace no corresponde a ninguna solicitud.")
    approved = {a.role for a in held.approvals if a.decision == "approve"}
    return page(services, "status.html", held=held, approved=approved, states=notices.STATES_ES,
                progress=await services.store.progress(held.ticket), delivery_kinds=progress.KIND_ES,
                delivery_statuses=progress.STATUS_ES)  # fmt: skip
