"""The store interface: what the gateway keeps, whatever the database.

Trusts its callers' dataclasses; callers never see SQL. ``open_store(url)`` picks the backend
(SQLite now, PostgreSQL for several nodes). Each method is named for the event it records.
"""

from __future__ import annotations

from typing import Protocol

from gateway.model import DecisionRecord, HeldMessage


class StoreError(Exception):
    """The store could not do what was asked; the caller tempfails."""


class Store(Protocol):
    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def record_decision(self, record: DecisionRecord) -> None:
        """Queue a decision-log row; rows are written in batches (group commit)."""

    async def flush(self) -> None:
        """Write every queued decision-log row now."""

    async def hold(self, held: HeldMessage) -> HeldMessage:
        """Commit ``held`` durably; returns it with its ticket and status token set."""
        ...

    async def held(self, ticket: str) -> HeldMessage | None: ...

    async def decisions(self, limit: int = 100) -> list[DecisionRecord]: ...


async def open_store(url: str, batch: int = 64) -> Store:
    """Open (and migrate) the store at ``url``."""
    if url.startswith("sqlite:///"):
        from gateway.store.sqlite import SQLiteStore

        return await SQLiteStore.open(url.removeprefix("sqlite:///"), batch)
    raise StoreError(f"unsupported store url {url!r}")
