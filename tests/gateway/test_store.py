"""The store over a real SQLite file: holds commit, the decision log batches and never changes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gateway.model import Action, DecisionRecord, Envelope, HeldMessage, Verdict
from gateway.store import open_store

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def test_hold_round_trip_survives_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = await open_store(url)
    held = HeldMessage(
        "ABC", Envelope("ana@gto.gob.mx", ("a@gto.gob.mx", "b@x.mx")), b"Subject: x\r\n\r\nhola\r\n",
        (Verdict(Action.HOLD, "masivo", "600 recipients"),), AT, subject="x",
    )  # fmt: skip
    stored = await store.hold(held)
    assert stored.ticket == "C-000001" and len(stored.status_token) >= 32
    await store.close()
    reopened = await open_store(url)  # migrations are idempotent
    assert await reopened.held("C-000001") == stored
    assert await reopened.held("C-999999") is None
    assert await reopened.held("nonsense") is None
    await reopened.close()


async def test_decisions_written_in_batches(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 's.db'}", batch=10)
    for n in range(25):
        await store.record_decision(DecisionRecord(f"M{n}", "ana@gto.gob.mx", 1, 100, (), Action.ACCEPT, AT))
    rows = await store.db.fetchall("SELECT count(*) FROM decisions")
    assert rows == [(20,)]  # two full batches written, five waiting for the group commit
    assert len(await store.decisions(limit=100)) == 25
    await store.close()


def test_decision_log_is_append_only() -> None:
    # Style rule 20: no UPDATE or DELETE ever runs on the decision log.
    source = "\n".join(p.read_text() for p in Path("gateway").rglob("*.py"))
    assert "UPDATE decisions" not in source.replace("\n", " ")
    assert "DELETE FROM decisions" not in source.replace("\n", " ")
