"""A held message answers 250 with its ticket once committed, whatever its notices do next."""

from __future__ import annotations

from pathlib import Path

from gateway.model import Action, Decision, Envelope, Message, Verdict
from gateway.outcome import Services, settle
from gateway.pipeline import Environment
from gateway.store import open_store
from relay.transport import SendResult
from tests.conftest import FixedClock, make_config, message


class ExplodingTransport:
    """An upstream seam that fails in a way nobody planned for (not an UpstreamError)."""

    def __init__(self) -> None:
        self.calls = 0

    async def send(
        self,
        mail_from: str,
        rcpt_tos: tuple[str, ...],
        data: bytes,
        crlf_clean: bool = False,
        dot_free: bool = False,
    ) -> SendResult:
        self.calls += 1
        raise RuntimeError("unexpected failure while sending a notice")

    async def close(self) -> None:
        return None


async def test_notice_failure_after_commit_still_answers_the_ticket(tmp_path: Path) -> None:
    config = make_config(tmp_path, 1)
    store = await open_store(config.store.url)
    transport = ExplodingTransport()
    services = Services(Environment(config, FixedClock()), store, transport)
    msg = Message("M1", Envelope("ana@gto.gob.mx", ("luis@gto.gob.mx",)), message())
    decision = Decision(Action.HOLD, (Verdict(Action.HOLD, "freemail.list", "12"),))
    reply = await settle(msg, decision, services)
    assert reply.startswith("250 2.6.0") and "C-000001" in reply
    assert transport.calls >= 1
    assert (await store.held("C-000001")) is not None
    await store.close()
