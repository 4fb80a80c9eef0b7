"""sender.account against a directory: every account state, end dates in Mexico's calendar."""

from __future__ import annotations

import email
import email.utils
from datetime import UTC, date, datetime

import pytest

from filters import sender_account
from filters.sender_account import Settings
from gateway.model import (
    Account,
    AccountState,
    Action,
    Context,
    Directory,
    Envelope,
    Message,
    Organization,
    PeerDomain,
    Verdict,
)
from tests.conftest import FixedClock, load

RULE = "sender.account"
HOME = Organization(("gto.gob.mx",))
ACCOUNTS = (
    Account("ana@gto.gob.mx", "SFIA"),
    Account("investigada@gto.gob.mx", "SFIA", AccountState.SUSPENDED),
    Account("baja@gto.gob.mx", "SFIA", AccountState.DISABLED),
    Account("becario@gto.gob.mx", "SFIA", AccountState.TEMPORARY, date(2026, 11, 22)),
    Account("renuncia@gto.gob.mx", "SEG", AccountState.GRACE, date(2026, 12, 1)),
    Account("capturista@gto.gob.mx", "SEG", internet=False),
)
DIRECTORY = Directory(
    {a.address: a for a in ACCOUNTS},
    peers={"cofoce.gob.mx": PeerDomain("cofoce.gob.mx", ("admin@cofoce.gob.mx",))},
)


def envelope(rule: str, case: str) -> Envelope:
    """The envelope a mail client would give the message: From: as sender, To: as recipients."""
    parsed = email.message_from_bytes(load(rule, case))
    sender = email.utils.getaddresses(parsed.get_all("from", []))[0][1]
    return Envelope(sender, tuple(a for _, a in email.utils.getaddresses(parsed.get_all("to", []))))


async def run(case: str, settings: Settings | None = None, clock: FixedClock | None = None,
              directory: Directory = DIRECTORY) -> Verdict | None:  # fmt: skip
    context = Context(settings or Settings(), clock or FixedClock(), HOME, directory)
    return await sender_account.check(Message("T", envelope(RULE, case)), context)


@pytest.mark.parametrize("case", ["active", "grace", "external-sender"])
async def test_allowed(case: str) -> None:
    assert await run(case) is None


@pytest.mark.parametrize(
    ("case", "detail"),
    [
        ("suspended", "investigada@gto.gob.mx: cuenta suspendida / account suspended"),
        ("disabled", "baja@gto.gob.mx: cuenta deshabilitada / account disabled"),
        ("temporary", "becario@gto.gob.mx: cuenta temporal vencida el / account expired on 2026-11-22"),
    ],
)
async def test_refused(case: str, detail: str) -> None:
    assert await run(case) == Verdict(Action.REJECT, RULE, detail)


async def test_temporary_account_valid_through_its_last_day_in_mexico() -> None:
    # 2026-11-23 03:00 UTC is still 2026-11-22 21:00 in Mexico City: the last valid day
    assert await run("temporary", clock=FixedClock(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))) is None
    late = FixedClock(datetime(2026, 11, 23, 6, 1, tzinfo=UTC))
    assert await run("temporary", clock=late) is not None


async def test_grace_period_ends() -> None:
    # 000 norm 8: 15 days after the baja; the directory keeps the last day in ``expires``
    after = FixedClock(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    verdict = await run("grace", clock=after)
    assert verdict == Verdict(
        Action.REJECT, RULE, "renuncia@gto.gob.mx: cuenta en baja vencida el / account expired on 2026-12-01"
    )


async def test_unknown_sender_in_home_domain_refused_by_default() -> None:
    verdict = await run("unknown-home")
    assert verdict == Verdict(Action.REJECT, RULE, "nadie@gto.gob.mx: cuenta desconocida / unknown account")


async def test_unknown_sender_handling_is_configurable() -> None:
    assert await run("unknown-home", Settings(unknown=Action.ACCEPT)) is None
    verdict = await run("unknown-home", Settings(unknown=Action.HOLD))
    assert verdict is not None and verdict.action == Action.HOLD


async def test_no_directory_imported_no_opinion() -> None:
    assert await run("suspended", directory=Directory()) is None


def test_bad_timezone_named() -> None:
    assert sender_account.validate(Settings(timezone="Mars/Olympus")) == (
        "timezone", "Mars/Olympus", "an IANA time zone like America/Mexico_City",
    )  # fmt: skip
