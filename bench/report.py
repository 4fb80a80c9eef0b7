"""Write BENCHMARKS.md: the machine, the versions, every figure beside its same-run baselines.

Trusts the Results of bench.suite. Every figure is min / median / max over the runs; every
gateway figure that depends on the machine is also given as a ratio to the bare proxy (and
to smtp-sink direct) measured in the same run, because absolute numbers drift on shared
machines. Hands back Markdown text.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
from collections.abc import Callable, Sequence

from bench import suite
from bench.suite import BARE, DIRECT, GATEWAY, WORKERS, Measure, Results

AMAVIS = 65.0  # issue 8: amavisd-new, banned-files check only, 10 KB, this class of machine


def figure(values: Sequence[float], scale: float = 1.0, digits: int = 0, unit: str = "") -> str:
    triple = suite.summary(values)
    if triple is None:
        return "–"
    low, mid, high = (v * scale for v in triple)
    return f"**{mid:.{digits}f}**{unit} ({low:.{digits}f}–{high:.{digits}f})"


def machine() -> list[str]:
    model = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                  if line.startswith("model name")), platform.processor() or "?")  # fmt: skip
    memory = next(
        (line.split()[1] for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), "0"
    )
    return [
        f"- Machine: {model}, {os.cpu_count()} cores, {int(memory) / 2**20:.0f} GiB, Linux {platform.release()}",
        f"- Python {platform.python_version()}; " + ", ".join(_versions()),
        f"- Postfix (smtp-source, smtp-sink): {_postfix()}; compuerta commit {_commit()}",
    ]


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return ""


def _versions() -> list[str]:
    out = []
    for name in ("aiosmtpd", "aiosmtplib", "aiosqlite", "python-magic"):
        try:
            out.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{name} ?")
    return out


def _postfix() -> str:
    try:
        done = subprocess.run(
            ["postconf", "-d", "-h", "mail_version"], check=False, capture_output=True, text=True, timeout=10
        )
    except OSError:
        return "not installed (Python generator and sink)"
    return done.stdout.strip() or "?"


def _commit() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True, timeout=10,
                              cwd=os.path.dirname(__file__))  # fmt: skip
    except OSError:
        return "?"
    return done.stdout.strip() or "?"


def _rate(m: Measure) -> float:
    return m.rate


def _cpu(m: Measure) -> float:
    return m.cpu


def _idle(m: Measure) -> float:
    return m.idle


def _ms(pick: Callable[[Measure], float | None]) -> Callable[[Measure], float | None]:
    def scaled(m: Measure) -> float | None:
        value = pick(m)
        return None if value is None else value * 1000

    return scaled


def throughput(results: Results) -> list[str]:
    lines = [
        (
            "| scenario | smtp-sink direct | bare proxy | gateway | gateway / bare | gateway / direct "
            "| gateway, 2 workers | 2 workers / bare | gateway MB/s | CPU per message: bare / gateway "
            "| peak RSS: bare / gateway |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in results.scenarios:
        if s.rate is not None:
            continue
        v = results.values
        lines.append(
            f"| {s.title} | {figure(v(s.key, DIRECT, _rate))} | {figure(v(s.key, BARE, _rate))} "
            f"| {figure(v(s.key, GATEWAY, _rate))} | {figure(results.ratios(s.key, GATEWAY, BARE, _rate), digits=2)} "
            f"| {figure(results.ratios(s.key, GATEWAY, DIRECT, _rate), digits=3)} "
            f"| {figure(v(s.key, WORKERS, _rate))} | {figure(results.ratios(s.key, WORKERS, BARE, _rate), digits=2)} "
            f"| {figure(v(s.key, GATEWAY, lambda m: m.mbps), digits=1)} "
            f"| {figure(v(s.key, BARE, lambda m: m.cpu), 1e6, unit=' µs')} / "
            f"{figure(v(s.key, GATEWAY, lambda m: m.cpu), 1e6, unit=' µs')} "
            f"| {figure(v(s.key, BARE, lambda m: m.peak_rss), 2**-20, unit=' MB')} / "
            f"{figure(v(s.key, GATEWAY, lambda m: m.peak_rss), 2**-20, unit=' MB')} |"
        )
    return lines


def latency(results: Results) -> list[str]:
    lines = [
        "| scenario | system | p50 | p99 | added p50 vs bare | added p99 vs bare |",
        "|---|---|---|---|---|---|",
    ]
    for s in results.scenarios:
        if s.key not in ("latency-16", "mix-16", "10k-1") or s.key == "10k-1" and not s.python:
            continue
        for system in s.systems:
            p50 = results.values(s.key, system, _ms(lambda m: m.p50))
            p99 = results.values(s.key, system, _ms(lambda m: m.p99))
            added50 = _added(results, s.key, system, lambda m: m.p50)
            added99 = _added(results, s.key, system, lambda m: m.p99)
            lines.append(f"| {s.title} | {system} | {figure(p50, digits=2, unit=' ms')} | "
                         f"{figure(p99, digits=2, unit=' ms')} | {added50} | {added99} |")  # fmt: skip
    return lines


def _added(results: Results, key: str, system: str, pick: Callable[[Measure], float | None]) -> str:
    if system in (BARE, DIRECT):
        return "–"
    pairs = zip(results.values(key, system, _ms(pick)), results.values(key, BARE, _ms(pick)), strict=False)
    return figure([a - b for a, b in pairs], digits=2, unit=" ms")


def outcomes(results: Results) -> list[str]:
    lines = []
    for s in results.scenarios:
        for system in s.systems:
            runs = results.measures.get((s.key, system), [])
            if not runs or s.rate is not None:
                continue
            last = runs[-1]
            if last.refused or last.held or last.deferred:
                lines.append(f"- {s.title}, {system} (last run): {last.accepted} relayed, {last.held} held, "
                             f"{last.refused} refused, {last.deferred} deferred")  # fmt: skip
    return lines or ["- every message of every other scenario was relayed (250 after upstream accepted)"]


def workers(results: Results) -> list[str]:
    lines = [
        "| scenario | gateway, 1 process | gateway, 2 workers | 2 workers / 1 process |",
        "|---|---|---|---|",
    ]
    for s in results.scenarios:
        if results.measures.get((s.key, WORKERS)):
            lines.append(
                f"| {s.title} | {figure(results.values(s.key, GATEWAY, _rate))} "
                f"| {figure(results.values(s.key, WORKERS, _rate))} "
                f"| {figure(results.ratios(s.key, WORKERS, GATEWAY, _rate), digits=2)} |"
            )
    return lines if len(lines) > 2 else ["Not measured in this run."]


def memory(results: Results) -> list[str]:
    lines = ["| system | peak RSS growth | times the message size |", "|---|---|---|"]
    for system, values in results.memory.items():
        growth = [g for g, _ in values]
        times = [g / size for g, size in values]
        lines.append(f"| {system} | {figure(growth, 2**-20, 1, ' MB')} | {figure(times, digits=2)} |")
    return lines


def stages(results: Results) -> list[str]:
    if not results.stages:
        return []
    names = list(next(iter(results.stages.values())))
    lines = [
        "## Where the time goes (µs per message, one process, bench/stages.py)",
        "",
        (
            "CPU time of each stage (process time, so other load on the machine does not count), except "
            "the last column, which is the relay's wall time including the sink's replies."
        ),
        "",
        "| message | " + " | ".join(names) + " | total CPU |",
        "|---" * (len(names) + 2) + "|",
    ]
    for sample, row in results.stages.items():
        total = sum(value for name, value in row.items() if name != "relay, wall")
        lines.append(f"| {sample} | " + " | ".join(f"{row[n]:,.0f}" for n in names) + f" | {total:,.0f} |")
    return [*lines, ""]


def next_steps(results: Results) -> list[str]:
    """The three most expensive stages for each message size: where the next optimisation goes."""
    if not results.stages:
        return []
    lines = ["## Where to optimise next (from the profile above)", ""]
    for sample, row in results.stages.items():
        cpu = {name: value for name, value in row.items() if name != "relay, wall"}
        total = sum(cpu.values()) or 1.0
        top = sorted(cpu.items(), key=lambda item: item[1], reverse=True)[:3]
        lines.append(f"- {sample}: " + ", ".join(f"{name} {value / total:.0%}" for name, value in top))
    return [*lines, ""]


def extras(results: Results) -> list[str]:
    lines = []
    for name, output in results.extras.items():
        lines += [f"## bench/{name}.py (its own output)", "", "```", output, "```", ""]
    return lines


def _median(values: list[float]) -> float | None:
    triple = suite.summary(values)
    return None if triple is None else triple[1]


def targets(results: Results) -> list[str]:
    """Issue 8's targets, each with its figure and whether the median meets it."""
    rows = [
        ("10 KB, 16 sessions: >= 80 % of the bare proxy", results.ratios("10k-16", GATEWAY, BARE, _rate), 0.8, 100, " %"),
        ("  the same with 2 workers", results.ratios("workers-16", WORKERS, BARE, _rate), 0.8, 100, " %"),
        ("  estimate for an idle machine: bare CPU / gateway CPU per message",
         results.ratios("10k-16", BARE, GATEWAY, _cpu), 0.8, 100, " %"),
        (f"10 KB, 16 sessions: >= 8x amavisd-new (~{AMAVIS:.0f}/s) = {8 * AMAVIS:.0f} msg/s",
         results.values("10k-16", GATEWAY, _rate), 8 * AMAVIS, 1, " msg/s"),
        ("  the same with 2 workers", results.values("workers-16", WORKERS, _rate), 8 * AMAVIS, 1, " msg/s"),
        ("1 MB: >= 120 msg/s (1 process)", results.values("1m-16", GATEWAY, _rate), 120, 1, " msg/s"),
        ("  the same with 2 workers", results.values("1m-16", WORKERS, _rate), 120, 1, " msg/s"),
        ("workers: 2 workers >= 1.7x one process (10 KB)", results.ratios("workers-16", WORKERS, GATEWAY, _rate),
         1.7, 1, "x"),
        ("  machine idle while 2 workers ran (smtp-source and smtp-sink share the 2 cores)",
         [100 * v for v in results.values("workers-16", WORKERS, _idle)], None, 1, " %"),
        ("  estimate on cores of its own: 2 x CPU per message of one process / of 2 workers",
         [2 * r for r in results.ratios("workers-16", GATEWAY, WORKERS, _cpu)], 1.7, 1, "x"),
        ("added latency p99 < 5 ms (10 KB, 16 sessions, 150 msg/s offered)",
         _differences(results, "latency-16", lambda m: m.p99), -5.0, -1, " ms"),
        ("25 MB message: peak RSS growth < 60 MB", [g / 2**20 for g, _ in results.memory.get(GATEWAY, [])],
         -60.0, -1, " MB"),
    ]  # fmt: skip
    lines = ["## Targets (issue 8)", "", "| target | median (min–max) | met |", "|---|---|---|"]
    for title, values, threshold, scale, unit in rows:
        median = _median(values)
        met = (
            "–"
            if median is None or threshold is None
            else ("yes" if median * (1 if scale > 0 else -1) >= threshold else "**no**")
        )
        shown = figure(values, abs(scale), 2 if abs(scale) == 1 and unit in ("x", " ms") else 0, unit)
        lines.append(f"| {title} | {shown} | {met} |")
    lines.append(
        "| fan-out of an approved masivo to 20,000 recipients: < 10 s | see bench/fanout.py below | |"
    )
    return [*lines, ""]


