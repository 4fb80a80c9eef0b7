"""Parse messages off the event loop: several side by side, within a budget of bytes.

Trusts gateway.pipeline.parse, which never raises on bad input. A large message's parse is
mostly Python holding the GIL, with libmagic, zlib and the archive readers in between, which
release it; one parser thread at a time left those gaps idle (bench/: 1 MB mail, one process,
the machine ~21 % idle with one parser thread, ~11 % with two). Parses run side by side only
while the messages being parsed add up to no more than the budget (the largest message the
listener accepts), so memory stays what one largest message needs; a message over the budget
waits for the others and runs alone. Waiters are served first come, first served.
Small messages are parsed in place: the hop to a thread and back costs more than they do.
How long large messages wait for their turn: compuerta_parse_wait_seconds.
Hands parsed Messages to gateway.smtp and gateway.milter_session.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import os
from collections.abc import Callable

from gateway import metrics, pipeline
from gateway.model import Message

INLINE_BELOW = 256 << 10  # bytes: smaller messages are parsed on the loop's thread
THREADS = max(2, min(4, os.cpu_count() or 1))


class Parser:
    """One per process (gateway.outcome.Services): its threads and the bytes in their hands."""

    def __init__(self, threads: int = THREADS, parse: Callable[[Message], Message] = pipeline.parse) -> None:
        self._parse = parse
        self._threads = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="compuerta-parse")
        self.in_use = 0  # bytes of the messages being parsed now
        self._waiting: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    async def parse(self, msg: Message, budget: int) -> Message:
        """``msg`` parsed; at most ``budget`` bytes of messages are in the threads' hands at once."""
        if len(msg.raw) < INLINE_BELOW:
            return self._parse(msg)
        share = max(1, min(len(msg.raw), budget))
        loop = asyncio.get_running_loop()
        asked = loop.time()
        await self._take(share, budget)
        metrics.PARSE_WAIT_SECONDS.observe(loop.time() - asked)
        try:
            running = self._threads.submit(self._parse, msg)
        except BaseException:
            self._give(share, budget)
            raise

        def done(_: concurrent.futures.Future[Message]) -> None:
            # the share comes back when the thread is done, even if this task was cancelled first
            try:
                loop.call_soon_threadsafe(self._give, share, budget)
            except RuntimeError:
                pass  # the loop is closed (the process is stopping): nobody waits for a turn

        running.add_done_callback(done)
        return await asyncio.wrap_future(running)

    async def _take(self, share: int, budget: int) -> None:
        if not self._waiting and self.in_use + share <= budget:
            self.in_use += share
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append((share, turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.cancelled():
                self._waiting.remove((share, turn))
                self._give(0, budget)  # those behind it may fit now
            else:  # granted just before the cancel
                self._give(share, budget)
            raise

    def _give(self, share: int, budget: int) -> None:
        self.in_use -= share
        while self._waiting:
            wanted, turn = self._waiting[0]
            if self.in_use + wanted > budget and self.in_use > 0:
                return
            self._waiting.popleft()
            self.in_use += wanted
            turn.set_result(None)
