"""Write the cover note that goes with the copy for another government domain's administrators.

Trusts the held message's bytes (attached unchanged as message/rfc822, so the administrator can
re-send the original as it was approved) and the release facts. Pure: hands bytes to the
delivery worker, which signs them last (DKIM) and sends them. Spanish (es-MX) first: the
administrators are public servants of Mexican governments (000 Anexo A: "se envía copia al
administrador de cada dominio de gobierno para que lo reenvíe dentro de su dominio").
"""

from __future__ import annotations

import email.utils
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from zoneinfo import ZoneInfo

from gateway.model import Release

ZONE = ZoneInfo("America/Mexico_City")  # official time of the governments that use compuerta
MONTHS = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
]


@dataclass(frozen=True)
class Note:
    """What a cover note says about one released message, for one peer domain."""

    release: Release
    subject: str
    original_sender: str
    domain: str  # the peer domain whose administrators receive it
    confirm_url: str
    sender: str  # From: of the note (the gateway's own address)
    hostname: str  # for Message-ID


def cover(note: Note, administrators: tuple[str, ...], original: bytes, now: datetime, key: str) -> bytes:
    """The administrators' copy: the note, then the original message attached unchanged.

    ``key`` makes the Message-ID stable across retries of the same job (one copy, one id).
    """
    boundary = "=_compuerta_" + secrets.token_hex(12)
    headers = _headers(note, administrators, "Para reenvío en su dominio", now, key)
    transfer = "7bit" if original.isascii() else "8bit"
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n{_text(note)}\r\n"
        f"--{boundary}\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: {transfer}\r\n"
        f'Content-Disposition: attachment; filename="mensaje-{note.release.ticket}.eml"\r\n\r\n'
    ).encode()
    closing = b"" if original.endswith(b"\r\n") else b"\r\n"
    return (
        (headers + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n').encode()
        + body
        + original
        + closing
        + f"--{boundary}--\r\n".encode()
    )


def reminder(note: Note, administrators: tuple[str, ...], count: int, now: datetime, key: str) -> bytes:
    """A reminder for administrators who have not confirmed re-sending the message."""
    headers = _headers(note, administrators, f"Recordatorio {count}: pendiente de reenvío", now, key)
    text = (
        f"Estimado(a) administrador(a) del dominio {note.domain}:\r\n\r\n"
        f"Aún no se ha confirmado el reenvío dentro de su dominio del correo masivo "
        f'"{note.subject}" (folio {note.release.ticket}), que le enviamos el '
        f"{when(note.release.approved_at)}.\r\n\r\n"
        f"Si ya lo reenvió, confírmelo en este enlace (no requiere iniciar sesión):\r\n"
        f"{note.confirm_url}\r\n\r\n{_footer()}"
    )
    return (headers + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + text).encode()  # fmt: skip


def when(moment: datetime) -> str:
    """A date and time as people in Mexico write it: 23 de noviembre de 2026, 04:00 h."""
    local = moment.astimezone(ZONE)
    return f"{local.day} de {MONTHS[local.month - 1]} de {local.year}, {local:%H:%M} h (hora del centro)"


def _headers(note: Note, administrators: tuple[str, ...], what: str, now: datetime, key: str) -> str:
    subject = Header(f"{what}: {note.subject}", "utf-8").encode()
    return (
        f"From: Compuerta de correo <{note.sender}>\r\nTo: {', '.join(administrators)}\r\n"
        f"Subject: {subject}\r\nDate: {email.utils.format_datetime(now)}\r\n"
        f"Message-ID: <{key}.{note.release.ticket}@{note.hostname}>\r\n"
        # RFC 3834 §5: automatic messages say so, so that nobody auto-replies to them
        "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
        f"X-Compuerta-Ticket: {note.release.ticket}\r\n"
    )


def _text(note: Note) -> str:
    approvers = ", ".join(note.release.approved_by) or "(sin nombre)"
    return (
        f"Estimado(a) administrador(a) del dominio {note.domain}:\r\n\r\n"
        "Adjunto encontrará un correo masivo institucional que fue revisado y aprobado para su "
        "difusión entre las personas servidoras públicas del gobierno del estado. Le pedimos "
        f"reenviarlo dentro de su dominio ({note.domain}), solo a personas servidoras públicas.\r\n\r\n"
        f"  Asunto: {note.subject}\r\n  Remitente: {note.original_sender}\r\n"
        f"  Aprobado por: {approvers}\r\n  Fecha de aprobación: {when(note.release.approved_at)}\r\n"
        f"  Folio: {note.release.ticket}\r\n\r\n"
        "Cuando lo haya reenviado, confírmelo en este enlace (no requiere iniciar sesión):\r\n"
        f"{note.confirm_url}\r\n\r\n{_footer()}"
    )


def _footer() -> str:
    return (
        "Este mensaje fue generado automáticamente por la compuerta de correo institucional; "
        "no lo responda.\r\n\r\n"
        "(English: an approved institutional mass mailing is attached; please re-send it inside "
        "your domain and confirm with the link above.)\r\n"
    )
