"""compuerta as an administrator runs it, for tests: `python -m gateway serve --config FILE`.

A real process with a real configuration file, real listeners and real signals (SIGTERM stop,
SIGHUP reload); its log goes to a file the test can wait on and show when it fails. The
ports are fixed when the file is written, so the same process can be stopped and started
again on the same address (the MTA in front keeps retrying it).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.postfix import free_port

ROOT = Path(__file__).resolve().parents[2]


def config_text(smtp_port: int, web_port: int, upstream_port: int, database: Path, extra: str = "",
                smtp: str = "") -> str:  # fmt: skip
    """A configuration file; ``smtp`` adds lines to [smtp], ``extra`` adds tables at the end."""
    return (
        f'[smtp]\nlisten = "127.0.0.1:{smtp_port}"\nshutdown_grace = 5.0\n{smtp}\n'
        f'[upstream]\naddress = "127.0.0.1:{upstream_port}"\ntimeout = 20.0\n\n'
        f'[web]\nlisten = "127.0.0.1:{web_port}"\n\n'
        f'[store]\nurl = "sqlite:///{database}"\n\n'
        f'[organization]\nhome_domains = ["gto.gob.mx"]\n\n{extra}'
    )


@dataclass
class Compuerta:
    folder: Path
    upstream_port: int
    smtp_port: int = 0
    web_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.smtp_port = self.smtp_port or free_port()
        self.web_port = self.web_port or free_port()
        self.write_config()

    @property
    def config(self) -> Path:
        return self.folder / "compuerta.toml"

    @property
    def log_path(self) -> Path:
        return self.folder / "compuerta.log"

    def write_config(self, extra: str = "", smtp: str = "") -> None:
        database = self.folder / "compuerta.db"
        text = config_text(self.smtp_port, self.web_port, self.upstream_port, database, extra, smtp)
        self.config.write_text(text)

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--config", str(self.config)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self._wait_listening()

    def stop(self) -> int | None:
        """SIGTERM and wait (the gateway drains its sessions); kill only if it hangs."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            raise AssertionError(f"compuerta did not stop on SIGTERM{self.log()}") from None

    def hangup(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def log(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else "(none)"
        return "\n--- compuerta log ---\n" + text[-6000:]

    def wait_log(self, text: str, count: int = 1, timeout: float = 20) -> None:
        """Until ``text`` appears ``count`` times in the log (a reload is done when it says so)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_path.exists() and self.log_path.read_text(errors="replace").count(text) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not logged {count} time(s){self.log()}")

    def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.web_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode()

    def scrape(self) -> dict[str, Metric]:
        """/metrics parsed by prometheus_client's own parser, by family name."""
        status, text = self.get("/metrics")
        assert status == 200, text
        return {family.name: family for family in text_string_to_metric_families(text)}

    def _wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"compuerta exited with {self.process.returncode}{self.log()}")
            if _listening(self.smtp_port) and _listening(self.web_port):
                return
            time.sleep(0.05)
        raise AssertionError(f"compuerta did not listen{self.log()}")


def sample(families: dict[str, Metric], name: str, **labels: str) -> float:
    """The value of one sample (0 when absent); ``name`` is the sample's full name."""
    for family in families.values():
        for metric in family.samples:
            if metric.name == name and all(metric.labels.get(k) == v for k, v in labels.items()):
                return float(metric.value)
    return 0.0


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
