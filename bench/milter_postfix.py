"""`python -m bench.milter_postfix`: messages/s into a real Postfix, alone, with compuerta as its
milter, and with compuerta as its before-queue proxy, on this machine in one run.

Trusts the Postfix test harness (tests/integration/postfix.py: its own instance in a temporary
directory, loopback high ports) and bench.servers (smtp-sink, ``compuerta serve``). smtp-source
submits the same 10 KB message to Postfix; the figure is what the submitting clients see
(both compuerta modes work inside the SMTP session). Prints one line per placement.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench import corpus, load, servers
from tests.integration.postfix import Postfix, free_port

MILTER_MAIN = """
smtpd_milters = inet:127.0.0.1:{port}
milter_default_action = tempfail
milter_protocol = 6
"""
PROXY_MASTER = """
127.0.0.1:{public} inet n - n - 20 smtpd
    -o smtpd_proxy_filter=127.0.0.1:{filter}
    -o smtpd_proxy_options=speed_adjust
127.0.0.1:{reinject} inet n - n - 20 smtpd
    -o smtpd_proxy_filter=
    -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
    -o mynetworks=127.0.0.0/8
"""


def _postfix(sink: int, main: str = "", master: str = "", listener: bool = True, port: int = 0) -> Postfix:
    instance = Postfix.prepare()
    if port:
        instance.port = port
    instance.configure(sink, main, master, listener)
    instance.launch()
    return instance


def alone(sink: int, workdir: Path, run: Callable[[int], float]) -> float:
    instance = _postfix(sink)
    try:
        return run(instance.port)
    finally:
        instance.stop()


def milter(sink: int, workdir: Path, run: Callable[[int], float]) -> float:
    port = free_port()
    gateway = servers.gateway(sink, workdir, f'\n[milter]\nlisten = "inet:127.0.0.1:{port}"\n', "milter")
    try:
        instance = _postfix(sink, MILTER_MAIN.format(port=port))
        try:
            return run(instance.port)
        finally:
            instance.stop()
    finally:
        gateway.stop()


def proxy(sink: int, workdir: Path, run: Callable[[int], float]) -> float:
    public, reinject = free_port(), free_port()
    gateway = servers.gateway(reinject, workdir, "", "proxy")
    try:
        master = PROXY_MASTER.format(public=public, filter=gateway.port, reinject=reinject)
        instance = _postfix(sink, "", master, listener=False, port=public)
        try:
            return run(instance.port)
        finally:
            instance.stop()
    finally:
        gateway.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.milter_postfix", description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)  # bench/run gives each extra 5 min
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sample = corpus.plain()

    def run(port: int) -> float:
        load.smtp_source(port, sample, args.sessions, args.messages // 10)  # warm up
        return load.smtp_source(port, sample, args.sessions, args.messages).rate

    with tempfile.TemporaryDirectory(prefix="compuerta-bench-milter-") as folder:
        workdir = Path(folder)
        sink = servers.sink(workdir)
        try:
            for name, placement in (("postfix alone", alone), ("postfix + milter", milter),
                                    ("postfix + before-queue proxy", proxy)):  # fmt: skip
                rates = sorted(placement(sink.port, workdir, run) for _ in range(args.runs))
                print(f"{name}: {statistics.median(rates):.0f} msg/s (min {rates[0]:.0f}, max {rates[-1]:.0f};"
                      f" {args.messages} x 10 KB, {args.sessions} sessions)", flush=True)  # fmt: skip
        finally:
            sink.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
