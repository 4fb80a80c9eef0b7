"""How the shell shows the delivery of a released masivo: a summary, and a bar while waiting.

Trusts the Progress the store computes (gateway.store.progress). ``wait`` delivers from this
shell as well (the outbox's claim lets it share the jobs with any running gateway, each job
sent once) until every job has finished, redrawing the bar as it goes.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import TextIO

from gateway.model import Progress
from gateway.outcome import Services
from gateway.progress import KIND_ES, STATUS_ES

WIDTH = 30


def render(progress: Progress) -> str:
    """The summary of ``compuerta held show``: totals, then one line per domain."""
    head = (f"Entrega: {progress.delivered} de {progress.total} entregados, {progress.failed} fallidos, "
            f"{progress.pending} pendientes ({progress.percent} %)")  # fmt: skip
    lines = [head]
    for domain in progress.domains:
        kind = KIND_ES[domain.kind]
        reply = f"  [{domain.last_reply}]" if domain.last_reply and domain.status != "delivered" else ""
        lines.append(f"  {domain.domain} ({kind}): {domain.delivered}/{domain.total} "
                     f"{STATUS_ES.get(domain.status, domain.status)}{reply}")  # fmt: skip
    return "\n".join(lines)


def bar(progress: Progress) -> str:
    filled = progress.percent * WIDTH // 100
    return (f"[{'#' * filled}{'.' * (WIDTH - filled)}] {progress.delivered + progress.failed}"
            f"/{progress.total} ({progress.percent} %)")  # fmt: skip


async def wait(services: Services, ticket: str, out: TextIO, poll: float = 1.0) -> Progress | None:
    """Deliver and redraw until every job of ``ticket`` has finished (4xx retries included)."""
    owner = f"{socket.gethostname()}-cli{os.getpid()}"
    end = "\r" if out.isatty() else "\n"
    while True:
        if services.worker is not None:
            await services.worker.drain(owner)
        progress = await services.store.progress(ticket)
        if progress is None:
            return None
        out.write(bar(progress) + end)
        out.flush()
        if progress.done:
            out.write("\n" if end == "\r" else "")
            return progress
        await asyncio.sleep(poll)  # a deferred job is due later, or another node has it
