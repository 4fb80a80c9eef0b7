"""Release an approved held message: the one place where approval turns into delivery.

Trusts gateway.moderation to call ``plan`` inside the transaction that approved the message
and ``deliver`` after it committed. Until the fan-out outbox lands (issue 5), ``plan`` writes
nothing and ``deliver`` relays the message upstream unchanged to its envelope recipients;
fan-out replaces ``plan`` with outbox jobs written in the approving transaction and turns
``deliver`` into a nudge of its worker. A crash between commit and delivery leaves the message
"approved", and ``pending`` finds it again (the sweep in gateway.moderation retries it).
"""

from __future__ import annotations

import logging

from gateway.model import HeldMessage
from gateway.store.database import Executor
from relay.transport import Transport, UpstreamError

log = logging.getLogger(__name__)


async def plan(tx: Executor, held: HeldMessage) -> None:
    """Inside the approving transaction: record what is to be delivered (nothing yet)."""
    del tx, held  # fan-out (issue 5) writes its outbox jobs here


async def deliver(transport: Transport, held: HeldMessage) -> bool:
    """After commit: hand the message upstream; True once upstream accepted it."""
    try:
        result = await transport.send(held.envelope.mail_from, held.envelope.rcpt_tos, held.raw)
    except (UpstreamError, OSError) as error:
        log.warning("%s release not accepted upstream, will retry: %s", held.ticket, error)
        return False
    if result.refused:
        log.warning("%s release: %d recipient(s) refused upstream", held.ticket, len(result.refused))
    return True
