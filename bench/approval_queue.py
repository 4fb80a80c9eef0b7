"""`python -m bench.approval_queue [--held N]`: the approval queue with N held masivos (10,000).

Fills a fresh SQLite store through Store.hold (one commit each, as the gateway does), serves
the real web app with uvicorn, logs in, and times the pages approvers use: the first page of
the queue, a deep page, a sender filter, a subject search, the detail of one message, and the
JSON API listing. Prints min/median/max milliseconds of 20 requests each. Measures, asserts
nothing: timing belongs here, not in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from gateway import web
from gateway.approval import auth
from gateway.clock import SystemClock
from gateway.config import build
from gateway.model import Action, Envelope, HeldMessage, User, Verdict
from gateway.outcome import Services
from gateway.pipeline import Environment
from gateway.store import Store, open_store
from relay.transport import MemoryTransport

RAW = b"From: a@gto.gob.mx\r\nSubject: Aviso\r\n\r\n" + b"Texto del aviso.\r\n" * 200


async def fill(store: Store, count: int) -> float:
    started = time.perf_counter()
    at = datetime(2026, 11, 2, 16, tzinfo=UTC)
    for i in range(count):
        sender = f"remitente{i % 500}@gto.gob.mx"
        rcpts = tuple(f"p{j}@gto.gob.mx" for j in range(60))
        held = HeldMessage(f"M{i}", Envelope(sender, rcpts), RAW,
                           (Verdict(Action.HOLD, "masivo", "all-staff list todos@gto.gob.mx"),),
                           at + timedelta(seconds=i), f"Aviso número {i}", at + timedelta(days=2),
                           dependency=f"dep{i % 40}", required_roles=("dgtit",),
                           classes=(("home", 50), ("own", 10)))  # fmt: skip
        await store.hold(held)
    return time.perf_counter() - started


async def timed(client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None) -> list[float]:
    times = []
    for _ in range(20):
        started = time.perf_counter()
        response = await client.get(path, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return times


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        store = await open_store(url)
        services = Services(
            Environment(build({"store": {"url": url}}), SystemClock()), store, MemoryTransport()
        )
        print(f"filled {count} held messages in {await fill(store, count):.1f} s")
        password = auth.hash_password("contraseña de medición")
        await store.add_user(User("dgtit1", ("dgtit",), "", True, password), datetime.now(UTC))
        token = auth.new_token()
        await store.update_user("dgtit1", "api_token_hash", auth.token_hash(token), datetime.now(UTC))
        server, task = await web.start(web.build(services), "127.0.0.1", 0)
        base = f"http://127.0.0.1:{web.bound_port(server)}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            form = await client.get("/ingresar")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf is not None
            await client.post("/ingresar", data={"csrf": csrf.group(1), "usuario": "dgtit1",
                                                 "contrasena": "contraseña de medición"})  # fmt: skip
            pages = {
                "queue, first page (50)": "/retenidos",
                "queue, page 100": "/retenidos?desde=4950",
                "queue, sender filter": "/retenidos?remitente=remitente7@gto.gob.mx",
                "queue, subject search": "/retenidos?asunto=n%C3%BAmero%209999",
                "detail of one message": "/retenidos/C-005000",
            }
            for title, path in pages.items():
                report(title, await timed(client, path))
            report(
                "JSON API, first 50",
                await timed(client, "/api/v1/held", {"Authorization": f"Bearer {token}"}),
            )
        server.should_exit = True
        await task
        await store.close()


def report(title: str, times: list[float]) -> None:
    print(
        f"{title:28s} min {min(times):7.1f} ms  median {statistics.median(times):7.1f} ms  max {max(times):7.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--held", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().held))
