"""The rate meter: the pipeline's Meter over the store, plus the rate.abuse notice to the admins.

Trusts the pipeline's Charge and keys. Every read and write of the counters is a store call
(one transaction each, gateway.store.usage); the only thing this module adds is the notice,
sent through the Transport the first time a sender is suspended (001 IV: "serán
deshabilitados automáticamente" — and the administrators are told). Spanish first.
"""

from __future__ import annotations

import email.utils
import logging
from datetime import datetime
from email.message import EmailMessage

from gateway.model import ALL_WINDOWS, Charge, Usage, Windows
from gateway.store import Store
from relay.transport import Transport, UpstreamError

log = logging.getLogger(__name__)


class StoreMeter:
    def __init__(self, store: Store, transport: Transport, hostname: str = "compuerta.localhost") -> None:
        self.store = store
        self.transport = transport
        self.hostname = hostname

    async def usage(self, key: str, now: datetime, windows: Windows = ALL_WINDOWS) -> Usage:
        return await self.store.usage(key, now, windows)

    async def consume(self, charge: Charge, now: datetime, force: bool) -> tuple[int, str, Usage]:
        consumed = await self.store.consume(charge, now, force)
        return consumed.event, consumed.over.value if consumed.over else "", consumed.usage

    async def refund(self, event: int) -> None:
        await self.store.refund(event)

    async def limit_hit(self, key: str, rule: str, now: datetime) -> None:
        await self.store.limit_hit(key, rule, now)

    async def suspend(
        self, key: str, detail: str, now: datetime, notify: tuple[str, ...], sender: str
    ) -> None:
        if not await self.store.suspend(key, detail, now):
            return  # already suspended: the administrators were told then
        log.warning("rate.abuse: suspended %s (%s)", key, detail)
        if not notify:
            log.warning('rate.abuse: no administrators configured to notify ([profile."rate.abuse"] notify)')
            return
        notice = suspension_notice(key, detail, now, sender, notify, self.hostname)
        try:
            await self.transport.send(sender, notify, notice)
        except UpstreamError as error:
            log.error("rate.abuse notice about %s not sent: %s", key, error)


def suspension_notice(key: str, detail: str, now: datetime, sender: str, to: tuple[str, ...],
                      hostname: str) -> bytes:  # fmt: skip
    """The mail that tells the administrators; es-MX first, then English."""
    notice = EmailMessage()
    notice["From"] = sender
    notice["To"] = ", ".join(to)
    notice["Subject"] = f"compuerta: cuenta suspendida por tráfico excesivo / sender suspended: {key}"
    notice["Date"] = email.utils.format_datetime(now)
    notice["Message-ID"] = email.utils.make_msgid("abuse", domain=hostname)
    notice["Auto-Submitted"] = "auto-generated"  # RFC 3834: no automatic replies to this
    notice.set_content(
        f"La cuenta {key} fue suspendida automáticamente por la regla rate.abuse (lineamiento "
        f"001 IV: las cuentas que generen tráfico excesivo serán deshabilitadas).\n"
        f"Motivo: {detail}\nFecha: {now.isoformat()}\n\n"
        f"Para consultar su consumo: compuerta usage {key}\n"
        f"Para reactivarla: compuerta unblock {key}\n\n"
        f"--\nThe sender {key} was suspended automatically by rule rate.abuse (it kept hitting "
        f"the rate limits). See `compuerta usage {key}`; lift it with `compuerta unblock {key}`.\n"
    )
    return notice.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
