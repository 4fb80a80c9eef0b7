"""Where the time goes for one message: CPU per stage, so the next optimisation follows the data.

Trusts the gateway's own functions and calls them in-process, in the order the SMTP session
does: read DATA (gateway.data), parse (the email tree, transfer decoding, libmagic, archive
unpacking, the rest of the walk), the DATA-stage rules, the decision log, and the relay to the
upstream sink. Library calls inside the parse are timed by wrapping them for the duration of
the measurement only. CPU time (time.process_time) is used where the stage is pure CPU, so other
load on the machine does not count; the relay is wall time (it waits for the sink).
Hands rows of (stage, microseconds per message) per sample to bench.report.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.corpus import Sample
from filters import _archive, _decoders, _mime, _tree
from gateway import data as smtp_data
from gateway import pipeline
from gateway.clock import SystemClock
from gateway.config import build
from gateway.model import DecisionRecord, Envelope, Message, Stage
from gateway.store import open_store
from relay.transport import SMTPTransport

STAGES = ("read DATA", "email tree", "transfer decode", "magic", "archive", "rest of parse", "rules",
          "decision log", "relay", "relay, wall")  # fmt: skip


@dataclass
class _Clock:
    spent: dict[str, float] = field(default_factory=dict)

    def wrap(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.spent[stage] = self.spent.get(stage, 0.0) + time.process_time() - started

        return timed


@contextmanager
def _wrapped(clock: _Clock) -> Iterator[None]:
    saved = (
        _magic_of("true_type"),
        _magic_of("true_types"),
        _archive.inspect,
        _decoders.transfer,
        _tree.split,
    )
    # imported by name there; true_types' threads count too (process time covers every thread)
    setattr(_mime, "true_type", clock.wrap("magic", saved[0]))  # noqa: B010
    setattr(_mime, "true_types", clock.wrap("magic", saved[1]))  # noqa: B010
    _archive.inspect = clock.wrap("archive", _archive.inspect)
    _decoders.transfer = clock.wrap("transfer decode", _decoders.transfer)
    _tree.split = clock.wrap("email tree", _tree.split)
    try:
        yield
    finally:
        setattr(_mime, "true_type", saved[0])  # noqa: B010
        setattr(_mime, "true_types", saved[1])  # noqa: B010
        _archive.inspect, _decoders.transfer, _tree.split = saved[2:]


def _magic_of(name: str) -> Callable[..., Any]:
    function: Callable[..., Any] = getattr(_mime, name)
    return function


def profile(samples: list[Sample], upstream: int, workdir: Path, rounds: int) -> dict[str, dict[str, float]]:
    """Microseconds per message of each stage, for each sample."""
    return asyncio.run(_profile(samples, upstream, workdir, rounds))


async def _profile(
    samples: list[Sample], upstream: int, workdir: Path, rounds: int
) -> dict[str, dict[str, float]]:
    config = build({"organization": {"home_domains": ["gto.gob.mx"]},
                    "store": {"url": f"sqlite:///{workdir / 'stages.db'}"}})  # fmt: skip
    env = pipeline.Environment(config, SystemClock())
    store = await open_store(config.store.url)
    transport = SMTPTransport("127.0.0.1", upstream, 4)
    out = {}
    try:
        for sample in samples:
            await _one(sample, env, store, transport, _Clock())  # warm: connections, caches
            clock = _Clock()
            for _ in range(rounds):
                await _one(sample, env, store, transport, clock)
            out[sample.name] = {stage: clock.spent.get(stage, 0.0) / rounds * 1e6 for stage in STAGES}
    finally:
        await transport.close()
        await store.close()
    return out


async def _one(
    sample: Sample, env: pipeline.Environment, store: Any, transport: SMTPTransport, clock: _Clock
) -> None:
    reader = asyncio.StreamReader(limit=1 << 16)
    reader.feed_data((b"\r\n" + sample.data).replace(b"\r\n.", b"\r\n..")[2:] + b".\r\n")
    started = time.process_time()
    received = await smtp_data.read(reader, 64 << 20)
    clock.spent["read DATA"] = clock.spent.get("read DATA", 0.0) + time.process_time() - started
    clean = received.problem == smtp_data.Problem.NONE  # as gateway.smtp marks what it judged
    msg = Message(
        "BENCH",
        Envelope(sample.mail_from, sample.rcpt_tos),
        raw=received.content,
        crlf_clean=clean,
        dot_free=clean and received.dot_free,
        base64_lines=received.base64_lines if clean else (),
    )
    before = sum(clock.spent.get(s, 0.0) for s in ("email tree", "transfer decode", "magic", "archive"))
    started = time.process_time()
    with _wrapped(clock):
        msg = pipeline.parse(msg)
    inner = (
        sum(clock.spent.get(s, 0.0) for s in ("email tree", "transfer decode", "magic", "archive")) - before
    )
    clock.spent["rest of parse"] = (
        clock.spent.get("rest of parse", 0.0) + time.process_time() - started - inner
    )
    started = time.process_time()
    decision = await pipeline.evaluate(Stage.DATA, msg, env)
    clock.spent["rules"] = clock.spent.get("rules", 0.0) + time.process_time() - started
    started = time.process_time()
    record = DecisionRecord(msg.id, msg.envelope.mail_from, 1, len(msg.raw), decision.rules, decision.action,
                            env.clock.now(), "data", "")  # fmt: skip
    await store.record_decision(record)
    clock.spent["decision log"] = clock.spent.get("decision log", 0.0) + time.process_time() - started
    started, cpu = time.perf_counter(), time.process_time()
    await transport.send(msg.envelope.mail_from, msg.envelope.rcpt_tos, msg.raw, msg.crlf_clean, msg.dot_free)
    clock.spent["relay"] = clock.spent.get("relay", 0.0) + time.process_time() - cpu
    clock.spent["relay, wall"] = clock.spent.get("relay, wall", 0.0) + time.perf_counter() - started
