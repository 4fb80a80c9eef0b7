"""Run the gateway: wire config, store, transport, SMTP listener and web app in one event loop.

Trusts a validated Config. Owns the process lifecycle: SIGTERM/SIGINT stop accepting, let the
sessions in flight finish (bounded by ``[smtp] shutdown_grace``), flush the store, exit 0;
SIGHUP re-reads the configuration file (gateway.reload) and keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from gateway import delivery, demo, metrics, milter, moderation, reload, smtp, web, workers
from gateway.clock import SystemClock
from gateway.config import Config, parse_address
from gateway.directory import LiveDirectory
from gateway.outcome import Services
from gateway.pipeline import Environment
from gateway.store import open_store
from gateway.usage import StoreMeter
from relay.transport import SMTPTransport

log = logging.getLogger(__name__)
SWITCH_INTERVAL = 0.001  # seconds (Python's default: 0.005)


def run(config: Config, demo_folder: Path | None = None) -> int:
    """Serve in this process, or in ``[smtp] workers`` processes sharing the SMTP port."""
    if config.smtp.workers > 1 and demo_folder is None:
        return workers.run(config, _worker)
    return asyncio.run(serve(config, demo_folder))


async def _worker(config: Config, index: int) -> int:
    return await serve(config, worker=index)


async def serve(config: Config, demo_folder: Path | None = None, worker: int | None = None) -> int:
    """Serve until SIGTERM or SIGINT; returns the process exit code.

    As one of several workers (gateway.workers), the SMTP socket is opened with SO_REUSEPORT
    and only worker 0 serves the web listener.
    """
    signals = _Signals.install()  # first: a signal during startup is not lost
    metrics.BUILD.labels(**metrics.BUILD_LABELS).set(1)
    metrics.CONFIG_LOADED.set_to_current_time()
    sink = None
    if demo_folder is not None:
        sink, port = await demo.start(demo_folder)
        upstream = dataclasses.replace(config.upstream, address=f"127.0.0.1:{port}")
        config = dataclasses.replace(config, upstream=upstream)
    store = await open_store(config.store.url, config.store.decision_batch)
    # Should startup fail (a port taken, the store unreadable), what it had started is stopped
    # again, so that the process exits with its one-line reason and nothing left running.
    started = contextlib.AsyncExitStack()
    started.push_async_callback(store.close)
    if sink is not None:
        started.callback(sink.close)
    try:
        host, port = parse_address(config.upstream.address, "upstream.address")
        transport = SMTPTransport(host, port, config.upstream.pool_size, config.upstream.timeout,
                                  config.upstream.helo)  # fmt: skip
        signer = delivery.signer(config)
        # The outbox has its own connections, so a 20,000-recipient release never starves the relay.
        outbox_transport = SMTPTransport(host, port, config.outbox.connections, config.upstream.timeout,
                                         config.upstream.helo)  # fmt: skip
        # One delivery worker per node (in SMTP worker 0): its leases are named after the node.
        deliverer = (
            None if worker else delivery.Worker(store, outbox_transport, SystemClock(), config, signer)
        )
        directories = LiveDirectory(store)
        await directories.reload()
        watcher = asyncio.get_running_loop().create_task(directories.watch(config.store.directory_reload))
        started.callback(watcher.cancel)
        meter = StoreMeter(store, transport, config.smtp.hostname)
        env = Environment(config, SystemClock(), meter=meter, directories=directories)
        services = Services(env, store, transport, config.smtp.hostname, signer, deliverer)
        if deliverer is not None:
            deliverer.on_done = functools.partial(moderation.delivered, services)
            await deliverer.start()
            started.push_async_callback(deliverer.stop)
        listen_host, listen_port = parse_address(config.smtp.listen, "smtp.listen")
        server, handler = await smtp.start(services, listen_host, listen_port, reuse_port=worker is not None)
        started.callback(server.close)
        milter_server = await _start_milter(services, worker)
        web_host, web_port = parse_address(config.web.listen, "web.listen")
        sweeper = None
        if worker:  # workers other than 0: no web listener (one port, one /metrics), no sweeper
            web_server, web_task = None, None
        else:
            web_server, web_task = await web.start(web.build(services), web_host, web_port)
            sweeper = asyncio.get_running_loop().create_task(moderation.sweep(services))
        bound = server.sockets[0].getsockname()
        log.info("compuerta listening on %s:%d, upstream %s, store %s (config: %s)",
                 bound[0], bound[1], config.upstream.address, config.store.url, config.source)  # fmt: skip
        if milter_server is not None:
            log.info("milter listening on %s", config.milter.listen)
        if demo_folder is not None:
            print(_demo_text(config, bound, demo_folder), flush=True)
    except BaseException:
        await started.aclose()
        raise
    # What startup built (modules, tables, the directory) lives as long as the process: keep it
    # out of the garbage collector's full passes, which otherwise stop every session for
    # ~35 ms now and then (the p99 latency)
    gc.collect()
    gc.freeze()
    # Threads that take a lock and then need the GIL (SQLite's writer thread holds the write
    # lock between the statements of a script) wait for the loop thread to let go of it: up
    # to 5 ms by default, during which other workers wait for the lock. 1 ms bounds that.
    sys.setswitchinterval(SWITCH_INTERVAL)
    await signals.serve(services, handler)
    log.info("stopping: no new sessions; waiting for %d in flight", len(handler.active))
    server.close()
    if milter_server is not None:
        await milter_server.stop(config.smtp.shutdown_grace)
    if web_server is not None and web_task is not None:
        web_server.should_exit = True
    await _drain(handler, config.smtp.shutdown_grace)
    if web_task is not None:
        await web_task
    if sweeper is not None:
        sweeper.cancel()
    if deliverer is not None:
        await deliverer.stop()
    await outbox_transport.close()
    watcher.cancel()
    await transport.close()
    await store.close()
    if sink is not None:
        sink.close()
    log.info("stopped")
    return 0


async def _start_milter(services: Services, worker: int | None) -> milter.MilterServer | None:
    """The milter listener when configured: inet shares its port across workers like SMTP;
    a UNIX socket path can have one owner only, worker 0."""
    settings = services.env.config.milter
    if not settings.listen or (worker and settings.listen.startswith("unix:")):
        return None
    return await milter.start(services, settings, reuse_port=worker is not None)


@dataclass
class _Signals:
    """SIGTERM/SIGINT stop the gateway; each SIGHUP reloads the configuration, one at a time."""

    stop: asyncio.Event
    hangups: asyncio.Queue[None]

    @classmethod
    def install(cls) -> _Signals:
        signals = cls(asyncio.Event(), asyncio.Queue())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, signals.stop.set)
        loop.add_signal_handler(signal.SIGHUP, signals.hangups.put_nowait, None)
        return signals

    async def serve(self, services: Services, handler: smtp.Handler) -> None:
        """Until stopped, reloading on SIGHUP (also one received during startup)."""
        path = reload.source_path(services.env.config)
        reloader = asyncio.get_running_loop().create_task(self._reload(services, handler, path))
        await self.stop.wait()
        reloader.cancel()

    async def _reload(self, services: Services, handler: smtp.Handler, path: str | None) -> None:
        while True:
            await self.hangups.get()
            await reload.reload(services, handler, path)


async def _drain(handler: smtp.Handler, grace: float) -> None:
    """Let sessions finish their transaction; after ``grace`` seconds, close them (MTA retries)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while handler.active and loop.time() < deadline:
        await asyncio.sleep(0.05)
    for session in list(handler.active):
        if session.transport is not None:
            session.transport.close()


def _demo_text(config: Config, bound: tuple[str, int], folder: Path) -> str:
    domain = config.organization.home_domains[0] if config.organization.home_domains else "example.gob.mx"
    return demo.INSTRUCTIONS.format(
        listen=f"{bound[0]}:{bound[1]}", folder=folder, host=bound[0], port=bound[1], domain=domain
    )
