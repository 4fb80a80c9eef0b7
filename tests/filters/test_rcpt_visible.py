"""rcpt.visible: more than 5 addresses in To:/Cc: are tagged (001 VI asks for Bcc)."""

from __future__ import annotations

import pytest

from filters import rcpt_visible
from filters.rcpt_visible import Settings
from gateway.model import Action, Context, Envelope, Message, Verdict
from gateway.pipeline import parse
from tests.conftest import FixedClock, load

RULE = "rcpt.visible"


async def run(case: str, settings: Settings | None = None) -> Verdict | None:
    msg = parse(Message("T", Envelope("ana@gto.gob.mx", ("a@gto.gob.mx",)), raw=load(RULE, case)))
    return await rcpt_visible.check(msg, Context(settings or Settings(), FixedClock()))


@pytest.mark.parametrize("case", ["five-visible", "undisclosed-recipients", "commas-in-names"])
async def test_few_visible(case: str) -> None:
    assert await run(case) is None


@pytest.mark.parametrize("case", ["six-in-to", "three-to-three-cc", "group-of-six", "two-to-headers"])
async def test_six_visible_tagged(case: str) -> None:
    assert await run(case) == Verdict(Action.TAG, RULE, "6 > 5")


async def test_configurable_reject_and_limit() -> None:
    assert await run("six-in-to", Settings(action=Action.REJECT)) == Verdict(Action.REJECT, RULE, "6 > 5")
    assert await run("six-in-to", Settings(max_visible=10)) is None
