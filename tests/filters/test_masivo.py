"""masivo: own dependency plus outside, all-staff lists, and the mass-mailing right."""

from __future__ import annotations

from dataclasses import replace

from filters import _recipients, masivo
from gateway.model import Action, Context, Envelope, Message, Organization, Verdict
from tests.conftest import FixedClock, load
from tests.filters import directory

ORG = Organization(("gto.gob.mx",), "Gobierno de Guanajuato")


def ctx(settings: masivo.Settings | None = None) -> Context[masivo.Settings]:
    return Context(settings or masivo.Settings(), FixedClock(), ORG, directory.build())


def msg(rcpts: list[str], sender: str = directory.SENDER) -> Message:
    return Message("T1", Envelope(sender, tuple(rcpts)), load("masivo", "circular"))


def test_classifies_every_kind() -> None:
    found = _recipients.classify(
        ["s1@gto.gob.mx", "e1@gto.gob.mx", "a@cofoce.gob.mx", "x@hotmail.com", "y@prodigy.net.mx",
         "z@empresa.com.mx", "nuevo@gto.gob.mx"],
        directory.SENDER, ctx(),
    )  # fmt: skip
    K = _recipients.Kind
    assert found.by_kind[K.OWN] == ("s1@gto.gob.mx",)
    assert found.by_kind[K.HOME] == ("e1@gto.gob.mx", "nuevo@gto.gob.mx")
    assert found.by_kind[K.PEER] == ("a@cofoce.gob.mx",)
    assert found.by_kind[K.FREEMAIL] == ("x@hotmail.com", "y@prodigy.net.mx")
    assert found.by_kind[K.EXTERNAL] == ("z@empresa.com.mx",)


async def test_own_and_outside_past_the_threshold_is_held() -> None:
    verdict = await masivo.check(msg(directory.own(30) + directory.other(20)), ctx())
    assert verdict == Verdict(
        Action.HOLD, "masivo", "su dependencia y 20 fuera de ella: 50 destinatarios (mínimo 50)"
    )


async def test_own_dependency_only_is_not_a_masivo() -> None:
    assert await masivo.check(msg(directory.own(60)), ctx()) is None


async def test_below_the_threshold_is_everyday_mail() -> None:
    assert await masivo.check(msg(directory.own(20) + directory.other(29)), ctx()) is None


async def test_threshold_is_per_profile() -> None:
    criteria = _recipients.Criteria(min_recipients=2)
    settings = replace(masivo.Settings(), criteria=criteria)
    verdict = await masivo.check(msg(directory.own(1) + ["a@cofoce.gob.mx"]), ctx(settings))
    assert verdict == Verdict(
        Action.HOLD, "masivo", "su dependencia y 1 fuera de ella: 2 destinatarios (mínimo 2)"
    )


async def test_all_staff_list_is_held() -> None:
    verdict = await masivo.check(msg(["todos@gto.gob.mx"]), ctx())
    assert verdict == Verdict(Action.HOLD, "masivo", "lista de todo el personal todos@gto.gob.mx")


async def test_past_the_limit_with_the_right_is_held() -> None:
    rcpts = [f"p{i}@gto.gob.mx" for i in range(501)]
    verdict = await masivo.check(msg(rcpts, "difusion@gto.gob.mx"), ctx())
    assert verdict == Verdict(Action.HOLD, "masivo", "501 destinatarios > 500 (derecho de envío masivo)")
