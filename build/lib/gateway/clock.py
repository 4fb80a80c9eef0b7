"""The real clock, behind the model's Clock protocol so that tests can pass a fixed one."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
