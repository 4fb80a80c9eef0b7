"""Run the scenarios: each system under the same load, in the same run, several times.

Trusts bench.servers to start what is measured and bench.load to drive it. Per run and
scenario, the systems go one after the other (smtp-sink direct, the bare proxy, the gateway),
each in a fresh process, so that every gateway figure has same-run baselines beside it.
Hands a Results table to bench.report.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import corpus, load, servers, stages
from bench.corpus import Sample

DIRECT, BARE, GATEWAY, WORKERS = "smtp-sink direct", "bare proxy", "gateway", "gateway, 2 workers"


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    samples: tuple[Sample, ...]
    sessions: int
    count: int  # messages per run for the proxies; smtp-sink direct gets three times more
    systems: tuple[str, ...] = (DIRECT, BARE, GATEWAY)
    python: bool = False  # the Python generator even when smtp-source is installed
    rate: float | None = None  # offered messages/s (latency below saturation)


@dataclass(frozen=True)
class Measure:
    """One system in one run of one scenario."""

    rate: float
    mbps: float
    cpu: float  # CPU seconds per message of the process(es) under test
    peak_rss: int
    p50: float | None
    p99: float | None
    accepted: int
    held: int
    refused: int
    deferred: int
    generator: str
    idle: float = 0.0  # share of the whole machine's CPU time left idle while the load ran


@dataclass
class Results:
    runs: int
    scenarios: list[Scenario] = field(default_factory=list)
    measures: dict[tuple[str, str], list[Measure]] = field(default_factory=dict)
    memory: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # system -> (growth, size)
    stages: dict[str, dict[str, float]] = field(default_factory=dict)  # sample -> stage -> µs
    extras: dict[str, str] = field(default_factory=dict)  # other bench/ scripts -> their output
    started: float = field(default_factory=time.time)

    def values(self, scenario: str, system: str, pick: Callable[[Measure], float | None]) -> list[float]:
        return [v for m in self.measures.get((scenario, system), []) if (v := pick(m)) is not None]

    def ratios(
        self, scenario: str, system: str, baseline: str, pick: Callable[[Measure], float | None]
    ) -> list[float]:
        """Per-run ratios system/baseline: the same run's noise cancels out."""
        pairs = zip(self.values(scenario, system, pick), self.values(scenario, baseline, pick), strict=False)
        return [a / b for a, b in pairs if b]


def scenarios(quick: bool = False) -> list[Scenario]:
    scale = 0.25 if quick else 1.0

    def n(count: int) -> int:
        return max(8, int(count * scale))

    plain, pdf, attachments = corpus.plain(), corpus.with_pdf(), corpus.with_attachments()
    mix = tuple([plain] * 44 + [corpus.dangerous()] * 5 + [corpus.held()])  # 10 % refused, 2 % held
    return [
        Scenario("10k-1", "10 KB plain, 1 session", (plain,), 1, n(400)),
        Scenario("10k-16", "10 KB plain, 16 sessions", (plain,), 16, n(1500)),
        Scenario("10k-64", "10 KB plain, 64 sessions", (plain,), 64, n(1500)),
        Scenario("100k-16", "100 KB with a PDF, 16 sessions", (pdf,), 16, n(500)),
        Scenario(
            "1m-16",
            "1 MB with attachments, 16 sessions",
            (attachments,),
            16,
            n(120),
            (DIRECT, BARE, GATEWAY, WORKERS),
        ),
        Scenario("20m-4", "20 MB with a zip of ten files, 4 sessions", (corpus.with_zip(),), 4, n(8)),
        Scenario(
            "mix-16",
            "10 KB mix (10 % refused, 2 % held), 16 sessions",
            mix,
            16,
            n(1500),
            (BARE, GATEWAY),
            True,
        ),
        Scenario(
            "latency-16",
            "10 KB, 16 sessions offered 150 msg/s (latency)",
            (plain,),
            16,
            n(600),
            (DIRECT, BARE, GATEWAY),
            True,
            150.0,  # below saturation even on a busy machine: latency without queueing
        ),
        Scenario(
            "workers-16",
            "10 KB plain, 16 sessions: 1 vs 2 workers",
            (plain,),
            16,
            n(1500),
            (BARE, GATEWAY, WORKERS),
        ),
    ]


