"""Exactly-once decisions on both store backends (PostgreSQL runs them truly in parallel)."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime

from gateway import delivery, moderation
from gateway.config import build
from gateway.model import Action, Envelope, HeldMessage, Verdict
from gateway.moderation import Actor, ModerationError
from gateway.outcome import Services
from gateway.pipeline import Environment
from gateway.store import open_store
from relay.transport import MemoryTransport
from tests.conftest import FixedClock

AT = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


def held(roles: tuple[str, ...]) -> HeldMessage:
    envelope = Envelope("ana@gto.gob.mx", ("todos@gto.gob.mx",))
    reasons = (Verdict(Action.HOLD, "masivo", "all-staff list todos@gto.gob.mx"),)
    return HeldMessage("M1", envelope, b"Subject: x\r\n\r\nHola\r\n", reasons, AT, "x", required_roles=roles)


async def services(url: str) -> Services:
    config = build({"store": {"url": url} if url.startswith("sqlite") else {},
                    "organization": {"home_domains": ["gto.gob.mx"]}})  # fmt: skip
    store, transport, clock = await open_store(url), MemoryTransport(), FixedClock(AT)
    worker = delivery.Worker(store, transport, clock, config, delivery.signer(config))
    services = Services(Environment(config, clock), store, transport, worker=worker)
    worker.on_done = functools.partial(moderation.delivered, services)
    return services


async def test_concurrent_approvals_release_once(store_url: str) -> None:
    service = await services(store_url)
    transport = service.transport
    assert isinstance(transport, MemoryTransport)
    stored = await service.store.hold(held(("dgtit", "comunicacion_social")))
    actors = [Actor(f"a{i}", ("dgtit",) if i % 2 else ("comunicacion_social",)) for i in range(10)]
    results = await asyncio.gather(
        *(moderation.decide(service, stored.ticket, a, "approve", "") for a in actors), return_exceptions=True
    )
    outcomes = [r for r in results if isinstance(r, moderation.Outcome)]
    assert all(isinstance(r, (moderation.Outcome, ModerationError)) for r in results), results
    assert len(outcomes) == 2, "one approval per role, whoever came first"
    assert sorted(o.held.state for o in outcomes) == ["approved", "held"]
    assert service.worker is not None and await service.worker.drain() == 1
    assert (await service.store.held(stored.ticket)).state == "delivered"  # type: ignore[union-attr]
    released = [s for s in transport.sent if s[1] == ("todos@gto.gob.mx",)]
    assert len(released) == 1
    assert (await service.store.audit_verify())[1] is None
    await service.store.close()
