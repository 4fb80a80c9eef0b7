"""Schema migrations for every backend, in one place: one entry per version, never edited.

Trusts nothing; data only. A new migration is appended at the end with its SQLite and its
PostgreSQL statements side by side, so that both backends always have the same tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway.store.database import Database

log = logging.getLogger(__name__)
_LOCK = 7254819  # the advisory lock key of schema migrations on PostgreSQL


@dataclass(frozen=True)
class Migration:
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


_DIRECTORY_AND_USAGE = (
    "CREATE TABLE dependencies (code TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '')",
    """CREATE TABLE accounts (
        address TEXT PRIMARY KEY, dependency TEXT NOT NULL DEFAULT '', state TEXT NOT NULL,
        expires TEXT, internet INTEGER NOT NULL DEFAULT 1, mass_mailing INTEGER NOT NULL DEFAULT 0,
        name TEXT NOT NULL DEFAULT '', send_as TEXT NOT NULL DEFAULT '')""",
    """CREATE TABLE lists (
        address TEXT PRIMARY KEY, all_staff INTEGER NOT NULL DEFAULT 0, dependency TEXT NOT NULL DEFAULT '')""",
    "CREATE TABLE list_members (list TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (list, member))",
    """CREATE TABLE peers (
        domain TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', administrators TEXT NOT NULL)""",
    # 000 norm 22: a retired address is never given to a new account
    "CREATE TABLE retired (address TEXT PRIMARY KEY, retired_at TEXT NOT NULL)",
    # 003 8.3: last outbound activity per account, for the inactive-accounts report
    "CREATE TABLE activity (address TEXT PRIMARY KEY, last_at TEXT NOT NULL)",
    "CREATE TABLE directory_version (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)",
    "INSERT INTO directory_version (id, version) VALUES (1, 0)",
    # 001 VI rate windows: one row per accepted message; rate_senders is the per-sender lock
    "CREATE TABLE rate_senders (sender TEXT PRIMARY KEY, touched TEXT NOT NULL)",
    "CREATE TABLE suspensions (sender TEXT PRIMARY KEY, since TEXT NOT NULL, detail TEXT NOT NULL)",
)

