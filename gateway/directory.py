"""The directory the running gateway judges with, reloaded without a restart.

Trusts the store. Holds one frozen Directory snapshot and swaps it whole when the store's
directory version moves (checked every few seconds, and at once by ``reload()``, which the
SIGHUP handler may call), so every message sees one consistent directory from start to end.
Hands the snapshot to the pipeline (pipeline.DirectorySource).
"""

from __future__ import annotations

import asyncio
import logging

from gateway.model import Directory
from gateway.store import Store, StoreError

log = logging.getLogger(__name__)


class LiveDirectory:
    def __init__(self, store: Store, initial: Directory | None = None) -> None:
        self.store = store
        self._current = initial or Directory()
        self._loaded = initial is not None

    @property
    def current(self) -> Directory:
        return self._current

    async def reload(self, force: bool = False) -> bool:
        """Read the directory again if its version moved; True when the snapshot changed."""
        version = await self.store.directory_version()
        if self._loaded and not force and version == self._current.version:
            return False
        self._current = await self.store.directory()
        self._loaded = True
        directory = self._current
        log.info("directory version %d loaded: %d accounts, %d lists, %d peer domains",
                 directory.version, len(directory.accounts), len(directory.lists), len(directory.peers))  # fmt: skip
        return True

    async def watch(self, interval: float) -> None:
        """Reload whenever the version moves; runs until cancelled. A store error keeps the
        snapshot in use (the last good directory) and tries again next time."""
        while True:
            try:
                await self.reload()
            except StoreError as error:
                log.error("directory not reloaded, keeping version %d: %s", self._current.version, error)
            await asyncio.sleep(interval)
