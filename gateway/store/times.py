"""Timestamps as the store keeps them: UTC, fixed-width ISO 8601 TEXT, so that they sort as text.

Both backends compare these strings in SQL (rate windows, inactivity), so every timestamp the
store writes or compares goes through ``stamp``.
"""

from __future__ import annotations

from datetime import UTC, datetime


def stamp(moment: datetime) -> str:
    """``moment`` as "2026-11-23T10:00:00.000000Z" (always with microseconds)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # isoformat is several times faster than strftime, and this runs a few times per message
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)  # Python 3.11 reads the "Z" suffix
