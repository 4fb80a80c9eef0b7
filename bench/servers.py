"""Start and stop the processes under measurement, and read their CPU time and memory.

Trusts /proc (Linux). Each server is a child process on a free loopback port: the upstream
sink (Postfix's smtp-sink, or bench.sink), the bare proxy (bench.bare_proxy) and the gateway
(``compuerta serve`` with a generated configuration). Hands Servers to bench.suite.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
_TICK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A running child process that listens on ``port``."""

    name: str
    process: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def cpu(self) -> float:
        """CPU seconds (user + system) used so far by the process and its children."""
        return sum(_cpu(pid) for pid in _family(self.process.pid))

    def peak_rss(self) -> int:
        """Peak resident memory in bytes (VmHWM), summed over the process and its children."""
        return sum(_status(pid, "VmHWM") for pid in _family(self.process.pid))

    def rss(self) -> int:
        return sum(_status(pid, "VmRSS") for pid in _family(self.process.pid))


def machine_cpu() -> tuple[int, int]:
    """(all, idle) CPU ticks of the whole machine so far, from /proc/stat's first line."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks), ticks[3] + ticks[4]  # idle and iowait


def idle_since(before: tuple[int, int]) -> float:
    """The share of the machine's CPU time left idle since ``before`` (machine_cpu())."""
    now = machine_cpu()
    spent = now[0] - before[0]
    return (now[1] - before[1]) / spent if spent else 0.0


def _family(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return [pid, *children]


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def _status(pid: int, key: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _wait_for_banner(port: int, process: subprocess.Popen[bytes], name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
                if connection.recv(512).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not answer on port {port}")


def _start(name: str, command: list[str], port: int, log: Path, cwd: Path | None = None) -> Server:
    with open(log, "ab") as output:
        environment = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's code, not an installed one
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=cwd, env=environment)
    _wait_for_banner(port, process, name)
    return Server(name, process, port)


def have_smtp_sink() -> bool:
    return Path(SMTP_SINK).exists()


def sink(workdir: Path) -> Server:
    """The upstream: Postfix's smtp-sink, or the Python sink when Postfix is not installed."""
    port = free_port()
    if have_smtp_sink():
        user = ["-u", "nobody"] if os.geteuid() == 0 else []  # smtp-sink refuses to stay root
        return _start(
            "smtp-sink", [SMTP_SINK, *user, f"127.0.0.1:{port}", "1024"], port, workdir / "sink.log"
        )
    return _start("bench.sink", [sys.executable, "-m", "bench.sink", str(port)], port, workdir / "sink.log")


def bare_proxy(upstream: int, workdir: Path) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "bench.bare_proxy", str(port), str(upstream)]
    return _start("bare proxy", command, port, workdir / "bare.log")


def gateway(upstream: int, workdir: Path, extra: str = "", tag: str = "gateway") -> Server:
    """``compuerta serve`` with the default profile, relaying to ``upstream``."""
    port = free_port()
    folder = workdir / tag
    folder.mkdir(exist_ok=True)
    config = folder / "compuerta.toml"
    config.write_text(
        f'[smtp]\nlisten = "127.0.0.1:{port}"\n{extra}\n'
        f'[upstream]\naddress = "127.0.0.1:{upstream}"\n\n'
        f'[web]\nlisten = "127.0.0.1:{free_port()}"\n\n'
        f'[store]\nurl = "sqlite:///{folder / "compuerta.db"}"\n\n'
        '[organization]\nhome_domains = ["gto.gob.mx"]\n'
        # One bench sender stands for a whole office: the counters are kept (their cost is
        # measured) but 0 means no limit (001 VI's 30 a minute would stop the run at once).
        '[profile."rate.messages"]\nmax_per_minute = 0\n[profile."rate.recipients"]\nmax_per_day = 0\n'
    )
    command = [sys.executable, "-m", "gateway", "serve", "--config", str(config)]
    return _start(tag, command, port, folder / "gateway.log", cwd=folder)
