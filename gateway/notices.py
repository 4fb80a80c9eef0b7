"""The mail compuerta writes itself about held messages: to the sender and to the approvers.

Spanish (es-MX) first, English after. Trusts the HeldMessage from the store and the Config;
hands finished bytes to the Transport (upstream), with the null envelope sender so that a
notice never bounces into a loop (RFC 5321 §4.5.5) and Auto-Submitted (RFC 3834). A notice
that upstream refuses is logged, never a reason to undo a hold or a decision.
"""

from __future__ import annotations

import logging
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

from gateway import metrics
from gateway.config import Config
from gateway.model import HeldMessage
from relay.dkim import DKIMError, Signer
from relay.transport import Transport, UpstreamError

log = logging.getLogger(__name__)

STATES_ES = {
    "held": "retenido, en espera de autorización",
    "approved": "autorizado, en envío",
    "delivered": "autorizado y enviado",
    "rejected": "rechazado",
    "expired": "vencido sin autorización",
}


def status_url(config: Config, held: HeldMessage) -> str:
    return f"{config.web.base_url.rstrip('/')}/estado/{held.status_token}"


def _sender_address(config: Config) -> str:
    if config.approval.notice_from:
        return config.approval.notice_from
    domains = config.organization.home_domains
    return f"postmaster@{domains[0] if domains else config.smtp.hostname}"


def local_time(config: Config, at: datetime | None) -> str:
    if at is None:
        return "sin fecha límite"
    return at.astimezone(ZoneInfo(config.approval.timezone)).strftime("%d/%m/%Y %H:%M")


# What each holding rule means to a sender, with the norm it comes from.
RULES_ES = {
    "masivo": "Correo masivo (lineamiento 000, norma 10 y Anexo A)",
    "freemail.list": "Envío a muchos destinatarios de correo público (lineamiento 001 VI)",
    "content.chain": "Posible correo cadena (lineamiento 000, norma 10; 001 VI)",
    "attach.media": "Adjuntos de audio o video (lineamiento 002)",
}


def reasons_es(held: HeldMessage) -> str:
    lines = [f"  - {RULES_ES.get(v.rule, v.rule)}: {v.detail}" for v in held.reasons]
    return "\n".join(lines) or "  - (sin detalle)"


def _compose(config: Config, to: tuple[str, ...], subject: str, body: str, now: datetime) -> bytes:
    mail = EmailMessage(policy=SMTP)
    mail["From"] = f"Compuerta de correo <{_sender_address(config)}>"
    mail["To"] = ", ".join(to)
    mail["Subject"] = subject
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = make_msgid(domain=_sender_address(config).rpartition("@")[2])
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834 §5
    mail.set_content(body)
    return mail.as_bytes()


def held_notice(config: Config, held: HeldMessage, now: datetime) -> bytes:
    body = f"""Su mensaje "{held.subject}" fue retenido como correo masivo y requiere autorización.

Folio: {held.ticket}
Motivos:
{reasons_es(held)}
Qué sigue: el área responsable ({", ".join(held.required_roles)}) revisará el mensaje. Si lo
autoriza, se enviará a sus destinatarios sin que usted tenga que hacer nada; si lo rechaza,
recibirá otro aviso con el motivo.
Fecha límite de respuesta: {local_time(config, held.deadline)} (días hábiles, lineamiento 000 Anexo A).
Consulte el estado en cualquier momento (sin contraseña): {status_url(config, held)}

---
Your message was held for approval as a mass mailing. Ticket {held.ticket}. Status: {status_url(config, held)}
"""
    subject = f"[{held.ticket}] Mensaje retenido para autorización: {held.subject}"
    return _compose(config, (held.envelope.mail_from,), subject, body, now)


def outcome_notice(config: Config, held: HeldMessage, now: datetime) -> bytes:
    state = STATES_ES.get(held.state, held.state)
    reason = f"\nMotivo: {held.outcome_reason}\n" if held.outcome_reason else "\n"
    body = f"""Su mensaje "{held.subject}" (folio {held.ticket}) fue {state}.
{reason}
Estado: {status_url(config, held)}

---
Your held message {held.ticket} was {held.state}.
"""
    subject = f"[{held.ticket}] Mensaje {state}: {held.subject}"
    return _compose(config, (held.envelope.mail_from,), subject, body, now)


APPROVER_SUBJECTS = {
    "new": "Nuevo mensaje por autorizar",
    "reminder": "Recordatorio: mensaje por autorizar vence pronto",
    "escalation": "Escalamiento: mensaje sin autorizar después de la fecha límite",
}


def approver_notice(
    config: Config, held: HeldMessage, kind: str, to: tuple[str, ...], now: datetime
) -> bytes:
    body = f"""{APPROVER_SUBJECTS[kind]}.

Folio: {held.ticket}
Remitente: {held.envelope.mail_from} ({held.dependency or "dependencia no registrada"})
Asunto: {held.subject}
Destinatarios: {len(held.envelope.rcpt_tos)}
Motivos:
{reasons_es(held)}
Autorizan: {", ".join(held.required_roles)}
Fecha límite: {local_time(config, held.deadline)}
Revisar: {config.web.base_url.rstrip("/")}/retenidos/{held.ticket}
"""
    subject = f"[{held.ticket}] {APPROVER_SUBJECTS[kind]}: {held.subject}"
    return _compose(config, to, subject, body, now)


async def send(transport: Transport, to: tuple[str, ...], data: bytes, signer: Signer | None = None) -> bool:
    """Hand a notice upstream, DKIM-signed last where its From: domain has a key; False (logged)
    when it was not taken."""
    if not to:
        return False
    if signer is not None:
        try:
            data = signer.sign(data)
        except DKIMError as error:
            log.error("notice to %s sent unsigned: %s", ",".join(to), error)
    try:
        await transport.send("", to, data)
    except (UpstreamError, OSError) as error:
        log.error("notice to %s not sent: %s", ",".join(to), error)
        metrics.NOTICES.labels(result="failed").inc()
        return False
    metrics.NOTICES.labels(result="sent").inc()
    return True
