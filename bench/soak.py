"""A bounded soak: mail at a steady rate through a real `compuerta serve` on loopback, watching
the gateway's memory and open file descriptors for leaks.

Trusts /proc (Linux) and the servers of bench.servers (smtp-sink or bench.sink upstream).
Sends a mix of clean, refused and held messages in windows; after each window, when its
sessions are closed, reads the gateway's resident memory and its count of open descriptors.
A leak shows as growth after the warm-up windows. Hands a Soak with a verdict to the caller:

    python -m bench.soak --minutes 10 --rate 20      # the documented soak (RELIABILITY.md)
    python -m bench.soak --minutes 0.5 --rate 30     # the short variant the tests run
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import corpus, load, servers

# After the warm-up, the allocator and caches (compiled regexes, pooled upstream connections,
# prometheus children) have settled; growth beyond these is a leak, not a warm-up.
MEMORY_SLACK = 16 * 2**20
FD_SLACK = 4


@dataclass
class Window:
    seconds: float
    messages: int
    accepted: int
    held: int
    refused: int
    deferred: int
    rss: int
    fds: int


@dataclass
class Soak:
    rate: float
    windows: list[Window] = field(default_factory=list)
    warmup: int = 2

    @property
    def messages(self) -> int:
        return sum(w.messages for w in self.windows)

    @property
    def deferred(self) -> int:
        return sum(w.deferred for w in self.windows)

    @property
    def memory_growth(self) -> int:
        settled = self.windows[self.warmup - 1].rss
        return max(w.rss for w in self.windows[self.warmup :]) - settled

    @property
    def fd_growth(self) -> int:
        return self.windows[-1].fds - self.windows[self.warmup - 1].fds

    @property
    def ok(self) -> bool:
        return self.deferred == 0 and self.memory_growth <= MEMORY_SLACK and self.fd_growth <= FD_SLACK


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def samples() -> list[corpus.Sample]:
    # mostly everyday mail; one in eight refused, one in eight held for approval
    plain, pdf = corpus.plain(), corpus.with_pdf()
    return [plain, plain, pdf, plain, corpus.dangerous(), plain, pdf, corpus.held()]


def run(seconds: float, rate: float, window: float, workdir: Path) -> Soak:
    """Soak for ``seconds`` at ``rate`` messages per second, sampling every ``window`` seconds."""
    sink = servers.sink(workdir)
    gateway = servers.gateway(sink.port, workdir)
    soak = Soak(rate)
    try:
        count = max(1, round(rate * window))
        for _ in range(max(soak.warmup + 2, round(seconds / window))):
            result = load.run(gateway.port, samples(), sessions=4, count=count, rate=rate)
            soak.windows.append(
                Window(round(result.wall, 2), result.messages, result.accepted, result.held,
                       result.refused, result.deferred, gateway.rss(), open_fds(gateway.process.pid))
            )  # fmt: skip
    finally:
        gateway.stop()
        sink.stop()
    return soak


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second offered")
    parser.add_argument("--window", type=float, default=30.0, help="seconds between samples")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="compuerta-soak-") as folder:
        soak = run(args.minutes * 60, args.rate, args.window, Path(folder))
    for index, window in enumerate(soak.windows):
        print(f"window {index:3d}: {window.messages} msgs in {window.seconds:.1f} s, "
              f"rss {window.rss / 2**20:.1f} MiB, fds {window.fds}, deferred {window.deferred}")  # fmt: skip
    summary = {"messages": soak.messages, "deferred": soak.deferred, "memory_growth_mib":
               round(soak.memory_growth / 2**20, 2), "fd_growth": soak.fd_growth, "ok": soak.ok}  # fmt: skip
    print(json.dumps(summary))
    print(json.dumps([asdict(w) for w in soak.windows]), file=sys.stderr)
    return 0 if soak.ok else 1


if __name__ == "__main__":
    sys.exit(main())
