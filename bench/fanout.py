"""Fan-out of an approved masivo to 20,000 home-domain recipients, delivered into a sink.

Trusts bench.servers for the sink (Postfix's smtp-sink, or bench.sink without Postfix). Runs the
gateway's own code in this process: the approval's release (the outbox rows written in one
transaction, gateway.delivery.release) and the delivery worker (gateway.delivery.Worker) over a
fresh SQLite store, exactly as `compuerta serve` runs them. Also measures what DKIM signing
costs per message (relay.dkim), for the decision to keep it on the event loop.
Usage: python -m bench.fanout [--recipients 20000] [--connections 4] [--batch 500] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import servers
from gateway.config import build
from gateway.delivery import Worker, release, signer
from gateway.model import Action, Envelope, HeldMessage, Release, Verdict
from gateway.pipeline import Environment
from gateway.store import open_store
from relay import dkim
from relay.transport import SMTPTransport

MESSAGE = (
    b"From: Comunicacion Social <comunicacion@gto.gob.mx>\r\nTo: Todo el personal <todos@gto.gob.mx>\r\n"
    b"Subject: Jornada de vacunacion\r\nMessage-ID: <bench@gto.gob.mx>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + b"Se invita a todo el personal.\r\n" * 300
)  # about 10 KB


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


async def one_run(
    sink_port: int, workdir: Path, recipients: int, connections: int, batch: int
) -> tuple[float, float]:
    """(seconds to write the release, seconds to deliver it all) for one fresh store."""
    config = build({
        "upstream": {"address": f"127.0.0.1:{sink_port}"},
        "store": {"url": f"sqlite:///{workdir / f'fanout-{time.monotonic_ns()}.db'}"},
        "organization": {"home_domains": ["gto.gob.mx"]},
        "outbox": {"connections": connections, "batch": batch, "node": "bench"},
    })  # fmt: skip
    store, clock = await open_store(config.store.url), _Clock()
    rcpts = tuple(f"persona{n:05d}@gto.gob.mx" for n in range(recipients))
    reasons = (Verdict(Action.HOLD, "masivo", "all staff"),)
    held = await store.hold(HeldMessage("B1", Envelope("comunicacion@gto.gob.mx", rcpts), MESSAGE, reasons,
                                        clock.now(), "Jornada"))  # fmt: skip
    started = time.perf_counter()
    await release(store, Environment(config, clock), held, Release(held.ticket, ("dgtit",), clock.now()))
    released = time.perf_counter() - started
    transport = SMTPTransport("127.0.0.1", sink_port, connections, 60.0)
    worker = Worker(store, transport, clock, config, signer(config))
    started = time.perf_counter()
    await worker.drain()
    delivered = time.perf_counter() - started
    progress = await store.progress(held.ticket)
    assert progress is not None and progress.delivered == recipients, progress
    await transport.close()
    await store.close()
    return released, delivered


def dkim_costs(rounds: int = 200) -> dict[str, float]:
    """Milliseconds of CPU per signature of the 10 KB message, by algorithm."""
    costs = {}
    for algorithm in dkim.ALGORITHMS:
        key = dkim.Key("gto.gob.mx", "bench", dkim.keygen(algorithm)[0])
        started = time.process_time()
        for _ in range(rounds):
            dkim.sign(MESSAGE, key)
        costs[algorithm] = (time.process_time() - started) * 1000 / rounds
    return costs


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout")
    parser.add_argument("--recipients", type=int, default=20000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        sink = servers.sink(workdir)
        try:
            runs = [asyncio.run(one_run(sink.port, workdir, args.recipients, args.connections, args.batch))
                    for _ in range(args.runs)]  # fmt: skip
        finally:
            sink.stop()
    report(args, sink.name, runs, dkim_costs())
    return 0


def report(
    args: argparse.Namespace, sink: str, runs: list[tuple[float, float]], costs: dict[str, float]
) -> None:
    times = [delivered for _, delivered in runs]
    median = statistics.median(times)
    print(f"fan-out: {args.recipients} home-domain recipients, {args.batch} per transaction, "
          f"{args.connections} connections, into {sink}; {len(runs)} runs")  # fmt: skip
    print(f"  delivered in {median:.2f} s median ({min(times):.2f}-{max(times):.2f}): "
          f"{args.recipients / median:,.0f} recipients/s (target: < 10 s)")  # fmt: skip
    print(f"  release (outbox rows, one transaction): {statistics.median(r for r, _ in runs) * 1000:.0f} ms")
    print("  DKIM signature of a 10 KB message: "
          + ", ".join(f"{name} {ms:.2f} ms CPU" for name, ms in costs.items()))  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
