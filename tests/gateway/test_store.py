"""The store on both backends (a real SQLite file, a real PostgreSQL server): holds commit,
the decision log batches and is never changed, migrations run once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from gateway.model import Action, DecisionRecord, Envelope, HeldMessage, Verdict
from gateway.store import open_store
from gateway.store.schema import MIGRATIONS

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def held_message(raw: bytes = b"Subject: x\r\n\r\nhola\r\n") -> HeldMessage:
    return HeldMessage(
        "ABC", Envelope("ana@gto.gob.mx", ("a@gto.gob.mx", "b@x.mx")), raw,
        (Verdict(Action.HOLD, "masivo", "600 recipients"),), AT, subject="x",
    )  # fmt: skip


async def test_hold_round_trip_survives_reopen(store_url: str) -> None:
    store = await open_store(store_url)
    stored = await store.hold(held_message(bytes(range(256)) * 4))
    assert stored.ticket == "C-000001" and len(stored.status_token) >= 32
    await store.close()
    reopened = await open_store(store_url)  # migrations are idempotent
    assert await reopened.held("C-000001") == stored
    assert await reopened.held("C-999999") is None
    assert await reopened.held("nonsense") is None
    await reopened.close()


async def test_concurrent_holds_get_distinct_tickets(store_url: str) -> None:
    store = await open_store(store_url)
    stored = await asyncio.gather(*(store.hold(held_message()) for _ in range(20)))
    assert len({h.ticket for h in stored}) == 20
    await store.close()


async def test_decisions_written_in_batches(store_url: str) -> None:
    store = await open_store(store_url, batch=10)
    for n in range(25):
        await store.record_decision(DecisionRecord(f"M{n}", "ana@gto.gob.mx", 1, 100, (), Action.ACCEPT, AT))
    rows = await store.db.fetchall("SELECT count(*) FROM decisions")
    assert rows == [(20,)]  # two full batches written, five waiting for the group commit
    assert len(await store.decisions(limit=100)) == 25
    await store.close()


async def test_nodes_starting_together_migrate_once(store_url: str) -> None:
    stores = await asyncio.gather(*(open_store(store_url) for _ in range(3)))
    rows = await stores[0].db.fetchall("SELECT version FROM schema_version ORDER BY version")
    assert rows == [(v,) for v in range(1, len(MIGRATIONS) + 1)]
    for store in stores:
        await store.close()


def test_decision_log_is_append_only() -> None:
    # Style rule 20: no UPDATE or DELETE ever runs on the decision log.
    source = " ".join(p.read_text() for p in Path("gateway").rglob("*.py")).replace("\n", " ")
    assert "UPDATE decisions" not in source
    assert "DELETE FROM decisions" not in source


async def test_users_and_sessions_are_shared_state(store_url: str) -> None:
    # Several nodes share web users and sessions: a login made on one node is valid on another.
    from datetime import timedelta

    from gateway.model import User

    first, second = await open_store(store_url), await open_store(store_url)
    await first.add_user(User("dgtit1", ("dgtit",), "dgtit1@gto.gob.mx", True, "argon2-hash"), AT)
    await first.open_session("token-hash", "dgtit1", "csrf-value", AT + timedelta(hours=8))
    found = await second.session("token-hash", AT + timedelta(hours=1))
    assert found is not None and found[0].username == "dgtit1" and found[1] == "csrf-value"
    assert await second.session("token-hash", AT + timedelta(hours=9)) is None  # expired
    await second.close_session("token-hash")
    assert await first.session("token-hash", AT + timedelta(hours=1)) is None
    await first.close()
    await second.close()


async def test_audit_chain_is_one_chain_across_nodes(store_url: str) -> None:
    from gateway.store.audit import AuditEntry

    stores = [await open_store(store_url) for _ in range(2)]
    await asyncio.gather(*(
        stores[n % 2].audit_event(AuditEntry(AT, f"u{n}", "dgtit", "login", "")) for n in range(20)
    ))  # fmt: skip
    assert await stores[0].audit_verify() == (20, None)
    for store in stores:
        await store.close()
