"""rate.messages, rate.recipients and rate.abuse on a Usage snapshot (the store test checks the
authoritative, atomic consume)."""

from __future__ import annotations

from filters import rate_abuse, rate_messages, rate_recipients
from gateway.model import (
    Action,
    Context,
    Directory,
    DistributionList,
    Envelope,
    Message,
    Usage,
    Verdict,
)
from gateway.pipeline import parse
from tests.conftest import FixedClock, load

# 300 people in the list, luis among them: he counts once (001 VI counts people, not addresses)
LIST = DistributionList(
    "direccion@gto.gob.mx", tuple(f"p{i}@gto.gob.mx" for i in range(299)) + ("luis@gto.gob.mx",)
)
DIRECTORY = Directory(lists={LIST.address: LIST})


def msg(rule: str, case: str, rcpts: tuple[str, ...]) -> Message:
    return parse(Message("T", Envelope("ana@gto.gob.mx", rcpts), raw=load(rule, case)))


async def test_messages_per_minute() -> None:
    message = msg("rate.messages", "one-recipient", ("luis@gto.gob.mx",))
    settings = rate_messages.Settings()
    assert await rate_messages.check(message, Context(settings, FixedClock(), usage=Usage(29))) is None
    verdict = await rate_messages.check(message, Context(settings, FixedClock(), usage=Usage(30)))
    detail = "30 mensajes en el último minuto, límite 30 / 30 messages in the last minute"
    assert verdict == Verdict(Action.TEMPFAIL, "rate.messages", detail)


async def test_recipients_counted_after_expanding_lists() -> None:
    message = msg("rate.recipients", "list-and-member", ("direccion@gto.gob.mx", "luis@gto.gob.mx"))
    settings = rate_recipients.Settings()
    ok = Context(settings, FixedClock(), directory=DIRECTORY, usage=Usage(recipients_last_day=9_700))
    assert await rate_recipients.check(message, ok) is None
    over = Context(settings, FixedClock(), directory=DIRECTORY, usage=Usage(recipients_last_day=9_701))
    verdict = await rate_recipients.check(message, over)
    assert verdict == Verdict(
        Action.TEMPFAIL, "rate.recipients",
        "usó 9,701 de 10,000 destinatarios en las últimas 24 h, este mensaje suma 300 / "
        "used 9,701 of 10,000 recipients in the last 24 h, this message adds 300",
    )  # fmt: skip


async def test_recipients_at_mail_when_already_at_the_limit() -> None:
    at_mail = Message("T", Envelope("ana@gto.gob.mx"))
    settings = rate_recipients.Settings()
    assert (
        await rate_recipients.check(at_mail, Context(settings, FixedClock(), usage=Usage(0, 9_999))) is None
    )
    verdict = await rate_recipients.check(at_mail, Context(settings, FixedClock(), usage=Usage(0, 10_000)))
    assert verdict is not None and verdict.action == Action.TEMPFAIL


async def test_one_recipient_under_the_limit() -> None:
    message = msg("rate.recipients", "one-recipient", ("luis@gto.gob.mx",))
    context = Context(rate_recipients.Settings(), FixedClock(), usage=Usage(0, 9_999))
    assert await rate_recipients.check(message, context) is None


async def test_abuse_suspends_after_repeated_hits() -> None:
    message = msg("rate.abuse", "ordinary", ("luis@gto.gob.mx",))
    settings = rate_abuse.Settings()
    assert (
        await rate_abuse.check(message, Context(settings, FixedClock(), usage=Usage(limit_hits_last_hour=9)))
        is None
    )
    verdict = await rate_abuse.check(
        message, Context(settings, FixedClock(), usage=Usage(limit_hits_last_hour=10))
    )
    assert verdict == Verdict(
        Action.SUSPEND, "rate.abuse", "10 rechazos por límite en una hora / limit hits in one hour"
    )
    suspended = Context(settings, FixedClock(), usage=Usage(suspended=True))
    assert await rate_abuse.check(message, suspended) == Verdict(
        Action.SUSPEND, "rate.abuse", "cuenta suspendida / sender suspended"
    )


def test_expand_counts_each_person_once_and_survives_loops() -> None:
    loop_a = DistributionList("a@gto.gob.mx", ("b@gto.gob.mx", "x@gto.gob.mx"))
    loop_b = DistributionList("b@gto.gob.mx", ("a@gto.gob.mx", "X@gto.gob.mx", "y@gto.gob.mx"))
    directory = Directory(lists={"a@gto.gob.mx": loop_a, "b@gto.gob.mx": loop_b})
    assert directory.expand(["A@gto.gob.mx", "y@gto.gob.mx"]) == ("x@gto.gob.mx", "y@gto.gob.mx")
