"""content.chain over its corpus: chain letters (Spanish, English; QP, base64, HTML) are held,
ordinary institutional mail passes; precision and recall measured on the whole folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from filters import content_chain
from filters.content_chain import Settings
from gateway.model import Action, Context, Envelope, Message, Verdict
from gateway.pipeline import parse
from tests.conftest import MESSAGES, FixedClock, load

RULE = "content.chain"
CASES = sorted(p.stem for p in (MESSAGES / RULE).glob("*.eml"))
CHAINS = [c for c in CASES if c.startswith("chain-")]
ORDINARY = [c for c in CASES if c.startswith("ok-")]


async def run(case: str, settings: Settings | None = None) -> Verdict | None:
    msg = parse(Message("T", Envelope("ana@gto.gob.mx", ("luis@gto.gob.mx",)), raw=load(RULE, case)))
    return await content_chain.check(msg, Context(settings or Settings(), FixedClock()))


def test_corpus_is_balanced() -> None:
    assert len(CHAINS) >= 20 and len(ORDINARY) >= 20 and len(CASES) == len(CHAINS) + len(ORDINARY)


@pytest.mark.parametrize("case", CHAINS)
async def test_chain_letters_held(case: str) -> None:
    verdict = await run(case)
    assert verdict is not None and verdict.action == Action.HOLD and verdict.rule == RULE


@pytest.mark.parametrize("case", ORDINARY)
async def test_ordinary_mail_passes(case: str) -> None:
    assert await run(case) is None


async def test_precision_and_recall(capsys: pytest.CaptureFixture[str]) -> None:
    hits = {case: await run(case) is not None for case in CASES}
    true_positive = sum(hits[c] for c in CHAINS)
    false_positive = sum(hits[c] for c in ORDINARY)
    precision = true_positive / max(1, true_positive + false_positive)
    recall = true_positive / len(CHAINS)
    with capsys.disabled():
        print(f"\ncontent.chain: {len(CHAINS)} chain letters, {len(ORDINARY)} ordinary;"
              f" precision {precision:.2f}, recall {recall:.2f}")  # fmt: skip
    assert precision == 1.0 and recall == 1.0


async def test_detail_names_the_signs() -> None:
    verdict = await run("chain-es-amigas")
    assert verdict == Verdict(
        Action.HOLD, RULE,
        "reenvío / forwarding: «envia este mensaje»; personas / people: «a 10 amigas»; "
        "amenaza / threat: «mala suerte»; promesa / promise: «en los proximos 10 minutos»",
    )  # fmt: skip


async def test_forwarding_alone_is_not_a_chain() -> None:
    # THREATS.md C1's control: asking a colleague to forward yesterday's mail
    assert await run("ok-es-reenvio-ayer") is None


async def test_reject_is_configurable() -> None:
    verdict = await run("chain-en-bad-luck", Settings(action=Action.REJECT))
    assert verdict is not None and verdict.action == Action.REJECT


def test_normalise_folds_accents_case_and_punctuation() -> None:
    assert content_chain.normalise("¡¡REENVÍALO\u00a0a   10 AMIGAS!!") == "reenvialo a 10 amigas"


def test_corpus_files_are_real_messages() -> None:
    for case in CASES:
        raw = (Path(MESSAGES) / RULE / f"{case}.eml").read_bytes()
        assert raw.startswith(b"From: ") and b"\nSubject: " in raw and b"\nMessage-ID: " in raw
