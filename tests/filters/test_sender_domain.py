"""sender.domain on real messages: impersonating display names, look-alike domains, several From."""

from __future__ import annotations

import pytest

from filters import sender_domain
from filters.sender_domain import Agreement, Settings
from gateway.model import Action, Context, Envelope, Message, Organization, Verdict
from gateway.pipeline import parse
from tests.conftest import FixedClock, load

HOME = Organization(("gto.gob.mx", "seg.gob.mx"))
RULE = "sender.domain"


def msg(case: str, sender: str = "ana@gto.gob.mx") -> Message:
    return parse(Message("T", Envelope(sender, ("luis@gto.gob.mx",)), raw=load(RULE, case)))


async def run(case: str, sender: str = "ana@gto.gob.mx", settings: Settings | None = None) -> Verdict | None:
    return await sender_domain.check(msg(case, sender), Context(settings or Settings(), FixedClock(), HOME))


@pytest.mark.parametrize(
    "case", ["ok", "display-shows-own-address", "several-from-with-sender", "uppercase-domain"]
)
async def test_institutional_sender_passes(case: str) -> None:
    assert await run(case) is None


async def test_external_envelope_sender() -> None:
    verdict = await run("ok", sender="ana@gmail.com")
    assert verdict == Verdict(Action.REJECT, RULE, "MAIL FROM <ana@gmail.com> externo / external")


async def test_quoted_address_in_display_name_is_not_the_address() -> None:
    # F1: the real address is mallory@evil.example whatever the name shows
    verdict = await run("display-quoted-external")
    assert verdict == Verdict(Action.REJECT, RULE, "From/Sender <mallory@evil.example> externo / external")


async def test_unquoted_address_before_angle_is_refused() -> None:
    # F1, CVE-2023-27043: Python reads alice@gto.gob.mx, clients send to mallory
    verdict = await run("display-unquoted-address")
    assert verdict is not None and verdict.action == Action.REJECT
    assert verdict.detail.startswith("From ilegible / unparseable From")


@pytest.mark.parametrize("case", ["display-impersonates-colleague", "display-encoded-impersonation"])
async def test_display_name_showing_another_institutional_address(case: str) -> None:
    verdict = await run(case)
    detail = "el nombre muestra / display name shows director@gto.gob.mx, la dirección es / address is ana@gto.gob.mx"
    assert verdict == Verdict(Action.REJECT, RULE, detail)


async def test_impersonation_action_is_configurable() -> None:
    verdict = await run("display-impersonates-colleague", settings=Settings(impersonation=Action.HOLD))
    assert verdict is not None and verdict.action == Action.HOLD


async def test_two_from_headers() -> None:
    assert await run("two-from-headers") == Verdict(Action.REJECT, RULE, "2 encabezados From / From headers")


async def test_no_from_header() -> None:
    assert await run("no-from") == Verdict(Action.REJECT, RULE, "0 encabezados From / From headers")


async def test_every_from_mailbox_must_be_institutional() -> None:
    verdict = await run("several-from-one-external")
    assert verdict is not None and verdict.action == Action.REJECT


async def test_several_from_need_a_sender_header() -> None:
    verdict = await run("several-from-without-sender")
    assert verdict == Verdict(
        Action.REJECT, RULE, "varios From sin un Sender / several From without one Sender"
    )


@pytest.mark.parametrize("case", ["lookalike-suffix", "lookalike-prefix"])
async def test_lookalike_domains(case: str) -> None:
    # F3: exact equality, never endswith / in
    verdict = await run(case)
    assert verdict is not None and "externo / external" in verdict.detail


async def test_double_at() -> None:
    verdict = await run("double-at")
    assert verdict is not None and "unparseable" in verdict.detail


async def test_envelope_and_from_must_agree() -> None:
    # ana@seg.gob.mx is institutional, but the From says gto.gob.mx (F4)
    verdict = await run("ok", sender="ana@seg.gob.mx")
    assert verdict == Verdict(
        Action.REJECT, RULE, "MAIL FROM <ana@seg.gob.mx> no coincide con From / does not match From"
    )


async def test_agreement_by_address() -> None:
    settings = Settings(agreement=Agreement.ADDRESS)
    assert await run("ok", sender="luis@gto.gob.mx") is None  # same domain is enough by default
    verdict = await run("ok", sender="luis@gto.gob.mx", settings=settings)
    assert verdict is not None and "no coincide" in verdict.detail


async def test_bounces_are_not_judged_unless_asked() -> None:
    assert await run("display-quoted-external", sender="") is None
    assert await run("display-quoted-external", sender="", settings=Settings(check_bounces=True)) is not None


async def test_profile_domains_replace_home_domains() -> None:
    settings = Settings(domains=("seg.gob.mx",))
    verdict = await run("ok", settings=settings)
    assert verdict == Verdict(Action.REJECT, RULE, "MAIL FROM <ana@gto.gob.mx> externo / external")


async def test_no_domains_configured_no_opinion() -> None:
    context = Context(Settings(), FixedClock(), Organization(()))
    assert await sender_domain.check(msg("display-quoted-external"), context) is None