def _differences(results: Results, key: str, pick: Callable[[Measure], float | None]) -> list[float]:
    pairs = zip(results.values(key, GATEWAY, _ms(pick)), results.values(key, BARE, _ms(pick)), strict=False)
    return [a - b for a, b in pairs]


def render(results: Results, extra: dict[str, list[str]]) -> str:
    started = datetime.datetime.fromtimestamp(results.started, datetime.UTC)
    generator = (
        "smtp-source"
        if any(m.generator == "smtp-source" for v in results.measures.values() for m in v)
        else "Python"
    )
    parts = [
        "# Benchmarks",
        "",
        (
            f"Written by `bench/run` on {started:%Y-%m-%d %H:%M} UTC; {results.runs} runs; every figure is "
            "**median** (min–max) over the runs. Ratios are computed per run against the baselines "
            "measured in that same run, then summarised. Load generator for throughput: "
            f"{generator}; latency and mixed loads use bench/load.py (pipelined, one process)."
        ),
        "",
        *machine(),
        "",
        *targets(results),
        "## Throughput",
        "",
        *throughput(results),
        "",
        "## Latency (time from MAIL to the final reply after DATA)",
        "",
        *latency(results),
        "",
        "## Outcomes",
        "",
        *outcomes(results),
        "",
        "## Both cores: `workers`",
        "",
        *workers(results),
        "",
        "## Memory: one 25 MB message (fresh process; peak RSS minus RSS before it)",
        "",
        *memory(results),
        "",
        *stages(results),
        *next_steps(results),
        *extras(results),
        *extra.get("notes", []),
    ]
    return "\n".join(parts) + "\n"
