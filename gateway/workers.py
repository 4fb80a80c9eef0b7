"""Run ``[smtp] workers`` gateway processes that share the SMTP port, so every core takes mail.

Trusts a validated Config. The parent reserves the listening address (port 0 becomes a real
port), forks the workers before any event loop or thread exists, forwards SIGTERM, SIGINT and
SIGHUP to them, and starts a worker again if one dies; a worker whose parent dies gets SIGTERM.
Each worker opens its own listening socket with SO_REUSEPORT, so the kernel spreads connections
over the workers (a single shared socket lets one worker's accept loop take a whole burst of
connections). Workers share nothing but the store: held messages, deliveries, rate counters and
the decision log live there. Only worker 0 serves the web listener. Hands each worker to
gateway.server.serve().
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

from gateway import exposition
from gateway.config import Config, parse_address

log = logging.getLogger(__name__)

Serve = Callable[[Config, int], Coroutine[Any, Any, int]]
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_RESTART_DELAY = 1.0  # seconds before a worker that died is started again
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def reserve(listen: str) -> tuple[socket.socket, int]:
    """Bind (without listening) the SMTP address with SO_REUSEPORT; returns it and its port.

    Held by the parent so that the port stays ours while workers come and go; a socket that
    does not listen is given no connections.
    """
    host, port = parse_address(listen, "smtp.listen")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, port))
    return holder, int(holder.getsockname()[1])


def run(config: Config, serve: Serve) -> int:
    """Fork the workers and supervise them until a stop signal; returns the exit code."""
    exposition.share_across_workers()  # may start this process again, before anything is bound
    holder, port = reserve(config.smtp.listen)
    host, _ = parse_address(config.smtp.listen, "smtp.listen")
    shared = dataclasses.replace(config, smtp=dataclasses.replace(config.smtp, listen=f"[{host}]:{port}"))
    children: dict[int, int] = {}  # pid -> worker index
    stopping: list[int] = []
    for sig in _FORWARDED:
        signal.signal(sig, lambda number, _frame: _forward(number, children, stopping))
    for index in range(config.smtp.workers):
        children[_fork(shared, index, serve)] = index
    log.info("compuerta: %d workers on port %d", len(children), port)
    code = _supervise(shared, serve, children, stopping)
    holder.close()
    exposition.finished()
    return code


def _fork(config: Config, index: int, serve: Serve) -> int:
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    for sig in _FORWARDED:
        signal.signal(sig, signal.SIG_DFL)
    _end_with(parent)
    code = 1
    try:
        code = asyncio.run(serve(config, index))
    except BaseException:
        log.exception("worker %d failed", index)
    finally:
        logging.shutdown()
        os._exit(code)


def _end_with(parent: int) -> None:
    """Have the kernel send this worker SIGTERM when the parent dies (killed, crashed), so that no
    orphaned worker keeps serving the port with what may be an old configuration (Linux only)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # it died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def _forward(number: int, children: dict[int, int], stopping: list[int]) -> None:
    if number != signal.SIGHUP:
        stopping.append(number)
    for pid in list(children):
        try:
            os.kill(pid, number)
        except ProcessLookupError:
            pass


def _supervise(config: Config, serve: Serve, children: dict[int, int], stopping: list[int]) -> int:
    worst = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        index = children.pop(pid, None)
        if index is None:
            continue
        exposition.worker_ended(pid)
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            worst = max(worst, 1 if code < 0 else code)
        else:
            log.error("worker %d (pid %d) ended with %d; starting it again", index, pid, code)
            time.sleep(_RESTART_DELAY)
            children[_fork(config, index, serve)] = index
    return worst
