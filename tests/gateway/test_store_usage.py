"""The rate counters over real SQLite files: exact under concurrency, windows that slide."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from gateway.model import Account, Charge, Usage, Windows
from gateway.store import Change, DirectoryData, open_store
from gateway.store.usage import Over

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def charge(recipients: int = 1, key: str = "ana@gto.gob.mx") -> Charge:
    return Charge(key, key, recipients, max_messages=30, max_recipients=10_000)


async def test_two_connections_consume_exactly_the_limit(store_url: str) -> None:
    # Two stores on one file stand for two gateway processes (the SQL is the PostgreSQL one too)
    first, second = await open_store(store_url), await open_store(store_url)
    results = await asyncio.gather(
        *(
            store.consume(charge(), T0 + timedelta(milliseconds=n))
            for n in range(20)
            for store in (first, second)
        )
    )
    accepted = [r for r in results if r.over is None]
    assert len(accepted) == 30
    assert {r.over for r in results if r.over is not None} == {Over.MESSAGES}
    assert (await first.usage("ana@gto.gob.mx", T0 + timedelta(seconds=1))).messages_last_minute == 30
    await first.close()
    await second.close()


async def test_minute_window_slides(store_url: str) -> None:
    store = await open_store(store_url)
    for n in range(30):
        assert (await store.consume(charge(), T0 + timedelta(seconds=n))).over is None
    assert (await store.consume(charge(), T0 + timedelta(seconds=59))).over == Over.MESSAGES
    # The first message (T0) leaves the window after 60 s; the second (T0+1 s) one second later
    assert (await store.consume(charge(), T0 + timedelta(seconds=60, microseconds=1))).over is None
    assert (await store.consume(charge(), T0 + timedelta(seconds=60, microseconds=2))).over == Over.MESSAGES
    await store.close()


async def test_recipients_roll_over_24_hours(store_url: str) -> None:
    store = await open_store(store_url)
    await store.consume(charge(9_000), T0)
    await store.consume(charge(1_000), T0 + timedelta(hours=1))
    refused = await store.consume(charge(1), T0 + timedelta(hours=2))
    assert refused.over == Over.RECIPIENTS and refused.usage.recipients_last_day == 10_000
    assert (await store.consume(charge(9_000), T0 + timedelta(hours=24, seconds=1))).over is None
    usage = await store.usage("ana@gto.gob.mx", T0 + timedelta(hours=24, seconds=2))
    assert usage == Usage(1, 10_000, 0, False)
    await store.close()


async def test_day_window_is_exact_at_every_second_of_the_minute_it_starts_in(store_url: str) -> None:
    # The day's sum reads per-minute totals, except for the minute the window starts in
    store = await open_store(store_url)
    spots = {10: 3, 30: 5, 50: 7, 120: 11, 3600: 13}  # seconds after T0 -> recipients
    events = {s: await store.consume(charge(n), T0 + timedelta(seconds=s)) for s, n in spots.items()}
    await store.refund(events[3600].event)  # refunded: never counted again
    del spots[3600]
    for second in range(0, 181, 5):
        now = T0 + timedelta(days=1, seconds=second)
        expected = sum(n for s, n in spots.items() if s > second)
        assert (await store.usage("ana@gto.gob.mx", now)).recipients_last_day == expected, second
    await store.close()


async def test_sweeping_old_events_keeps_the_day_window_exact(store_url: str) -> None:
    store = await open_store(store_url)
    await store.consume(charge(3), T0 + timedelta(seconds=10))
    await store.consume(charge(7), T0 + timedelta(seconds=50))
    later = T0 + timedelta(days=1, seconds=30)  # the first is out of the window, the second in
    bulk = Charge("ana@gto.gob.mx", "ana@gto.gob.mx", 1, max_messages=0, max_recipients=10_000)
    for n in range(70):  # enough consumes that one of them sweeps (one in 64)
        assert (await store.consume(bulk, later + timedelta(milliseconds=n))).over is None
    usage = await store.usage("ana@gto.gob.mx", later + timedelta(seconds=1))
    assert usage.recipients_last_day == 7 + 70
    assert (await store.usage("ana@gto.gob.mx", later + timedelta(seconds=21))).recipients_last_day == 70
    await store.close()


async def test_snapshot_counts_only_the_windows_asked_for(store_url: str) -> None:
    # gateway.pipeline asks only for what the sender's rate rules read (a limit of 0 reads nothing)
    store = await open_store(store_url)
    for n in range(3):
        await store.consume(charge(2), T0 + timedelta(seconds=n))
    await store.limit_hit("ana@gto.gob.mx", "rate.messages", T0)
    await store.suspend("ana@gto.gob.mx", "10 hits", T0)
    now = T0 + timedelta(seconds=5)
    assert await store.usage("ana@gto.gob.mx", now) == Usage(3, 6, 1, True)
    assert await store.usage("ana@gto.gob.mx", now, Windows(True, False, True, False)) == Usage(
        3, 0, 1, False
    )
    assert await store.usage("ana@gto.gob.mx", now, Windows(False, True, False, True)) == Usage(0, 6, 0, True)
    assert await store.usage("ana@gto.gob.mx", now, Windows(False, False, False, False)) == Usage()
    await store.close()


async def test_forced_consume_and_refund(store_url: str) -> None:
    store = await open_store(store_url)
    await store.consume(charge(10_000), T0)
    released = await store.consume(charge(600), T0, force=True)  # an approved masivo
    assert released.over is None
    assert (await store.usage("ana@gto.gob.mx", T0)).recipients_last_day == 10_600
    await store.refund(released.event)
    assert (await store.usage("ana@gto.gob.mx", T0)).recipients_last_day == 10_000
    await store.close()


async def test_suspension_and_unblock_recorded(store_url: str) -> None:
    store = await open_store(store_url)
    for n in range(3):
        await store.limit_hit("ana@gto.gob.mx", "rate.messages", T0 + timedelta(minutes=n))
    assert (await store.usage("ana@gto.gob.mx", T0 + timedelta(minutes=3))).limit_hits_last_hour == 3
    assert (
        await store.usage("ana@gto.gob.mx", T0 + timedelta(minutes=60, seconds=30))
    ).limit_hits_last_hour == 2
    assert await store.suspend("ana@gto.gob.mx", "10 hits", T0) is True
    assert await store.suspend("ana@gto.gob.mx", "10 hits", T0) is False  # told once
    assert (await store.usage("ana@gto.gob.mx", T0)).suspended
    assert await store.unblock("ana@gto.gob.mx", Change("root", "rate.unblock", "ana@gto.gob.mx"), T0) is True
    assert await store.usage("ana@gto.gob.mx", T0) == Usage()
    log = [(e.actor, e.action, e.ticket) for e in await store.audit_entries()]
    assert log == [
        ("compuerta", "rate.suspend", "ana@gto.gob.mx"),
        ("root", "rate.unblock", "ana@gto.gob.mx"),
    ]
    assert await store.audit_verify() == (2, None)
    await store.close()


async def test_consume_refuses_a_suspended_sender(store_url: str) -> None:
    # The snapshot the checks read at MAIL may predate a suspension; consume is the last word
    store = await open_store(store_url)
    await store.suspend("ana@gto.gob.mx", "10 hits", T0)
    watched = Charge("ana@gto.gob.mx", "ana@gto.gob.mx", 1, 30, 10_000, refuse_suspended=True)
    refused = await store.consume(watched, T0)
    assert refused.over == Over.SUSPENDED and refused.event == 0 and refused.usage.suspended
    assert (await store.consume(charge(), T0)).over is None  # rate.abuse off: not its business
    assert (await store.consume(watched, T0, force=True)).over is None  # released by approvers
    assert (await store.usage("ana@gto.gob.mx", T0)).messages_last_minute == 2
    await store.close()


async def test_relayed_mail_marks_activity_once_a_quarter_hour(store_url: str) -> None:
    store = await open_store(store_url)
    await store.write_directory(DirectoryData((Account("ana@gto.gob.mx"),)), Change("root", "t", "t"), T0)
    for minutes in (0, 5, 20):
        await store.consume(charge(), T0 + timedelta(minutes=minutes))
    found = await store.inactive(T0 + timedelta(days=1))
    # 003 8.3 counts in days: the mark at 0 min stands for 5 min, the one at 20 min is new
    assert [(i.address, i.last_activity) for i in found] == [("ana@gto.gob.mx", T0 + timedelta(minutes=20))]
    await store.close()
