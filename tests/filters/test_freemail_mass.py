"""freemail.mass: a masivo with public freemail recipients is refused (001 VI)."""

from __future__ import annotations

from filters import freemail_mass
from gateway.config import build
from gateway.model import Action, Context, Envelope, Message, Organization, Verdict
from tests.conftest import FixedClock, load
from tests.filters import directory

ORG = Organization(("gto.gob.mx",))


def ctx() -> Context[freemail_mass.Settings]:
    return Context(freemail_mass.Settings(), FixedClock(), ORG, directory.build())


def msg(rcpts: list[str]) -> Message:
    return Message("T1", Envelope(directory.SENDER, tuple(rcpts)), load("freemail.mass", "convocatoria"))


async def test_masivo_with_freemail_is_refused() -> None:
    verdict = await freemail_mass.check(msg(directory.own(40) + directory.freemail(10)), ctx())
    assert verdict == Verdict(
        Action.REJECT, "freemail.mass", "10 destinatario(s) de correo público en un envío masivo"
    )


async def test_freemail_in_ordinary_mail_is_allowed() -> None:
    assert await freemail_mass.check(msg(directory.own(3) + directory.freemail(2)), ctx()) is None


async def test_masivo_without_freemail_is_not_this_rule() -> None:
    assert await freemail_mass.check(msg(directory.own(40) + directory.other(10)), ctx()) is None


def test_criteria_follow_the_masivo_rule() -> None:
    config = build({"profile": {"masivo": {"criteria": {"min_recipients": 7}}}})
    assert config.profile.freemail_mass.criteria.min_recipients == 7
