"""Schema migrations for every backend, in one place: one entry per version, never edited.

Trusts nothing; data only. A new migration is appended at the end with its SQLite and its
PostgreSQL statements side by side, so that both backends always have the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        sqlite=(
            # Append-only: no UPDATE or DELETE ever runs on it (style rule 20)
            """CREATE TABLE decisions (
                id INTEGER PRIMARY KEY, message_id TEXT NOT NULL, at TEXT NOT NULL,
                stage TEXT NOT NULL, sender TEXT NOT NULL, recipients INTEGER NOT NULL,
                size INTEGER NOT NULL, rules TEXT NOT NULL, action TEXT NOT NULL,
                ticket TEXT NOT NULL DEFAULT '')""",
            "CREATE INDEX decisions_at ON decisions (at)",
            """CREATE TABLE held (
                id INTEGER PRIMARY KEY, message_id TEXT NOT NULL, created_at TEXT NOT NULL,
                sender TEXT NOT NULL, recipients TEXT NOT NULL, size INTEGER NOT NULL,
                subject TEXT NOT NULL DEFAULT '', reasons TEXT NOT NULL, deadline TEXT,
                status_token TEXT NOT NULL UNIQUE, state TEXT NOT NULL, raw BLOB NOT NULL)""",
            "CREATE INDEX held_state ON held (state, created_at)",
        ),
        postgres=(
            """CREATE TABLE decisions (
                id BIGSERIAL PRIMARY KEY, message_id TEXT NOT NULL, at TEXT NOT NULL,
                stage TEXT NOT NULL, sender TEXT NOT NULL, recipients INTEGER NOT NULL,
                size BIGINT NOT NULL, rules TEXT NOT NULL, action TEXT NOT NULL,
                ticket TEXT NOT NULL DEFAULT '')""",
            "CREATE INDEX decisions_at ON decisions (at)",
            """CREATE TABLE held (
                id BIGSERIAL PRIMARY KEY, message_id TEXT NOT NULL, created_at TEXT NOT NULL,
                sender TEXT NOT NULL, recipients TEXT NOT NULL, size BIGINT NOT NULL,
                subject TEXT NOT NULL DEFAULT '', reasons TEXT NOT NULL, deadline TEXT,
                status_token TEXT NOT NULL UNIQUE, state TEXT NOT NULL, raw BYTEA NOT NULL)""",
            "CREATE INDEX held_state ON held (state, created_at)",
        ),
    ),
)
