"""Crash safety: SIGKILL a real `compuerta serve` at random moments while mail keeps coming.

A client sends numbered messages one after another and, like an MTA, retries every message that
did not get its 250. A killer SIGKILLs the gateway at moments drawn from a seeded RNG: in the
middle of DATA, while a slow upstream holds the relay, right after the end of DATA of a message
that will be held (the hold commit), or at a random time; then it starts the gateway again on
the same store. At the end every message the client saw 250 for must be at the sink or in the
held queue, and a message may exist twice only if one of its attempts never got its 250.
Style rule 5; DESIGN.md "Guarantees: no loss". Set COMPUERTA_CRASH_SEED to replay a run.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import sqlite3
import sys
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.gateway.test_server import free_port, wait_for_port

SEED = int(os.environ.get("COMPUERTA_CRASH_SEED", "9"))
MESSAGES = 40  # at least; the client keeps sending until the killer is done
KILLS = int(os.environ.get("COMPUERTA_CRASH_KILLS", "12"))
MOMENTS = ("data", "relay", "hold", "random")


@dataclass
class Run:
    """What the client, the sink and the killer share."""

    rng: random.Random
    want: str = ""  # the moment the killer waits for
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    killed: asyncio.Event = field(default_factory=asyncio.Event)
    done: bool = False  # the killer has finished
    acked: dict[int, str] = field(default_factory=dict)  # number -> "relay" or "held"
    # attempts that sent the whole message but got no 250: each may have left one copy
    failed: Counter[int] = field(default_factory=Counter)
    at_sink: list[bytes] = field(default_factory=list)
    kills: Counter[str] = field(default_factory=Counter)

    async def moment(self, name: str) -> None:
        """Called where ``name`` happens: if the killer waits for it, let it kill now."""
        if self.want == name:
            self.want = ""
            self.reached.set()
            await asyncio.wait_for(self.killed.wait(), 30)


class SlowSink:
    """The upstream MTA: keeps what it queues; can hold a DATA until the gateway was killed."""

    def __init__(self, run: Run) -> None:
        self.run = run

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await self.run.moment("relay")
        self.run.at_sink.append(envelope.original_content or b"")
        return "250 2.0.0 Ok: queued"


def message(number: int, held: bool) -> tuple[str, bytes]:
    rcpt = f"ciudadano{number}@gmail.com" if held else "luis@gto.gob.mx"
    body = "".join(f"Línea {i} del mensaje {number}.\r\n" for i in range(40))
    data = (
        f"From: ana@gto.gob.mx\r\nTo: {rcpt}\r\nSubject: Oficio {number}\r\n"
        f"Message-ID: <crash-{number}@gto.gob.mx>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()
    return rcpt, data


async def command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes) -> str:
    writer.write(line)
    await writer.drain()
    while True:
        text = await asyncio.wait_for(reader.readline(), 30)
        if not text:
            raise ConnectionResetError("gateway went away")
        if text[3:4] != b"-":
            return text.decode()


async def attempt(port: int, number: int, run: Run) -> str | None:
    """One try at sending message ``number``: "relay", "held", or None (no 250: retry)."""
    held = number % 3 == 0
    rcpt, data = message(number, held)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return None
    try:
        await asyncio.wait_for(reader.readline(), 30)
        for line in (b"EHLO client\r\n", b"MAIL FROM:<ana@gto.gob.mx>\r\n", f"RCPT TO:<{rcpt}>\r\n".encode()):
            await command(reader, writer, line)
        if not (await command(reader, writer, b"DATA\r\n")).startswith("354"):
            return None
        half = len(data) // 2
        writer.write(data[:half])
        await writer.drain()
        await run.moment("data")
        writer.write(data[half:] + b".\r\n")
        await writer.drain()
        run.failed[number] += 1  # until the 250 arrives, a copy may exist upstream or held
        if held:
            await run.moment("hold")
        reply = await command(reader, writer, b"")
    except (OSError, TimeoutError):
        return None
    finally:
        writer.close()
    if not reply.startswith("250 "):
        return None
    run.failed[number] -= 1
    return "held" if re.search(r"C-\d+", reply) else "relay"


async def client(port: int, run: Run) -> None:
    number = 0
    while number < MESSAGES or not run.done:
        while (result := await attempt(port, number, run)) is None:
            await asyncio.sleep(0.05)  # an MTA's retry: a pause, not a wait for a time to pass
        run.acked[number] = result
        number += 1


class Gateway:
    """`compuerta serve` as a child process that can be killed and started again."""

    def __init__(self, config: Path, folder: Path, port: int) -> None:
        self.config, self.folder, self.port = config, folder, port
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        log = await asyncio.to_thread((self.folder / f"gateway-{self.starts}.log").open, "wb")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "serve", "--config", str(self.config),
            cwd=self.folder, stdout=log, stderr=log, env={"PYTHONPATH": str(Path.cwd())},
        )  # fmt: skip
        log.close()
        await wait_for_port(self.port, self.process)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no handler, no flush, no goodbye
        await self.process.wait()

    async def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        await asyncio.wait_for(self.process.wait(), 60)


async def killer(gateway: Gateway, run: Run) -> None:
    for _ in range(KILLS):
        moment = run.rng.choice(MOMENTS)
        if moment == "random":
            await asyncio.sleep(run.rng.uniform(0.0, 0.4))
        else:
            run.reached.clear()
            run.want = moment
            try:
                await asyncio.wait_for(run.reached.wait(), 20)
            except TimeoutError:
                run.want = ""
                continue
            if moment == "hold":
                await asyncio.sleep(run.rng.uniform(0.0, 0.02))  # anywhere around the commit
        await gateway.kill()
        run.kills[moment] += 1
        run.killed.set()
        await asyncio.sleep(0)
        run.killed.clear()
        await gateway.start()
        await asyncio.sleep(run.rng.uniform(0.1, 0.5))  # let some mail through between kills


def config_file(folder: Path, smtp_port: int, web_port: int, sink_port: int) -> Path:
    path = folder / "compuerta.toml"
    path.write_text(
        f'[smtp]\nlisten = "127.0.0.1:{smtp_port}"\n[web]\nlisten = "127.0.0.1:{web_port}"\n'
        f'[upstream]\naddress = "127.0.0.1:{sink_port}"\ntimeout = 20.0\n'
        f'[store]\nurl = "sqlite:///{folder / "compuerta.db"}"\n'
        '[organization]\nhome_domains = ["gto.gob.mx"]\n'
        # one freemail recipient makes a list: every third message is held (a hold commit)
        '[profile."freemail.list"]\nthreshold = 1\n'
        # one sender sends hundreds of messages a minute here: 001 VI's rate limits are not the point
        '[profile."rate.messages"]\nenabled = false\n[profile."rate.abuse"]\nenabled = false\n'
    )
    return path


def numbers(raws: list[bytes]) -> Counter[int]:
    found: Counter[int] = Counter()
    for raw in raws:
        match = re.fullmatch(
            r"<crash-(\d+)@gto.gob.mx>", BytesHeaderParser().parsebytes(raw)["Message-ID"] or ""
        )
        if match:
            found[int(match.group(1))] += 1
    return found


def held_numbers(database: Path) -> Counter[int]:
    with sqlite3.connect(database) as connection:
        return numbers([bytes(row[0]) for row in connection.execute("SELECT raw FROM held")])


async def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path) -> None:
    run = Run(random.Random(SEED))
    loop = asyncio.get_running_loop()
    sink = await loop.create_server(
        lambda: SMTP(SlowSink(run), hostname="sink", data_size_limit=None, enable_SMTPUTF8=True, loop=loop),
        "127.0.0.1",
        0,
    )
    smtp_port = free_port()
    config = config_file(tmp_path, smtp_port, free_port(), sink.sockets[0].getsockname()[1])
    gateway = Gateway(config, tmp_path, smtp_port)
    await gateway.start()
    sender = loop.create_task(client(smtp_port, run))
    await killer(gateway, run)
    run.done = True
    await asyncio.wait_for(sender, 90)
    await gateway.stop()
    sink.close()

    relayed, held = numbers(run.at_sink), held_numbers(tmp_path / "compuerta.db")
    lost = [n for n in run.acked if relayed[n] + held[n] == 0]
    twice = [n for n in run.acked if relayed[n] + held[n] > 1 + run.failed[n]]
    summary = (
        f"seed={SEED} sent={len(run.acked)} kills={dict(run.kills)} unacknowledged="
        f"{sum(run.failed.values())} copies={sum(relayed.values()) + sum(held.values())}"
    )
    print(summary)  # RELIABILITY.md quotes this line
    assert lost == [], summary
    assert twice == [], summary
    assert sum(run.kills.values()) >= KILLS - 2, summary
    assert {n for n, how in run.acked.items() if how == "held"} == {n for n in run.acked if n % 3 == 0}
