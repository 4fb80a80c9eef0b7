"""Build the delivery status notification for recipients the upstream refused permanently.

Trusts the SendResult the transport returned. Hands bytes to the caller, which submits them
upstream with the null sender (RFC 5321 §4.5.5), so a partial refusal is never silent.
"""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from datetime import datetime


def build(
    original_sender: str,
    refused: Sequence[tuple[str, int, str]],
    subject: str,
    reporting_host: str,
    when: datetime,
) -> bytes:
    """An RFC 3464 multipart/report telling ``original_sender`` who did not get the message."""
    boundary = "=_compuerta_dsn_" + email.utils.make_msgid().strip("<>").replace("@", "_")
    lines = "\r\n".join(f"  {rcpt}: {code} {text}" for rcpt, code, text in refused)
    status = "\r\n\r\n".join(
        f"Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\n"
        f"Status: {_status(code, text)}\r\nDiagnostic-Code: smtp; {code} {_one_line(text)}"
        for rcpt, code, text in refused
    )
    human = (
        "Su mensaje no pudo entregarse a los siguientes destinatarios; el servidor de correo "
        "los rechazó de forma permanente. Los demás destinatarios sí lo recibieron.\r\n\r\n"
        f"Asunto: {_one_line(subject)}\r\n\r\n{lines}\r\n\r\n"
        "Your message could not be delivered to the recipients above; the mail server refused "
        "them permanently. The other recipients did receive it.\r\n"
    )
    headers = (
        f"From: Sistema de correo <MAILER-DAEMON@{reporting_host}>\r\n"
        f"To: <{original_sender}>\r\n"
        "Subject: =?utf-8?q?No_entregado_/_Undelivered_mail?=\r\n"
        f"Date: {email.utils.format_datetime(when)}\r\n"
        f"Message-ID: {email.utils.make_msgid(domain=reporting_host)}\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
    )
    body = (
        f"\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n{human}\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; {reporting_host}\r\n\r\n{status}\r\n\r\n--{boundary}--\r\n"
    )
    return (headers + body).encode("utf-8")


def _status(code: int, text: str) -> str:
    first = text.split(" ", 1)[0]
    parts = first.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return first
    return f"{str(code)[0]}.0.0"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]
