"""Release an approved held message: the one place where approval turns into delivery.

Trusts gateway.moderation to call ``plan`` inside the transaction that approved the message
and ``deliver`` after it committed. ``plan`` writes the outbox's delivery jobs (gateway.delivery:
home-domain batches and one copy per peer domain's administrators) in that same transaction, so
an approval and its deliveries commit together or not at all, and a second approval finds the
message released already. ``deliver`` nudges the delivery worker and says whether every job has
finished; until then the message stays "approved" and the moderation sweep asks again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from gateway import delivery
from gateway.model import HeldMessage, Release
from gateway.store.database import Executor

if TYPE_CHECKING:
    from gateway.outcome import Services

log = logging.getLogger(__name__)


async def plan(tx: Executor, services: Services, held: HeldMessage, now: datetime) -> None:
    """Inside the approving transaction: write the delivery jobs of ``held``."""
    await delivery.release(services.store, services.env, held, approval(held, now), tx)


async def deliver(services: Services, held: HeldMessage) -> bool:
    """After commit: wake the worker; True once every delivery job of ``held`` has finished."""
    progress = await services.store.progress(held.ticket)
    if progress is None:
        # Approved without jobs (by a version before the outbox): write them now, once.
        await delivery.release(services.store, services.env, held, approval(held, services.env.clock.now()))
        progress = await services.store.progress(held.ticket)
    if services.worker is not None:
        services.worker.wake()
    return progress is not None and progress.done


def approval(held: HeldMessage, now: datetime) -> Release:
    """Who approved ``held`` and when, as the cover note for peer administrators tells it."""
    names = tuple(f"{a.username} ({a.role})" for a in held.approvals if a.decision == "approve")
    return Release(held.ticket, names, now)
