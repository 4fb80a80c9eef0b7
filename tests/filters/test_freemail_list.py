"""freemail.list: many public freemail recipients in one message are held (001 VI)."""

from __future__ import annotations

from filters import freemail_list
from gateway.model import Action, Context, Envelope, Message, Organization, Verdict
from tests.conftest import FixedClock, load
from tests.filters import directory


def ctx() -> Context[freemail_list.Settings]:
    return Context(freemail_list.Settings(), FixedClock(), Organization(("gto.gob.mx",)), directory.build())


def msg(rcpts: list[str]) -> Message:
    return Message("T1", Envelope(directory.SENDER, tuple(rcpts)), load("freemail.list", "boletin"))


async def test_many_freemail_recipients_are_held() -> None:
    verdict = await freemail_list.check(msg(directory.freemail(12)), ctx())
    assert verdict == Verdict(Action.HOLD, "freemail.list", "12 destinatarios de correo público (máximo 9)")


async def test_a_few_freemail_recipients_pass() -> None:
    assert await freemail_list.check(msg(directory.freemail(3) + directory.own(20)), ctx()) is None
