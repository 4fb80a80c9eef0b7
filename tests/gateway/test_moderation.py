"""Held masivos over real SMTP: ticket, notices, approval by several roles, rejection, expiry,
exactly-once release under concurrency, and the hash-chained audit trail."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from gateway import moderation
from gateway.model import User
from gateway.moderation import Actor, ModerationError
from tests.conftest import FixedClock, Gateway, GatewayFactory, Sink, send
from tests.filters import directory

CIRCULAR = (
    b"From: ana@gto.gob.mx\r\nTo: todos@gto.gob.mx\r\nSubject: Circular de vacunacion\r\n"
    b"Message-ID: <c1@gto.gob.mx>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nHola a todos.\r\n"
)
DGTIT = Actor("dgtit1", ("dgtit",))
SOCIAL = Actor("social1", ("comunicacion_social",))


async def start(factory: GatewayFactory, sink: Sink, clock: FixedClock | None = None,
                overrides: Mapping[str, object] | None = None) -> Gateway:  # fmt: skip
    gateway = await factory(sink.port, overrides, directory.build(), clock)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    await gateway.store.add_user(User("dgtit1", ("dgtit",), "dgtit1@gto.gob.mx", password_hash="-"), at)
    await gateway.store.add_user(
        User("social1", ("comunicacion_social",), "cs@gto.gob.mx", password_hash="-"), at
    )
    await gateway.store.add_user(User("jefe", ("administrator",), "jefe@gto.gob.mx", password_hash="-"), at)
    return gateway


async def held_ticket(gateway: Gateway) -> str:
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["todos@gto.gob.mx"], CIRCULAR)
    assert code == 250 and "2.6.0" in text, text
    return text.split("folio ")[1].split(";")[0]


async def delivered(gateway: Gateway, ticket: str) -> str:
    """Run the delivery worker, which marks the release delivered when it is done."""
    assert gateway.services.worker is not None
    await gateway.services.worker.drain()
    held = await gateway.store.held(ticket)
    return held.state if held else "?"


def to(sink: Sink, address: str) -> list[bytes]:
    return [r.data for r in sink.handler.received if address in r.rcpt_tos]


async def test_masivo_is_held_with_ticket_and_notices(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gateway = await start(gateway_factory, sink)
    ticket = await held_ticket(gateway)
    held = await gateway.store.held(ticket)
    assert held is not None and held.state == "held" and held.required_roles == ("dgtit",)
    assert held.reasons[0].rule == "masivo" and held.classes == (("home", 1),)
    [notice] = to(sink, "ana@gto.gob.mx")
    assert ticket.encode() in notice and held.status_token.encode() in notice
    assert b"Fecha l=C3=ADmite" in notice or "Fecha límite".encode() in notice
    assert to(sink, "dgtit1@gto.gob.mx") and not to(sink, "todos@gto.gob.mx")


async def test_release_needs_every_role(gateway_factory: GatewayFactory, sink: Sink) -> None:
    overrides = {"profile": {"masivo": {"approvers": ["dgtit", "comunicacion_social"]}}}
    gateway = await start(gateway_factory, sink, overrides=overrides)
    ticket = await held_ticket(gateway)
    first = await moderation.decide(gateway.services, ticket, DGTIT, "approve", "ok técnico")
    assert first.held.state == "held" and first.pending == ("comunicacion_social",)
    assert not to(sink, "todos@gto.gob.mx")
    second = await moderation.decide(gateway.services, ticket, SOCIAL, "approve", "visto bueno")
    assert second.held.state == "approved"  # the outbox's worker delivers it
    assert await delivered(gateway, ticket) == "delivered"
    [released] = to(sink, "todos@gto.gob.mx")
    assert released == CIRCULAR
    stored = await gateway.store.held(ticket)
    assert stored is not None and stored.state == "delivered" and len(stored.approvals) == 2


async def test_one_rejection_ends_it_and_the_sender_is_told(
    gateway_factory: GatewayFactory, sink: Sink
) -> None:
    overrides = {"profile": {"masivo": {"approvers": ["dgtit", "comunicacion_social"]}}}
    gateway = await start(gateway_factory, sink, overrides=overrides)
    ticket = await held_ticket(gateway)
    outcome = await moderation.decide(gateway.services, ticket, SOCIAL, "reject", "Falta visto bueno")
    assert outcome.held.state == "rejected"
    with pytest.raises(ModerationError) as refused:
        await moderation.decide(gateway.services, ticket, DGTIT, "approve", "")
    assert refused.value.kind == "decided"
    notices = to(sink, "ana@gto.gob.mx")
    assert len(notices) == 2 and b"Falta visto bueno" in notices[1]
    assert not to(sink, "todos@gto.gob.mx")


async def test_auditor_cannot_decide(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gateway = await start(gateway_factory, sink)
    ticket = await held_ticket(gateway)
    for actor in (Actor("auditora", ("auditor",)), SOCIAL):
        with pytest.raises(ModerationError) as refused:
            await moderation.decide(gateway.services, ticket, actor, "approve", "")
        assert refused.value.kind == "forbidden"
    held = await gateway.store.held(ticket)
    assert held is not None and held.state == "held" and held.approvals == ()


async def test_expiry_over_a_holiday(gateway_factory: GatewayFactory, sink: Sink) -> None:
    # Held on Friday 13 Nov 2026; Monday 16 is Día de la Revolución: the 2 business days end
    # on Wednesday 18, and one more business day of grace ends on Thursday 19.
    clock = FixedClock(datetime(2026, 11, 13, 16, 0, tzinfo=UTC))
    gateway = await start(gateway_factory, sink, clock, {"approval": {"expire_days": 1}})
    ticket = await held_ticket(gateway)
    held = await gateway.store.held(ticket)
    assert held is not None and held.deadline == datetime(2026, 11, 19, 5, 59, 59, tzinfo=UTC)
    clock.at = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)  # Tuesday: the holiday did not count
    assert await moderation.tick(gateway.services) == {
        "reminded": 0,
        "escalated": 0,
        "expired": 0,
        "released": 0,
        "notified": 0,
    }
    clock.at = datetime(2026, 11, 18, 22, 0, tzinfo=UTC)  # Wednesday 16:00: reminded
    assert (await moderation.tick(gateway.services))["reminded"] == 1
    clock.at = datetime(2026, 11, 19, 18, 0, tzinfo=UTC)  # Thursday: escalated, not yet expired
    assert (await moderation.tick(gateway.services))["escalated"] == 1
    assert to(sink, "jefe@gto.gob.mx"), "administrators are told of the escalation"
    clock.at = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # Friday: expired, sender told
    assert (await moderation.tick(gateway.services))["expired"] == 1
    expired = await gateway.store.held(ticket)
    assert expired is not None and expired.state == "expired"
    assert b"vencido" in to(sink, "ana@gto.gob.mx")[-1]
    assert not to(sink, "todos@gto.gob.mx")


async def test_concurrent_approvals_release_once(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gateway = await start(gateway_factory, sink)
    ticket = await held_ticket(gateway)
    actors = [Actor(f"admin{i}", ("administrator",)) for i in range(8)]
    results = await asyncio.gather(
        *(moderation.decide(gateway.services, ticket, actor, "approve", "") for actor in actors),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, moderation.Outcome)]
    lost = [r for r in results if isinstance(r, ModerationError)]
    assert len(won) == 1 and len(lost) == 7 and all(e.kind == "decided" for e in lost)
    assert await delivered(gateway, ticket) == "delivered"
    assert len(to(sink, "todos@gto.gob.mx")) == 1


async def test_audit_chain_detects_an_edited_row(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gateway = await start(gateway_factory, sink)
    ticket = await held_ticket(gateway)
    await moderation.decide(gateway.services, ticket, DGTIT, "approve", "correcto")
    assert await delivered(gateway, ticket) == "delivered"
    checked, broken = await gateway.store.audit_verify()
    assert broken is None and checked >= 5  # 3 users, hold, approve, approved, release
    entries = await gateway.store.audit_entries(ticket)
    assert [e.action for e in entries] == ["hold", "approve", "approved", "release"]
    assert entries[1].actor == "dgtit1" and entries[1].role == "dgtit" and entries[1].reason == "correcto"
    await gateway.store.db.execute("UPDATE audit SET reason = 'sin objeción' WHERE id = ?", entries[1].id)
    assert await gateway.store.audit_verify() == (entries[1].id - 1, entries[1].id)


async def test_freemail_in_a_masivo_is_refused_and_a_freemail_list_is_held(
    gateway_factory: GatewayFactory, sink: Sink
) -> None:
    gateway = await start(gateway_factory, sink)
    rcpts = directory.own(30) + directory.freemail(20)
    code, text = await send(gateway.port, "ana@gto.gob.mx", rcpts, CIRCULAR)
    assert code == 550 and "5.7.1" in text and "freemail.mass" in text
    code, text = await send(gateway.port, "ana@gto.gob.mx", directory.freemail(12), CIRCULAR)
    assert code == 250 and "2.6.0" in text
    held = await gateway.store.held(text.split("folio ")[1].split(";")[0])
    assert held is not None and [v.rule for v in held.reasons] == ["freemail.list"]
    assert held.classes == (("freemail", 12),)


async def test_release_retried_after_an_upstream_outage(gateway_factory: GatewayFactory, sink: Sink) -> None:
    clock = FixedClock(datetime(2026, 11, 23, 16, 0, tzinfo=UTC))
    gateway = await start(gateway_factory, sink, clock)
    ticket = await held_ticket(gateway)
    sink.handler.data_reply = "451 4.3.0 upstream busy"
    outcome = await moderation.decide(gateway.services, ticket, DGTIT, "approve", "")
    assert outcome.held.state == "approved"
    worker = gateway.services.worker
    assert worker is not None and await worker.drain() >= 1  # deferred: retried after 60 s
    sink.handler.data_reply = None
    clock.at = datetime(2026, 11, 23, 16, 0, 59, tzinfo=UTC)
    assert await worker.drain() == 0, "not before its backoff"
    await moderation.tick(gateway.services)  # the sweep never sends it itself: not doubled
    assert not to(sink, "todos@gto.gob.mx")
    clock.at = datetime(2026, 11, 23, 16, 1, tzinfo=UTC)
    assert await worker.drain() >= 1
    held = await gateway.store.held(ticket)
    assert held is not None and held.state == "delivered"
    assert len(to(sink, "todos@gto.gob.mx")) == 1


async def test_sender_notice_retried_when_upstream_refused_it(
    gateway_factory: GatewayFactory, sink: Sink
) -> None:
    clock = FixedClock(datetime(2026, 11, 23, 16, 0, tzinfo=UTC))
    gateway = await start(gateway_factory, sink, clock)
    sink.handler.rcpt_replies["ana@gto.gob.mx"] = "450 4.2.1 mailbox busy"
    ticket = await held_ticket(gateway)
    assert not to(sink, "ana@gto.gob.mx")
    del sink.handler.rcpt_replies["ana@gto.gob.mx"]
    clock.at = datetime(2026, 11, 23, 16, 2, tzinfo=UTC)
    assert (await moderation.tick(gateway.services))["notified"] == 1
    [notice] = to(sink, "ana@gto.gob.mx")
    assert ticket.encode() in notice
    assert (await moderation.tick(gateway.services))["notified"] == 0, "told once"
