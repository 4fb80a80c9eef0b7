"""The short soak: 30 s at a steady rate through a real `compuerta serve`, no leak, no deferral.

The documented 10-minute soak is `python -m bench.soak` (RELIABILITY.md); this is its short
variant, so that a leak of descriptors (sessions, upstream connections, store handles) fails
the suite. Memory is judged with the same slack as the long soak.
"""

from __future__ import annotations

from pathlib import Path

from bench import soak


def test_short_soak_keeps_memory_and_descriptors_flat(tmp_path: Path) -> None:
    result = soak.run(seconds=30, rate=30, window=5, workdir=tmp_path)
    summary = f"{result.memory_growth / 2**20:.1f} MiB, fds +{result.fd_growth}, {result.windows}"
    assert result.messages >= 30 * 30 * 0.9
    assert result.deferred == 0, summary
    assert sum(w.accepted for w in result.windows) > 0 and sum(w.held for w in result.windows) > 0
    assert sum(w.refused for w in result.windows) > 0, summary
    assert result.fd_growth <= soak.FD_SLACK, summary
    assert result.memory_growth <= soak.MEMORY_SLACK, summary
