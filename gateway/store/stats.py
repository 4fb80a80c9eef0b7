"""Read-only figures about what the store holds, for the metrics gauges (gateway.gauges).

Trusts the Executor it is given; runs only SELECTs, each one index-backed (held_state), so a
scrape costs a few milliseconds whatever the size of the tables.
"""

from __future__ import annotations

from datetime import datetime

from gateway.store.database import Executor


async def held_counts(db: Executor) -> dict[str, int]:
    """How many held messages are in each state."""
    rows = await db.fetchall("SELECT state, COUNT(*) FROM held GROUP BY state")
    return {str(state): int(str(count)) for state, count in rows}


async def oldest_held(db: Executor) -> datetime | None:
    """When the oldest message still waiting for approval was held."""
    row = await db.fetchone("SELECT MIN(created_at) FROM held WHERE state = ?", "held")
    return datetime.fromisoformat(str(row[0])) if row and row[0] is not None else None


async def delivery_counts(db: Executor) -> dict[str, int]:
    """How many outbox delivery jobs are pending and done (index deliveries_due)."""
    rows = await db.fetchall("SELECT state, COUNT(*) FROM deliveries GROUP BY state")
    return {str(state): int(str(count)) for state, count in rows}
