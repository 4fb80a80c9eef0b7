"""Apply a new configuration to the running gateway (SIGHUP) without dropping a session.

Trusts nothing in the file: it is read and validated exactly as at startup (gateway.config),
and a bad file is refused, logged and counted while the running configuration stays. Settings
bound at startup (the listen addresses, the store, upstream, the milter listener) keep their
running values; a change there is logged as needing a restart. Hands the new Environment to the one Services
object that every session, route and worker reads at each step, and the listener's settings
(trusted networks, SIZE) to the SMTP handler for the sessions opened from then on.
"""

from __future__ import annotations

import dataclasses
import logging

from gateway import config as config_module
from gateway import metrics, smtp
from gateway.config import Config, ConfigError
from gateway.directory import LiveDirectory
from gateway.model import Directory
from gateway.outcome import Services
from gateway.store import StoreError

log = logging.getLogger(__name__)


async def reload(services: Services, handler: smtp.Handler | None, path: str | None) -> bool:
    """Re-read ``path`` and apply it; False (and nothing changed) when it is refused."""
    if path is None:
        log.warning("reload: running on the embedded default; there is no file to re-read")
        return False
    try:
        fresh = config_module.load(path)
    except ConfigError as error:
        log.error("reload refused, the running configuration is kept: %s", error)
        metrics.CONFIG_RELOADS.labels(result="refused").inc()
        return False
    fresh = _keep_bound(services.env.config, fresh)
    directory = await _directory(services, fresh)
    services.env = dataclasses.replace(services.env, config=fresh, directory=directory)
    if handler is not None:
        handler.configure(fresh)
    metrics.CONFIG_RELOADS.labels(result="ok").inc()
    metrics.CONFIG_LOADED.set_to_current_time()
    log.info("configuration reloaded from %s", path)
    return True


def source_path(config: Config) -> str | None:
    """The file ``config`` was read from, or None for the embedded default."""
    return None if config.source.startswith("<") else config.source


def _keep_bound(running: Config, fresh: Config) -> Config:
    """``fresh`` with the settings that only a restart can change put back to their running values."""
    bound = {
        "smtp.listen": (running.smtp.listen, fresh.smtp.listen),
        "web.listen": (running.web.listen, fresh.web.listen),
        "store": (running.store, fresh.store),
        "upstream": (running.upstream, fresh.upstream),
        "milter": (running.milter, fresh.milter),
    }
    for key, (old, new) in bound.items():
        if old != new:
            log.warning("reload: %s changed; it takes effect at the next restart", key)
    return dataclasses.replace(
        fresh,
        smtp=dataclasses.replace(fresh.smtp, listen=running.smtp.listen),
        web=dataclasses.replace(fresh.web, listen=running.web.listen),
        store=running.store,
        upstream=running.upstream,
        milter=running.milter,
    )


async def _directory(services: Services, fresh: Config) -> Directory:
    """The directory (accounts, lists, peer domains) to run with after the reload: SIGHUP
    re-reads the live one from the store at once (it also reloads by itself when its version
    moves, gateway.directory)."""
    live = services.env.directories
    if isinstance(live, LiveDirectory):
        try:
            await live.reload(force=True)
        except StoreError as error:
            log.error("reload: directory not re-read, keeping version %d: %s", live.current.version, error)
    return services.env.directory
