"""/metrics counts the mail of every worker, not only of the one serving the web listener."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Sink, message, send
from tests.integration.compuerta import Compuerta, sample

MESSAGES = 12


async def test_metrics_add_up_every_worker(sink: Sink, compuerta: Callable[[int], Compuerta]) -> None:
    gateway = compuerta(sink.port)
    gateway.write_config(smtp="workers = 2\n")
    await asyncio.to_thread(gateway.start)
    await asyncio.to_thread(gateway.wait_log, "compuerta listening on", 2)  # both workers
    for n in range(MESSAGES):  # one connection each: the kernel spreads them over the workers
        code, text = await send(gateway.smtp_port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], message(f"m{n}"))
        assert code == 250, text
    assert len(sink.handler.received) == MESSAGES

    families = await asyncio.to_thread(gateway.scrape)
    assert sample(families, "compuerta_messages_total", action="accept") == MESSAGES
    assert sample(families, "compuerta_smtp_sessions_total", result="accepted") >= MESSAGES
    assert sample(families, "compuerta_stage_seconds_count", stage="data") == MESSAGES
    assert sample(families, "compuerta_build_info", version="0.1.0") == 1
    assert sample(families, "compuerta_smtp_sessions_active") >= 0
    assert all("pid" not in s.labels for f in families.values() for s in f.samples)

    folder = re.search(r"metrics shared by the workers in (\S+);", gateway.log())
    assert folder is not None, gateway.log()
    assert await asyncio.to_thread(gateway.stop) == 0
    assert not Path(folder.group(1)).exists()  # compuerta made it, compuerta removed it