# usage_minutes holds, per sender and minute (the first 16 characters of a stamp), the totals of
# usage_events; triggers keep them equal whoever inserts or deletes an event (consume, refund,
# the sweep), so no code path can forget them.
_BACKFILL_MINUTES = (
    "INSERT INTO usage_minutes (sender, minute, messages, recipients)"
    " SELECT sender, substr(at, 1, 16), count(*), sum(recipients) FROM usage_events GROUP BY sender, substr(at, 1, 16)"
)
_ADD_MINUTE = (
    "INSERT INTO usage_minutes (sender, minute, messages, recipients)"
    " VALUES (NEW.sender, substr(NEW.at, 1, 16), 1, NEW.recipients) ON CONFLICT (sender, minute)"
    " DO UPDATE SET messages = usage_minutes.messages + 1,"
    " recipients = usage_minutes.recipients + excluded.recipients"
)
_REMOVE_MINUTE = (
    "UPDATE usage_minutes SET messages = messages - 1, recipients = recipients - OLD.recipients"
    " WHERE sender = OLD.sender AND minute = substr(OLD.at, 1, 16)"
)
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        sqlite=(
            # Append-only: no UPDATE or DELETE ever runs on it (style rule 20)
            """CREATE TABLE decisions (
                id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL, at TEXT NOT NULL,
                stage TEXT NOT NULL, sender TEXT NOT NULL, recipients INTEGER NOT NULL,
                size INTEGER NOT NULL, rules TEXT NOT NULL, action TEXT NOT NULL,
                ticket TEXT NOT NULL DEFAULT '')""",
            "CREATE INDEX decisions_at ON decisions (at)",
            """CREATE TABLE held (
                id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL, created_at TEXT NOT NULL,
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
    Migration(  # issue 4: moderation of held masivos, audit chain, web users and sessions
        sqlite=(
            "ALTER TABLE held ADD COLUMN dependency TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE held ADD COLUMN required_roles TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE held ADD COLUMN classes TEXT NOT NULL DEFAULT '{}'",
            "ALTER TABLE held ADD COLUMN assignee TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE held ADD COLUMN expires_at TEXT",
            "ALTER TABLE held ADD COLUMN decided_at TEXT",
            "ALTER TABLE held ADD COLUMN outcome_reason TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE held ADD COLUMN reminded INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE held ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0",
            "CREATE INDEX held_state_deadline ON held (state, deadline)",
            "CREATE INDEX held_sender ON held (sender, state)",
            "CREATE INDEX held_dependency ON held (dependency, state)",
            """CREATE TABLE approvals (
                id INTEGER PRIMARY KEY AUTOINCREMENT, held_id BIGINT NOT NULL, role TEXT NOT NULL, username TEXT NOT NULL,
                decision TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', at TEXT NOT NULL,
                UNIQUE (held_id, role))""",
            # Append-only and hash-chained: each row's hash covers the previous row's hash
            """CREATE TABLE audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
                action TEXT NOT NULL, ticket TEXT NOT NULL, reason TEXT NOT NULL,
                digest TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)""",
            """CREATE TABLE users (
                username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, roles TEXT NOT NULL,
                email TEXT NOT NULL DEFAULT '', active INTEGER NOT NULL DEFAULT 1,
                api_token_hash TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL)""",
            "CREATE INDEX users_api_token ON users (api_token_hash)",
            """CREATE TABLE sessions (
                token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, csrf TEXT NOT NULL,
                expires_at TEXT NOT NULL)""",
        ),
        postgres=(
            "ALTER TABLE held ADD COLUMN dependency TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE held ADD COLUMN required_roles TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE held ADD COLUMN classes TEXT NOT NULL DEFAULT '{}'",
            "ALTER TABLE held ADD COLUMN assignee TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE held ADD COLUMN expires_at TEXT",
            "ALTER TABLE held ADD COLUMN decided_at TEXT",
            "ALTER TABLE held ADD COLUMN outcome_reason TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE held ADD COLUMN reminded INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE held ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0",
            "CREATE INDEX held_state_deadline ON held (state, deadline)",
            "CREATE INDEX held_sender ON held (sender, state)",
            "CREATE INDEX held_dependency ON held (dependency, state)",
            """CREATE TABLE approvals (
                id BIGSERIAL PRIMARY KEY, held_id BIGINT NOT NULL, role TEXT NOT NULL, username TEXT NOT NULL,
                decision TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', at TEXT NOT NULL,
                UNIQUE (held_id, role))""",
            # Append-only and hash-chained: each row's hash covers the previous row's hash
            """CREATE TABLE audit (
                id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
                action TEXT NOT NULL, ticket TEXT NOT NULL, reason TEXT NOT NULL,
                digest TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)""",
            """CREATE TABLE users (
                username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, roles TEXT NOT NULL,
                email TEXT NOT NULL DEFAULT '', active INTEGER NOT NULL DEFAULT 1,
                api_token_hash TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL)""",
            "CREATE INDEX users_api_token ON users (api_token_hash)",
            """CREATE TABLE sessions (
                token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, csrf TEXT NOT NULL,
                expires_at TEXT NOT NULL)""",
        ),
    ),
    Migration(
        # The outbox of released masivos (issue 5): one row per SMTP transaction, one per recipient.
        # A job is claimed with a lease (owner, lease_until) so that one worker of one node at a
        # time sends it; an expired lease lets another take it over.
        sqlite=(
            """CREATE TABLE releases (
                held_id INTEGER PRIMARY KEY REFERENCES held (id), approved_by TEXT NOT NULL,
                approved_at TEXT NOT NULL, created_at TEXT NOT NULL)""",
            """CREATE TABLE deliveries (
                id INTEGER PRIMARY KEY AUTOINCREMENT, held_id INTEGER NOT NULL REFERENCES held (id),
                batch INTEGER NOT NULL, kind TEXT NOT NULL, domain TEXT NOT NULL,
                mail_from TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt TEXT NOT NULL, owner TEXT, lease_until TEXT,
                last_reply TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, token TEXT UNIQUE,
                sent_at TEXT, confirmed_at TEXT, reminded_at TEXT,
                reminders INTEGER NOT NULL DEFAULT 0, UNIQUE (held_id, batch))""",
            "CREATE INDEX deliveries_due ON deliveries (state, next_attempt)",
            """CREATE TABLE delivery_recipients (
                delivery_id INTEGER NOT NULL REFERENCES deliveries (id), rcpt TEXT NOT NULL,
                state TEXT NOT NULL, code INTEGER, reply TEXT NOT NULL DEFAULT '', at TEXT,
                PRIMARY KEY (delivery_id, rcpt))""",
        ),
        postgres=(
            """CREATE TABLE releases (
                held_id BIGINT PRIMARY KEY REFERENCES held (id), approved_by TEXT NOT NULL,
                approved_at TEXT NOT NULL, created_at TEXT NOT NULL)""",
            """CREATE TABLE deliveries (
                id BIGSERIAL PRIMARY KEY, held_id BIGINT NOT NULL REFERENCES held (id),
                batch INTEGER NOT NULL, kind TEXT NOT NULL, domain TEXT NOT NULL,
                mail_from TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt TEXT NOT NULL, owner TEXT, lease_until TEXT,
                last_reply TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, token TEXT UNIQUE,
                sent_at TEXT, confirmed_at TEXT, reminded_at TEXT,
                reminders INTEGER NOT NULL DEFAULT 0, UNIQUE (held_id, batch))""",
            "CREATE INDEX deliveries_due ON deliveries (state, next_attempt)",
            """CREATE TABLE delivery_recipients (
                delivery_id BIGINT NOT NULL REFERENCES deliveries (id), rcpt TEXT NOT NULL,
                state TEXT NOT NULL, code INTEGER, reply TEXT NOT NULL DEFAULT '', at TEXT,
                PRIMARY KEY (delivery_id, rcpt))""",
        ),
    ),
    Migration(  # issue 4: the sender's notice is retried until upstream took it
        sqlite=("ALTER TABLE held ADD COLUMN notified INTEGER NOT NULL DEFAULT 0",),
        postgres=("ALTER TABLE held ADD COLUMN notified INTEGER NOT NULL DEFAULT 0",),
    ),
    Migration(  # the directory (issue 3), rate counters and suspensions
        sqlite=(
            *_DIRECTORY_AND_USAGE,
            """CREATE TABLE usage_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL, at TEXT NOT NULL,
                recipients INTEGER NOT NULL)""",
            "CREATE INDEX usage_events_sender ON usage_events (sender, at)",
            """CREATE TABLE rate_hits (
                id INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL, at TEXT NOT NULL, rule TEXT NOT NULL)""",
            "CREATE INDEX rate_hits_sender ON rate_hits (sender, at)",
        ),
        postgres=(
            *_DIRECTORY_AND_USAGE,
            """CREATE TABLE usage_events (
                id BIGSERIAL PRIMARY KEY, sender TEXT NOT NULL, at TEXT NOT NULL, recipients INTEGER NOT NULL)""",
            "CREATE INDEX usage_events_sender ON usage_events (sender, at)",
            """CREATE TABLE rate_hits (
                id BIGSERIAL PRIMARY KEY, sender TEXT NOT NULL, at TEXT NOT NULL, rule TEXT NOT NULL)""",
            "CREATE INDEX rate_hits_sender ON rate_hits (sender, at)",
        ),
    ),
    Migration(  # issue 8: per-minute totals, so a day's window reads at most 1,440 rows
        sqlite=(
            """CREATE TABLE usage_minutes (
                sender TEXT NOT NULL, minute TEXT NOT NULL, messages INTEGER NOT NULL,
                recipients INTEGER NOT NULL, PRIMARY KEY (sender, minute)) WITHOUT ROWID""",
            _BACKFILL_MINUTES,
            f"CREATE TRIGGER usage_minutes_add AFTER INSERT ON usage_events BEGIN {_ADD_MINUTE}; END",
            f"CREATE TRIGGER usage_minutes_remove AFTER DELETE ON usage_events BEGIN {_REMOVE_MINUTE}; END",
        ),
        postgres=(
            """CREATE TABLE usage_minutes (
                sender TEXT NOT NULL, minute TEXT NOT NULL, messages INTEGER NOT NULL,
                recipients INTEGER NOT NULL, PRIMARY KEY (sender, minute))""",
            _BACKFILL_MINUTES,
            f"""CREATE FUNCTION usage_minutes_add() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN {_ADD_MINUTE}; RETURN NULL; END $$""",
            f"""CREATE FUNCTION usage_minutes_remove() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN {_REMOVE_MINUTE}; RETURN NULL; END $$""",
            (
                "CREATE TRIGGER usage_minutes_add AFTER INSERT ON usage_events"
                " FOR EACH ROW EXECUTE FUNCTION usage_minutes_add()"
            ),
            (
                "CREATE TRIGGER usage_minutes_remove AFTER DELETE ON usage_events"
                " FOR EACH ROW EXECUTE FUNCTION usage_minutes_remove()"
            ),
        ),
    ),
)


async def migrate(db: Database) -> int:
    """Bring ``db`` to the latest version; returns the version it is at.

    Several nodes may start at once: on PostgreSQL each step takes an advisory lock and
    re-reads the version inside its transaction, so a migration runs exactly once.
    """
    async with db.transaction() as tx:
        if db.dialect == "postgres":
            # CREATE TABLE IF NOT EXISTS is not safe against a concurrent one on PostgreSQL
            await tx.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
        await tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    current = 0
    for version, migration in enumerate(MIGRATIONS, 1):
        async with db.transaction() as tx:
            if db.dialect == "postgres":
                await tx.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
            row = await tx.fetchone("SELECT max(version) FROM schema_version")
            current = int(str(row[0])) if row and row[0] is not None else 0
            if version <= current:
                continue
            for statement in migration.sqlite if db.dialect == "sqlite" else migration.postgres:
                await tx.execute(statement)
            await tx.execute("INSERT INTO schema_version VALUES (?)", version)
        log.info("store migrated to schema version %d", version)
        current = version
    return current
