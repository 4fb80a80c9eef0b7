"""Generate SMTP load: Postfix's smtp-source when installed, else (and for latency) our own client.

Trusts the server under test only to speak SMTP. The Python client pipelines MAIL, RCPT and
DATA (RFC 2920) over persistent sessions, like Postfix's smtp client to a content filter, and
times each transaction from MAIL to the final reply. Hands a Load (counts, wall time,
latencies) to bench.suite.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.corpus import Sample

SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"


@dataclass
class Load:
    """What one load run did: reply counts, elapsed time, per-message latency in seconds."""

    messages: int = 0
    bytes: int = 0
    wall: float = 0.0
    accepted: int = 0
    held: int = 0
    refused: int = 0
    deferred: int = 0
    latencies: list[float] = field(default_factory=list)
    generator: str = "python"

    @property
    def rate(self) -> float:
        return self.messages / self.wall if self.wall else 0.0


def have_smtp_source() -> bool:
    return Path(SMTP_SOURCE).exists()


def smtp_source(port: int, sample: Sample, sessions: int, count: int) -> Load:
    """Send ``count`` copies of ``sample`` with ``sessions`` parallel sessions via smtp-source."""
    with tempfile.NamedTemporaryFile(suffix=".eml") as handle:
        # smtp-source appends CRLF to each line and dot-stuffs: give it LF-terminated lines
        handle.write(sample.data.replace(b"\r\n", b"\n"))
        handle.flush()
        command = [
            SMTP_SOURCE, "-d", "-s", str(sessions), "-m", str(count), "-F", handle.name,
            "-f", sample.mail_from, "-t", sample.rcpt_tos[0], "-M", "bench.localhost", f"127.0.0.1:{port}",
        ]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, timeout=900)
        wall = time.perf_counter() - started
    return Load(count, count * len(sample.data), wall, accepted=count, generator="smtp-source")


def run(port: int, samples: Sequence[Sample], sessions: int, count: int, rate: float | None = None) -> Load:
    """Send ``count`` messages, cycling through ``samples``, over ``sessions`` sessions.

    With ``rate``, messages are offered at that many per second in total (an open load below
    saturation, to measure latency without queueing); without it, as fast as replies come.
    """
    return asyncio.run(_run(port, samples, sessions, count, rate))


async def _run(port: int, samples: Sequence[Sample], sessions: int, count: int, rate: float | None) -> Load:
    prepared = [(sample, _payload(sample.data)) for sample in samples]
    load = Load()
    queue = iter(range(count))
    started = time.perf_counter()
    pace = None if rate is None else _Pace(started, 1.0 / rate)
    await asyncio.gather(*(_session(port, prepared, queue, load, pace) for _ in range(sessions)))
    load.wall = time.perf_counter() - started
    return load


@dataclass
class _Pace:
    """Message ``n`` may start at ``start + n * interval``."""

    start: float
    interval: float

    async def wait(self, index: int) -> None:
        delay = self.start + index * self.interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


def _payload(data: bytes) -> bytes:
    # RFC 5321 §4.5.2: transparency dots, then the terminating <CRLF>.<CRLF>
    stuffed = (b"\r\n" + data).replace(b"\r\n.", b"\r\n..")[2:]
    return stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n"


async def _session(
    port: int, prepared: list[tuple[Sample, bytes]], queue: Iterator[int], load: Load, pace: _Pace | None
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    try:
        await _reply(reader)
        writer.write(b"EHLO bench.localhost\r\n")
        await _reply(reader)
        for index in queue:
            if pace is not None:
                await pace.wait(index)
            sample, payload = prepared[index % len(prepared)]
            await _transaction(reader, writer, sample, payload, load)
        writer.write(b"QUIT\r\n")
        await _reply(reader)
    finally:
        writer.close()


async def _transaction(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sample: Sample, payload: bytes, load: Load
) -> None:
    started = time.perf_counter()
    commands = [f"MAIL FROM:<{sample.mail_from}>\r\n".encode()]
    commands += [f"RCPT TO:<{rcpt}>\r\n".encode() for rcpt in sample.rcpt_tos]
    writer.write(b"".join([*commands, b"DATA\r\n"]))  # RFC 2920: DATA may end a pipelined group
    codes = [(await _reply(reader))[0] for _ in commands]
    data_code, _ = await _reply(reader)
    if data_code == 354:
        writer.write(payload)
        code, text = await _reply(reader)
    else:
        code, text = next((c for c in codes if c >= 400), data_code), b""
        writer.write(b"RSET\r\n")
        await _reply(reader)
    load.latencies.append(time.perf_counter() - started)
    _count(load, code, text, len(sample.data))


def _count(load: Load, code: int, text: bytes, size: int) -> None:
    load.messages += 1
    load.bytes += size
    if code >= 500:
        load.refused += 1
    elif code >= 400:
        load.deferred += 1
    elif b"2.6.0" in text:
        load.held += 1
    else:
        load.accepted += 1


async def _reply(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            return int(line[:3]), line
