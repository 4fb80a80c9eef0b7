"""Expose the metrics of every gateway process on /metrics, one process or ``[smtp] workers``.

Trusts prometheus_client. With one process its default registry is the whole story. With
several workers each process counts on its own, so prometheus_client's multiprocess mode is
used: every process writes its values to files in PROMETHEUS_MULTIPROC_DIR and worker 0's
/metrics adds them up (gauges as declared in gateway.metrics). prometheus_client chooses the
mode when it is first imported, so the workers' parent re-executes itself once with the
variable set before forking; an administrator may set it instead (systemd Environment=).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest, multiprocess

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
_OWNED = "COMPUERTA_METRICS_DIR_OWNED"  # set when compuerta made the folder (and removes it)


def share_across_workers() -> None:
    """Before forking workers: make every process's metrics visible (may re-execute us)."""
    folder = os.environ.get(ENV)
    if folder is None:
        os.environ[ENV] = tempfile.mkdtemp(prefix="compuerta-metrics-")
        os.environ[_OWNED] = "1"
        log.info("metrics shared by the workers in %s; starting again to use them", os.environ[ENV])
        os.execv(sys.executable, sys.orig_argv)
    # prometheus_client: the folder must be emptied between runs (stale values would add up)
    for stale in Path(folder).glob("*.db"):
        stale.unlink()


def worker_ended(pid: int) -> None:
    """A worker is gone: its live gauges (sessions open now...) stop counting."""
    if ENV in os.environ:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def finished() -> None:
    """The workers' parent is done: remove the folder if compuerta made it."""
    if os.environ.get(_OWNED) and ENV in os.environ:
        shutil.rmtree(os.environ[ENV], ignore_errors=True)


def latest() -> bytes:
    """The text exposition of every metric of every gateway process."""
    if ENV not in os.environ:
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
