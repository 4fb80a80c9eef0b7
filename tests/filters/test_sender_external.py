"""sender.external: accounts without Internet access write only to institutional domains."""

from __future__ import annotations

import pytest

from filters import sender_external
from filters.sender_external import Settings
from gateway.model import Action, Context, Message, Organization, Verdict
from tests.conftest import FixedClock
from tests.filters.test_sender_account import DIRECTORY, envelope

RULE = "sender.external"


async def run(case: str, settings: Settings | None = None) -> Verdict | None:
    context = Context(settings or Settings(), FixedClock(), Organization(("gto.gob.mx",)), DIRECTORY)
    return await sender_external.check(Message("T", envelope(RULE, case)), context)


@pytest.mark.parametrize(
    "case",
    [
        "authorised-to-internet",
        "not-authorised-internal",
        "not-authorised-peer-domain",
        "not-authorised-uppercase-home",
    ],
)
async def test_allowed(case: str) -> None:
    assert await run(case) is None


@pytest.mark.parametrize(
    ("case", "recipient"),
    [
        ("not-authorised-to-internet", "contacto@empresa.com.mx"),
        ("not-authorised-lookalike", "x@gto.gob.mx.evil.example"),
    ],
)
async def test_refused(case: str, recipient: str) -> None:
    assert await run(case) == Verdict(Action.REJECT, RULE, f"capturista@gto.gob.mx -> {recipient}")


async def test_also_allowed_domains() -> None:
    assert await run("not-authorised-to-internet", Settings(also_allowed=("empresa.com.mx",))) is None
