"""`compuerta serve` as a real process: demo mode, and SIGTERM letting a session finish."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

from tests.conftest import Sink, message, started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_process(*args: str, cwd: Path) -> asyncio.subprocess.Process:
    """``compuerta *args`` as its own process; stopped at the end of the test if still running."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"PYTHONPATH": str(Path.cwd())},
    )  # fmt: skip
    started(process.pid)
    return process


async def wait_for_port(port: int, process: asyncio.subprocess.Process) -> None:
    for _ in range(300):
        if process.returncode is not None:
            raise AssertionError(f"gateway exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)  # waiting for a real process to bind, not for time to pass
            continue
        writer.close()
        return
    raise AssertionError(f"nothing listening on {port}")


async def command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes) -> bytes:
    writer.write(line)
    await writer.drain()
    reply = b""
    while True:
        text = await reader.readline()
        reply += text
        if text[3:4] != b"-":
            return reply


async def transaction(port: int, data: bytes) -> bytes:
    """One whole SMTP transaction from ana to luis over a fresh connection; the final reply."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readline()
    for line in (
        b"EHLO t\r\n",
        b"MAIL FROM:<ana@gto.gob.mx>\r\n",
        b"RCPT TO:<luis@gto.gob.mx>\r\n",
        b"DATA\r\n",
    ):
        await command(reader, writer, line)
    reply = await command(reader, writer, data + b".\r\n")
    await command(reader, writer, b"QUIT\r\n")
    writer.close()
    return reply


async def test_sigterm_lets_the_session_in_flight_finish(tmp_path: Path, sink: Sink) -> None:
    smtp_port, web_port = free_port(), free_port()
    config = tmp_path / "c.toml"
    config.write_text(
        f'[smtp]\nlisten = "127.0.0.1:{smtp_port}"\n[upstream]\naddress = "127.0.0.1:{sink.port}"\n'
        f'[web]\nlisten = "127.0.0.1:{web_port}"\n[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n'
    )
    process = await start_process("serve", "--config", str(config), cwd=tmp_path)
    await wait_for_port(smtp_port, process)
    reader, writer = await asyncio.open_connection("127.0.0.1", smtp_port)
    await reader.readline()
    for line in (b"EHLO t\r\n", b"MAIL FROM:<ana@gto.gob.mx>\r\n", b"RCPT TO:<luis@gto.gob.mx>\r\n"):
        await command(reader, writer, line)
    process.send_signal(signal.SIGTERM)
    assert (await command(reader, writer, b"DATA\r\n")).startswith(b"354")
    reply = await command(reader, writer, message() + b".\r\n")
    assert reply.startswith(b"250 ")
    writer.close()
    assert await asyncio.wait_for(process.wait(), 30) == 0
    assert len(sink.handler.received) == 1
    _, stderr = await process.communicate()
    assert b"stopped" in stderr


async def test_demo_mode_delivers_into_a_folder(tmp_path: Path) -> None:
    smtp_port, web_port = free_port(), free_port()
    config = tmp_path / "c.toml"
    config.write_text(f'[smtp]\nlisten = "127.0.0.1:{smtp_port}"\n[web]\nlisten = "127.0.0.1:{web_port}"\n')
    process = await start_process("serve", "--demo", "--config", str(config), cwd=tmp_path)
    await wait_for_port(smtp_port, process)
    assert (await transaction(smtp_port, message())).startswith(b"250 ")
    process.send_signal(signal.SIGTERM)
    stdout, stderr = await process.communicate()
    assert b"swaks" in stdout and b"python3 -c" in stdout, stderr[-600:]
    delivered = list((tmp_path / "demo-mail").glob("*.eml"))
    assert len(delivered) == 1 and b"Subject: Prueba" in delivered[0].read_bytes()


async def test_a_taken_port_ends_startup_with_one_line_and_nothing_left_running(
    tmp_path: Path, sink: Sink
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = int(taken.getsockname()[1])
    config = tmp_path / "c.toml"
    config.write_text(
        f'[smtp]\nlisten = "127.0.0.1:{port}"\n[upstream]\naddress = "127.0.0.1:{sink.port}"\n'
        f'[web]\nlisten = "127.0.0.1:{free_port()}"\n[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n'
    )
    process = await start_process("serve", "--config", str(config), cwd=tmp_path)
    _, stderr = await asyncio.wait_for(process.communicate(), 60)  # the store's threads stopped too
    taken.close()
    assert process.returncode == 1
    assert b"address already in use" in stderr
    assert b"Traceback" not in stderr, stderr.decode()
