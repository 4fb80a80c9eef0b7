"""The same gateway on SQLite and on PostgreSQL: messages/s with each store, same machine, same run.

Run: `python -m bench.stores` (bench/run includes it). Starts PostgreSQL with
scripts/start-postgres when COMPUERTA_TEST_PG is not set, makes a fresh database per run, and
drives `compuerta serve` with bench/load.py: clean 10 KB mail (each message costs a decision-log
row, group-committed) and held masivos (each costs a commit of its own before its 250).
Prints a Markdown table: median (min-max) over the runs.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import asyncpg

from bench import corpus, load, servers

RUNS = 3
SCENARIOS = (
    ("10 KB clean, 16 sessions", corpus.plain(), 16, 1500),
    ("masivo held, 4 sessions", corpus.held(), 4, 150),
)


def _admin_url() -> str:
    url = os.environ.get("COMPUERTA_TEST_PG")
    if url:
        return url
    done = subprocess.run([str(servers.ROOT / "scripts" / "start-postgres")], capture_output=True, text=True,
                          check=True)  # fmt: skip
    return done.stdout.strip()


async def _create(admin_url: str) -> str:
    name = f"compuerta_bench_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(admin_url)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    base, _, query = admin_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")


async def _drop(admin_url: str, url: str) -> None:
    name = url.split("?")[0].rsplit("/", 1)[1]
    connection = await asyncpg.connect(admin_url)
    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await connection.close()


def _gateway(store_url: str, sink: servers.Server, workdir: Path, tag: str) -> servers.Server:
    """``compuerta serve`` as bench/servers.py starts it, on the store under test."""
    port, folder = servers.free_port(), workdir / tag
    folder.mkdir()
    config = folder / "compuerta.toml"
    config.write_text(
        f'[smtp]\nlisten = "127.0.0.1:{port}"\n[upstream]\naddress = "127.0.0.1:{sink.port}"\n'
        f'[web]\nlisten = "127.0.0.1:{servers.free_port()}"\n[store]\nurl = "{store_url}"\n'
        '[organization]\nhome_domains = ["gto.gob.mx"]\n'
    )
    command = [sys.executable, "-m", "gateway", "serve", "--config", str(config)]
    return servers._start(tag, command, port, folder / "gateway.log", cwd=folder)


def _measure(store: str, admin_url: str, workdir: Path, run: int) -> list[float]:
    url = (
        f"sqlite:///{workdir / f'{store}-{run}.db'}" if store == "sqlite" else asyncio.run(_create(admin_url))
    )
    sink = servers.sink(workdir)
    gateway = _gateway(url, sink, workdir, f"{store}-{run}")
    try:
        load.run(gateway.port, [corpus.plain()], 4, 40)  # warm up pools
        return [
            load.run(gateway.port, [sample], sessions, count).rate for _, sample, sessions, count in SCENARIOS
        ]
    finally:
        gateway.stop()
        sink.stop()
        if store == "postgres":
            asyncio.run(_drop(admin_url, url))


def main() -> None:
    admin_url = _admin_url()
    rates: dict[str, list[list[float]]] = {"sqlite": [], "postgres": []}
    with tempfile.TemporaryDirectory() as folder:
        for run in range(RUNS):
            for store, runs in rates.items():  # interleaved: drift on a shared machine hits both alike
                runs.append(_measure(store, admin_url, Path(folder), run))
    print("| scenario | SQLite msg/s | PostgreSQL msg/s | PostgreSQL / SQLite |")
    print("|---|---|---|---|")
    for index, (label, *_) in enumerate(SCENARIOS):
        sqlite = [r[index] for r in rates["sqlite"]]
        postgres = [r[index] for r in rates["postgres"]]
        ratio = statistics.median(postgres) / statistics.median(sqlite)
        print(f"| {label} | {_cell(sqlite)} | {_cell(postgres)} | {ratio:.2f} |")


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


if __name__ == "__main__":
    main()
