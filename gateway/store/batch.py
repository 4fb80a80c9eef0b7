"""Group commit: calls that arrive while a batch is being written go together in the next one.

Trusts its ``run`` to handle a whole batch in one transaction and to return one result per item,
in order. Hands each caller its own result, or the batch's exception. On a busy gateway the
sessions waiting on the store share one BEGIN/COMMIT (and one fsync) instead of paying one each;
on an idle one a batch is a single call, written at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

_In = TypeVar("_In")
_Out = TypeVar("_Out")


class Batcher(Generic[_In, _Out]):
    def __init__(self, run: Callable[[list[_In]], Awaitable[list[_Out]]], limit: int = 64) -> None:
        self._run = run
        self._limit = limit
        self._pending: list[tuple[_In, asyncio.Future[_Out]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: _In) -> _Out:
        """``item``'s result, once the batch it joined is committed."""
        future: asyncio.Future[_Out] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def wait(self) -> None:
        """Until every submitted item is written (before the database closes)."""
        if self._drainer is not None:
            await asyncio.wait([self._drainer])

    async def _drain(self) -> None:
        batch: list[tuple[_In, asyncio.Future[_Out]]] = []
        try:
            while self._pending:
                batch, self._pending = self._pending[: self._limit], self._pending[self._limit :]
                try:
                    results = await self._run([item for item, _ in batch])
                except Exception as error:  # noqa: BLE001 - each caller gets it and decides
                    _fail(batch, error)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():  # a caller that gave up (its client went away)
                        future.set_result(result)
        finally:
            # Cancelled (shutdown): nobody may wait forever on a batch that will never run
            _fail(batch + self._pending, RuntimeError("store closing"))
            self._pending = []


def _fail(batch: list[tuple[_In, asyncio.Future[_Out]]], error: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
