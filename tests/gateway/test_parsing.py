"""gateway.parsing: large messages parsed in threads, side by side within a budget of bytes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from prometheus_client import REGISTRY

from gateway import pipeline
from gateway.model import Envelope, Message
from gateway.parsing import INLINE_BELOW, Parser
from tests.conftest import message

LINE = "Informe de actividades del trimestre, sin anexos.\r\n"


def _large(subject: str) -> Message:
    raw = message(subject, LINE * (INLINE_BELOW // len(LINE) + 10))
    return Message(subject, Envelope("ana@gto.gob.mx", ("luis@gto.gob.mx",)), raw)


class _Gate:
    """pipeline.parse, run only once the test opens the gate; counts the parses under way."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, msg: Message) -> Message:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            assert self.open.wait(30)
            return pipeline.parse(msg)
        finally:
            with self._lock:
                self.running -= 1


async def _settle() -> None:
    """Let the tasks started so far take their turn or queue for it (a few loop steps)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def _until(ready: Callable[[], bool]) -> None:
    """Wait for the parser threads to reach a state (they start on their own schedule)."""
    for _ in range(1000):
        if ready():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the parser threads never got there")


async def test_large_messages_parse_side_by_side_while_they_fit_in_the_budget() -> None:
    waits = REGISTRY.get_sample_value("compuerta_parse_wait_seconds_count") or 0.0
    gate = _Gate()
    parser = Parser(threads=4, parse=gate)
    messages = [_large(f"M{n}") for n in range(3)]
    size = len(messages[0].raw)
    tasks = [asyncio.create_task(parser.parse(m, budget=2 * size + 100)) for m in messages]
    await _until(lambda: gate.running == 2)
    await _settle()
    assert parser.in_use == 2 * size  # two in the threads' hands, the third waits its turn
    assert not any(t.done() for t in tasks)
    gate.open.set()
    parsed = await asyncio.gather(*tasks)
    assert [p.id for p in parsed] == ["M0", "M1", "M2"]
    assert all(p.view is not None and p.view.parts for p in parsed)
    assert gate.most == 2 and parser.in_use == 0
    # every large message's wait for its turn is in compuerta_parse_wait_seconds
    assert REGISTRY.get_sample_value("compuerta_parse_wait_seconds_count") == waits + 3


async def test_a_message_over_the_budget_waits_for_the_others_and_runs_alone() -> None:
    gate = _Gate()
    parser = Parser(threads=4, parse=gate)
    first, big, after = _large("A"), _large("B"), _large("C")
    budget = len(first.raw) + 100
    running = asyncio.create_task(parser.parse(first, budget))
    await _until(lambda: gate.running == 1)
    waiting = asyncio.create_task(parser.parse(big, budget // 2))  # bigger than its budget
    await _settle()
    later = asyncio.create_task(parser.parse(after, budget))  # first come, first served
    await _settle()
    assert not waiting.done() and not later.done() and gate.running == 1
    gate.open.set()
    assert [m.id for m in await asyncio.gather(running, waiting, later)] == ["A", "B", "C"]
    assert gate.most == 1 and parser.in_use == 0


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    gate = _Gate()
    parser = Parser(threads=2, parse=gate)
    first, dropped, kept = _large("A"), _large("B"), _large("C")
    budget = len(first.raw) + 100
    running = asyncio.create_task(parser.parse(first, budget))
    await _until(lambda: gate.running == 1)
    cancelled = asyncio.create_task(parser.parse(dropped, budget))
    waiting = asyncio.create_task(parser.parse(kept, budget))
    await _settle()
    cancelled.cancel()
    await _settle()
    assert cancelled.cancelled() and parser.in_use == len(first.raw)
    gate.open.set()
    assert [m.id for m in await asyncio.gather(running, waiting)] == ["A", "C"]
    assert parser.in_use == 0


async def test_a_session_cancelled_mid_parse_returns_the_share_when_the_thread_is_done() -> None:
    gate = _Gate()
    parser = Parser(threads=2, parse=gate)
    msg = _large("A")
    task = asyncio.create_task(parser.parse(msg, 10 * len(msg.raw)))
    await _until(lambda: gate.running == 1)
    task.cancel()
    await _settle()
    assert parser.in_use == len(msg.raw)  # the thread still holds the message
    gate.open.set()
    await _until(lambda: parser.in_use == 0)


async def test_small_messages_are_parsed_on_the_loops_thread_large_ones_in_a_parser_thread() -> None:
    threads: list[str] = []

    def parse(msg: Message) -> Message:
        threads.append(threading.current_thread().name)
        return pipeline.parse(msg)

    parser = Parser(threads=1, parse=parse)
    small = Message("S", Envelope("ana@gto.gob.mx", ("luis@gto.gob.mx",)), message())
    assert (await parser.parse(small, 1000)).view is not None
    assert (await parser.parse(_large("L"), 1000)).view is not None
    assert threads[0] == threading.current_thread().name
    assert threads[1].startswith("compuerta-parse")
