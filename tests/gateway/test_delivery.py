"""The outbox and its worker against a real upstream sink: once each, retries, failures, confirm links."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from gateway import web
from gateway.delivery import Worker, release, signer
from gateway.model import (
    Action,
    Delivery,
    DeliveryKind,
    Directory,
    Envelope,
    HeldMessage,
    PeerDomain,
    Release,
    Verdict,
)
from gateway.outcome import Services
from gateway.pipeline import Environment
from gateway.store import Store, open_store, outbox
from relay import dkim
from relay.transport import SMTPTransport
from tests.conftest import FixedClock, Sink, make_config, message

PEERS = {
    "isseg.gob.mx": PeerDomain("isseg.gob.mx", ("admin@isseg.gob.mx",), "ISSEG"),
    "cofoce.gob.mx": PeerDomain("cofoce.gob.mx", ("ti@cofoce.gob.mx", "jefe@cofoce.gob.mx"), "COFOCE"),
}


@dataclass
class Fanout:
    store: Store
    worker: Worker
    held: HeldMessage
    env: Environment
    clock: FixedClock
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


Factory = Callable[..., Awaitable[Fanout]]


@pytest.fixture
async def fanout(tmp_path: Path, sink: Sink, store_url: str) -> AsyncIterator[Factory]:
    """Releases and their workers, on SQLite and on PostgreSQL (the claim differs by dialect)."""
    made: list[Fanout] = []

    async def factory(
        rcpts: list[str], node: str = "n1", peers: bool = True, **outbox_settings: object
    ) -> Fanout:
        overrides: dict[str, object] = {
            "outbox": {"batch": 2, "connections": 2, "node": node, **outbox_settings}
        }
        if (tmp_path / "key").exists():
            overrides["dkim"] = {"gto.gob.mx": {"selector": "s1", "key_file": str(tmp_path / "key")}}
        config = make_config(tmp_path, sink.port, overrides)
        clock = FixedClock()
        store = await open_store(store_url)
        env = Environment(config, clock, Directory(peers=PEERS if peers else {}))
        held = HeldMessage("M1", Envelope("ana@gto.gob.mx", tuple(rcpts)), message("Vacunación"), MASIVO, clock.now(),
                           subject="Vacunación")  # fmt: skip
        if not made:
            held = await store.hold(held)
            assert await release(
                store, env, held, Release(held.ticket, ("Comunicación Social", "DGTIT"), clock.now())
            )
        else:
            held = made[0].held
        transport = SMTPTransport("127.0.0.1", sink.port, 2, 5.0)
        made.append(Fanout(store, Worker(store, transport, clock, config, signer(config)), held, env, clock,
                           [transport.close, store.close]))  # fmt: skip
        return made[-1]

    yield factory
    for one in made:
        for close in one.closers:
            await close()


def delivered(sink: Sink) -> Counter[str]:
    return Counter(r for received in sink.handler.received for r in received.rcpt_tos)


HOME = [f"p{n}@gto.gob.mx" for n in range(5)]
MASIVO = (Verdict(Action.HOLD, "masivo", "all-staff list"),)


async def test_release_delivers_each_home_recipient_once_and_one_copy_per_peer(
    fanout: Factory, sink: Sink, tmp_path: Path
) -> None:
    private, record = dkim.keygen(dkim.ED25519)
    (tmp_path / "key").write_bytes(private)
    run = await fanout([*HOME, "fan@gmail.com", "x@isseg.gob.mx"])
    assert await run.worker.drain() == 5  # three batches of two, two peer copies
    assert delivered(sink) == Counter({**dict.fromkeys(HOME, 1), "admin@isseg.gob.mx": 1,
                                       "ti@cofoce.gob.mx": 1, "jefe@cofoce.gob.mx": 1})  # fmt: skip
    assert all(len(r.rcpt_tos) <= 2 for r in sink.handler.received)
    for received in sink.handler.received:  # signed last, over the bytes sent
        assert dkim.verify(
            received.data, lambda name: record.encode() if name == "s1._domainkey.gto.gob.mx" else None
        )
    progress = await run.store.progress(run.held.ticket)
    assert progress is not None and progress.done and (progress.total, progress.delivered) == (8, 8)
    assert [(d.domain, d.status) for d in progress.domains] == [
        ("gto.gob.mx", "delivered"), ("cofoce.gob.mx", "sent"), ("isseg.gob.mx", "sent")
    ]  # fmt: skip
    assert await run.worker.drain() == 0


async def test_a_second_release_delivers_nothing_more(fanout: Factory, sink: Sink) -> None:
    run = await fanout(HOME, peers=False)
    again = Release(run.held.ticket, ("otra persona",), run.clock.now())
    assert not await release(run.store, run.env, run.held, again)
    await run.worker.drain()
    assert not await release(run.store, run.env, run.held, again)
    assert delivered(sink) == Counter(dict.fromkeys(HOME, 1))


async def test_4xx_is_retried_with_backoff_that_survives_a_restart(fanout: Factory, sink: Sink) -> None:
    run = await fanout(HOME[:2], peers=False)
    sink.handler.data_reply = "451 4.3.0 Intente más tarde"
    assert await run.worker.drain() == 1
    progress = await run.store.progress(run.held.ticket)
    assert progress is not None and progress.pending == 2
    assert progress.domains[0].last_reply == "451 4.3.0 Intente más tarde"
    run.clock.at += timedelta(seconds=59)
    assert await run.worker.drain() == 0  # first retry after 60 s
    run.clock.at += timedelta(seconds=1)
    assert await run.worker.drain() == 1  # second failure: next retry after 120 s
    sink.handler.data_reply = None
    restarted = await fanout([], node="n2")  # a new process on the same store
    restarted.clock.at = run.clock.at + timedelta(seconds=119)
    assert await restarted.worker.drain() == 0
    restarted.clock.at += timedelta(seconds=1)
    assert await restarted.worker.drain() == 1
    assert delivered(sink) == Counter(dict.fromkeys(HOME[:2], 1))
    done = await restarted.store.progress(run.held.ticket)
    assert done is not None and done.done and done.delivered == 2


async def test_5xx_fails_those_recipients_with_the_upstream_reply(fanout: Factory, sink: Sink) -> None:
    sink.handler.rcpt_replies["p1@gto.gob.mx"] = "550 5.1.1 Buzón inexistente"
    run = await fanout(HOME[:4], peers=False)
    sink.handler.data_reply = None
    await run.worker.drain()
    assert delivered(sink) == Counter({"p0@gto.gob.mx": 1, "p2@gto.gob.mx": 1, "p3@gto.gob.mx": 1})
    rows = await run.store.db.fetchall(
        "SELECT rcpt, state, code, reply FROM delivery_recipients ORDER BY rcpt"
    )
    assert rows[1] == ("p1@gto.gob.mx", "failed", 550, "5.1.1 Buzón inexistente")
    assert [row[1] for row in rows] == ["delivered", "failed", "delivered", "delivered"]
    progress = await run.store.progress(run.held.ticket)
    assert progress is not None and progress.done and (progress.delivered, progress.failed) == (3, 1)


async def test_5xx_for_the_whole_transaction_is_not_retried(fanout: Factory, sink: Sink) -> None:
    sink.handler.data_reply = "554 5.7.1 Rechazado por política"
    run = await fanout(HOME[:2], peers=False)
    assert await run.worker.drain() == 1
    run.clock.at += timedelta(days=1)
    assert await run.worker.drain() == 0
    progress = await run.store.progress(run.held.ticket)
    assert progress is not None and progress.failed == 2 and progress.domains[0].status == "failed"
    assert progress.domains[0].last_reply == "554 5.7.1 Rechazado por política"


async def test_each_peer_admin_gets_one_copy_with_a_working_confirm_link(fanout: Factory, sink: Sink) -> None:
    run = await fanout(HOME[:1])
    await run.worker.drain()
    copies = [r for r in sink.handler.received if r.mail_from == "no-responder@gto.gob.mx"]
    assert sorted(tuple(c.rcpt_tos) for c in copies) == [
        ("admin@isseg.gob.mx",),
        ("jefe@cofoce.gob.mx", "ti@cofoce.gob.mx"),
    ]
    text = copies[0].data.decode()
    assert "reenviarlo dentro de su dominio" in text and "Comunicación Social, DGTIT" in text
    assert "23 de noviembre de 2026, 04:00 h" in text and "message/rfc822" in text
    assert message("Vacunación") in copies[0].data  # the original, byte for byte
    links = {c.rcpt_tos[0]: _link(c.data) for c in copies}
    services = Services(run.env, run.store, run.worker.transport, worker=run.worker)
    server, task = await web.start(web.build(services), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{web.bound_port(server)}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            page = await client.get(links["admin@isseg.gob.mx"])
            assert page.status_code == 200 and "Confirmo que lo reenvié" in page.text
            confirmed = await client.post(links["admin@isseg.gob.mx"])
            assert "Reenvío confirmado el 23 de noviembre de 2026" in confirmed.text
            assert (await client.get("/confirmar/" + "x" * 32)).status_code == 404
    finally:
        server.should_exit = True
        await task
    progress = await run.store.progress(run.held.ticket)
    assert progress is not None
    assert {d.domain: d.status for d in progress.domains} == {
        "gto.gob.mx": "delivered", "cofoce.gob.mx": "sent", "isseg.gob.mx": "confirmed"
    }  # fmt: skip
    # Reminders go to the unconfirmed domain only, once per period.
    sink.handler.received.clear()
    assert await run.worker.remind() == 0
    run.clock.at += timedelta(hours=48)
    assert await run.worker.remind() == 1
    assert await run.worker.remind() == 0
    assert [r.rcpt_tos for r in sink.handler.received] == [["jefe@cofoce.gob.mx", "ti@cofoce.gob.mx"]]
    assert "Aún no se ha confirmado el reenvío" in sink.handler.received[0].data.decode()
    assert _link(sink.handler.received[0].data) == links["jefe@cofoce.gob.mx"]


def _link(data: bytes) -> str:
    found = re.search(rb"http://127\.0\.0\.1:8024(/confirmar/[\w-]{32})\r\n", data)
    assert found is not None
    return found.group(1).decode()


async def test_two_workers_on_two_connections_never_deliver_twice(fanout: Factory, sink: Sink) -> None:
    recipients = [f"r{n}@gto.gob.mx" for n in range(40)]
    first = await fanout(recipients, node="a", peers=False)
    second = await fanout([], node="b")
    counts = await asyncio.gather(first.worker.drain(), second.worker.drain())
    assert sum(counts) == 20 and all(counts)  # both worked, and 20 batches went out in total
    assert delivered(sink) == Counter(dict.fromkeys(recipients, 1))


async def test_a_claimed_job_is_taken_over_only_when_its_lease_expires(fanout: Factory, sink: Sink) -> None:
    run = await fanout(HOME[:2], peers=False)
    now = run.clock.now()
    taken = await outbox.claim(run.store.db, "dead/0", now, now + timedelta(seconds=300))
    assert [job.rcpt_tos for job in taken] == [("p0@gto.gob.mx", "p1@gto.gob.mx")]
    assert await run.worker.drain() == 0  # held by a worker that died: not yet
    run.clock.at += timedelta(seconds=300)
    assert await run.worker.drain() == 1
    assert delivered(sink) == Counter(dict.fromkeys(HOME[:2], 1))


async def test_a_job_is_given_up_before_its_lease_runs_out(fanout: Factory, sink: Sink) -> None:
    # Past the lease another node could take the job over and send it again: an upstream that
    # stalls is left at 80 % of the lease and the job deferred (real time: the lease is what
    # is tested, so it is short)
    run = await fanout(HOME[:2], peers=False, lease=0.5)
    sink.handler.data_hold = asyncio.Event()
    assert await run.worker.drain() == 1
    progress = await run.store.progress(run.held.ticket)
    assert progress is not None and progress.pending == 2 and not progress.done
    assert progress.domains[0].last_reply == "451 4.4.2 compuerta: upstream too slow for the job's lease"
    sink.handler.data_hold.set()


def test_delivery_jobs_are_data() -> None:
    job = Delivery(DeliveryKind.HOME, "gto.gob.mx", "a@gto.gob.mx", ("b@gto.gob.mx",))
    assert job.batch == 0 and job == Delivery(
        DeliveryKind.HOME, "gto.gob.mx", "a@gto.gob.mx", ("b@gto.gob.mx",)
    )