def run(workdir: Path, runs: int, quick: bool, only: set[str], progress: Callable[[str], None]) -> Results:
    results = Results(runs)
    results.scenarios = [s for s in scenarios(quick) if not only or s.key in only]
    sink = servers.sink(workdir)
    try:
        for number in range(1, runs + 1):
            for scenario in results.scenarios:
                for system in scenario.systems:
                    measure = _measure(scenario, system, sink, workdir)
                    results.measures.setdefault((scenario.key, system), []).append(measure)
                    progress(f"run {number}/{runs} {scenario.key:11} {system:20} {measure.rate:8.1f} msg/s")
            if not only or "memory" in only:
                for system in (BARE, GATEWAY):
                    growth = _memory(system, sink, workdir)
                    results.memory.setdefault(system, []).append(growth)
                    progress(f"run {number}/{runs} memory      {system:20} +{growth[0] / 2**20:.1f} MB")
        if not only or "stages" in only:
            progress("per-stage profile")
            results.stages = _stages(sink, workdir)
    finally:
        sink.stop()
    for name in EXTRAS:
        if (not only or name in only) and (servers.ROOT / "bench" / f"{name}.py").exists():
            progress(f"bench.{name}")
            results.extras[name] = _extra(name)
    return results


EXTRAS = (
    "fanout",
    "milter_postfix",
    "approval_queue",
    "stores",
    "rules",
)  # other benchmarks in bench/, run as they are


def _stages(sink: servers.Server, workdir: Path) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    for sample, rounds in ((corpus.plain(), 300), (corpus.with_pdf(), 100), (corpus.with_attachments(), 30),
                           (corpus.with_zip(), 3)):  # fmt: skip
        rows.update(stages.profile([sample], sink.port, workdir, rounds))
    return rows


def _extra(name: str) -> str:
    environment = {**os.environ, "PYTHONPATH": str(servers.ROOT)}
    try:
        done = subprocess.run([sys.executable, "-m", f"bench.{name}"], capture_output=True, text=True,
                              timeout=300, cwd=servers.ROOT, env=environment, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return "(did not finish within 5 minutes)"
    output = done.stdout + (
        "" if done.returncode == 0 else f"\n(exit {done.returncode})\n" + done.stderr[-2000:]
    )
    return "\n".join(output.strip().splitlines()[-40:])


def _server(system: str, sink: servers.Server, workdir: Path) -> servers.Server:
    if system == DIRECT:
        return sink
    if system == BARE:
        return servers.bare_proxy(sink.port, workdir)
    extra = "workers = 2\n" if system == WORKERS else ""
    return servers.gateway(sink.port, workdir, extra, tag=f"gateway-{time.monotonic_ns()}")


def _measure(scenario: Scenario, system: str, sink: servers.Server, workdir: Path) -> Measure:
    server = _server(system, sink, workdir)
    try:
        load.run(server.port, scenario.samples[:1], min(scenario.sessions, 8), 40)  # warm the pools up
        count = scenario.count * (3 if system == DIRECT else 1)
        cpu, machine = server.cpu(), servers.machine_cpu()
        result = _drive(scenario, server.port, count)
        cpu = server.cpu() - cpu
        idle = servers.idle_since(machine)
        peak = server.peak_rss()
    finally:
        if server is not sink:
            server.stop()
    latencies = sorted(result.latencies)
    return Measure(
        result.rate, result.bytes / result.wall / 2**20 if result.wall else 0.0, cpu / max(result.messages, 1),
        peak, _quantile(latencies, 0.50), _quantile(latencies, 0.99),
        result.accepted, result.held, result.refused, result.deferred, result.generator, idle,
    )  # fmt: skip


def _drive(scenario: Scenario, port: int, count: int) -> load.Load:
    if scenario.python or not load.have_smtp_source():
        return load.run(port, scenario.samples, scenario.sessions, count, scenario.rate)
    return load.smtp_source(port, scenario.samples[0], scenario.sessions, count)


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _memory(system: str, sink: servers.Server, workdir: Path) -> tuple[int, int]:
    """Peak RSS growth of a fresh process while it takes one 25 MB message."""
    sample = corpus.with_zip(25 * 10**6, seed=6)
    server = _server(system, sink, workdir)
    try:
        load.run(server.port, [corpus.plain()], 2, 20)
        before = server.rss()
        result = load.run(server.port, [sample], 1, 1)
        peak = server.peak_rss()
    finally:
        server.stop()
    if result.accepted != 1:
        raise RuntimeError(f"{system} did not accept the 25 MB message: {result}")
    return peak - before, len(sample.data)


def summary(values: Sequence[float]) -> tuple[float, float, float] | None:
    if not values:
        return None
    return min(values), statistics.median(values), max(values)
