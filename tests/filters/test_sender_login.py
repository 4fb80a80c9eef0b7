"""sender.login (003 5.6.7): the authenticated login sends only in its own name."""

from __future__ import annotations

from dataclasses import replace
from email.utils import getaddresses

from filters import sender_login
from gateway.model import (
    Account,
    Action,
    Context,
    Directory,
    Envelope,
    Message,
    Organization,
    Verdict,
)
from gateway.pipeline import parse
from tests.conftest import FixedClock, load

ORG = Organization(("gto.gob.mx", "seg.gto.gob.mx"))
DIRECTORY = Directory({"ana@gto.gob.mx": Account("ana@gto.gob.mx", send_as=("Difusion@gto.gob.mx",))})


def ctx(settings: sender_login.Settings | None = None) -> Context[sender_login.Settings]:
    return Context(settings or sender_login.Settings(), FixedClock(), ORG, DIRECTORY)


def envelope_only(sender: str, login: str | None) -> Message:
    return Message("T1", Envelope(sender, ("luis@gto.gob.mx",), login=login))


def whole(case: str, sender: str, login: str | None) -> Message:
    return parse(replace(envelope_only(sender, login), raw=load("sender.login", case)))


async def test_someone_elses_envelope_sender_refused() -> None:
    verdict = await sender_login.check(envelope_only("director@gto.gob.mx", "ana@gto.gob.mx"), ctx())
    assert verdict == Verdict(Action.REJECT, "sender.login", "director@gto.gob.mx no es de ana@gto.gob.mx")


async def test_own_address_any_case_passes() -> None:
    assert await sender_login.check(envelope_only("Ana@GTO.gob.mx", "ana@gto.gob.mx"), ctx()) is None


async def test_bare_login_owns_its_local_part_in_every_home_domain() -> None:
    assert await sender_login.check(envelope_only("ana@seg.gto.gob.mx", "ana"), ctx()) is None
    verdict = await sender_login.check(envelope_only("ana@gmail.com", "ana"), ctx())
    assert verdict is not None and verdict.rule == "sender.login"


async def test_directory_send_as_grants_a_shared_mailbox() -> None:
    msg = whole("shared-mailbox", "difusion@gto.gob.mx", "ana@gto.gob.mx")
    assert await sender_login.check(msg, ctx()) is None


async def test_from_header_of_someone_else_refused() -> None:
    msg = whole("from-someone-else", "ana@gto.gob.mx", "ana@gto.gob.mx")
    assert await sender_login.check(msg, ctx()) == Verdict(
        Action.REJECT, "sender.login", "director@gto.gob.mx no es de ana@gto.gob.mx"
    )
    assert await sender_login.check(msg, ctx(sender_login.Settings(check_from_header=False))) is None


async def test_own_from_header_passes() -> None:
    assert await sender_login.check(whole("own-address", "ana@gto.gob.mx", "ana"), ctx()) is None


async def test_no_login_and_null_sender_are_not_judged() -> None:
    assert await sender_login.check(envelope_only("director@gto.gob.mx", None), ctx()) is None
    assert await sender_login.check(envelope_only("", "ana@gto.gob.mx"), ctx()) is None


async def test_action_comes_from_settings() -> None:
    verdict = await sender_login.check(
        envelope_only("x@gto.gob.mx", "ana"), ctx(sender_login.Settings(action=Action.HOLD))
    )
    assert verdict is not None and verdict.action == Action.HOLD


async def test_from_display_name_confusion_refused() -> None:
    # THREATS.md F1: the standard library reads ana@ out of the unquoted display name, while the
    # mail client shows and answers director@; the strict parser refuses the header instead
    for case in ("display-name-confusion", "comment-only-mailbox"):
        msg = whole(case, "ana@gto.gob.mx", "ana@gto.gob.mx")
        verdict = await sender_login.check(msg, ctx())
        assert verdict is not None and verdict.rule == "sender.login" and verdict.action == Action.REJECT, (
            case
        )
    # The standard library keeps only ana@ from the second one: it would have passed
    assert [a for _, a in getaddresses(["ana@gto.gob.mx, (director@gto.gob.mx)"]) if a] == ["ana@gto.gob.mx"]
