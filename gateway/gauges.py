"""Refresh the gauges that mirror the store (held queue depth by state, ...) when /metrics is scraped.

Trusts the Store; a store that fails or is slow is counted (compuerta_store_errors_total
{op="metrics"}) and the gauges keep their last values, so a scrape never fails because of the
store. Another area whose gauge mirrors the store adds one function to REFRESHERS.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from gateway import metrics
from gateway.store import Store, StoreError

log = logging.getLogger(__name__)

# DESIGN.md "Approval and fan-out": every state a held message can be in, so that a state that
# empties is exported as 0 rather than disappearing from the scrape.
HELD_STATES = ("held", "approved", "delivering", "delivered", "rejected", "expired")
TIMEOUT = 2.0  # seconds; Prometheus's default scrape_timeout is 10 s


async def _held(store: Store, now: datetime) -> None:
    counts = await store.held_counts()
    for state in {*HELD_STATES, *counts}:
        metrics.HELD.labels(state=state).set(counts.get(state, 0))
    oldest = await store.oldest_held()
    metrics.HELD_OLDEST.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)


async def _deliveries(store: Store, now: datetime) -> None:
    counts = await store.delivery_counts()
    for state in {"pending", "done", *counts}:
        metrics.FANOUT_JOBS.labels(state=state).set(counts.get(state, 0))


REFRESHERS: tuple[Callable[[Store, datetime], Awaitable[None]], ...] = (_held, _deliveries)


async def refresh(store: Store, now: datetime) -> None:
    """Run every refresher, each bounded by TIMEOUT; failures are counted, never raised."""
    for refresher in REFRESHERS:
        try:
            async with asyncio.timeout(TIMEOUT):
                await refresher(store, now)
        except (StoreError, TimeoutError) as error:
            log.warning("metrics: %s failed: %s", refresher.__name__, error or "timeout")
            metrics.STORE_ERRORS.labels(op="metrics").inc()
