"""filters._prefilter: the words derived from a pattern are ones every match really contains
(checked on hypothesis-generated matches of each content.chain pattern), and they are selective
enough to skip a pattern over ordinary text."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from filters import _fold, _prefilter
from filters.content_chain import SIGNS

PATTERNS = [pattern for patterns in SIGNS.values() for pattern in patterns]


def test_clauses_of_a_phrase_with_alternatives() -> None:
    assert set(_prefilter.clauses(r"\bsi no (?:lo |la )?(?:re)?envias\b")) == {
        # first, second and third words of every spelling; then the last three
        frozenset({b"si"}), frozenset({b"no"}), frozenset({b"envias", b"reenvias", b"lo", b"la"}),
        frozenset({b"si", b"no"}), frozenset({b"no", b"lo", b"la"}), frozenset({b"envias", b"reenvias"}),
    }  # fmt: skip


def test_only_whole_words_count() -> None:
    # no \b after "contact": "contacts" matches too, so "contact" is not a word a match must hold
    assert _prefilter.clauses(r"\bin your contact") == (frozenset({b"your"}), frozenset({b"in"}))
    assert _prefilter.clauses(r"\d+ copies\b") == (frozenset({b"copies"}),)
    assert _prefilter.clauses(r"\d+") == ()  # nothing known: every text is admitted


def test_case_folding_patterns_are_not_filtered() -> None:
    assert _prefilter.clauses(r"(?i)\bmala suerte\b") == ()
    assert _prefilter.admits((), set())


def test_words_split_at_dollar() -> None:
    # \b falls between a letter and "$", so "us$10" holds the whole word "us"
    assert _prefilter.words(b"pago us$10 hoy", [b"pago", b"us$10", b"hoy"]) == {b"pago", b"us", b"10", b"hoy"}


def test_every_chain_pattern_is_filtered() -> None:
    assert all(_prefilter.clauses(pattern) for pattern in PATTERNS)


def test_ordinary_text_skips_every_pattern() -> None:
    normal = _fold.fold("Le envío el informe semanal del presupuesto; favor de revisarlo. Atentamente")
    present = _prefilter.words(normal.encode(), normal.encode().split())
    assert not any(_prefilter.admits(_prefilter.clauses(p), present) for p in PATTERNS)


ASCII = st.characters(codec="ascii")
FILLER = st.text(st.sampled_from("abcdeilmnoprstuvy 0123456789$"), max_size=30)


@st.composite
def around_a_match(draw: st.DrawFn) -> tuple[str, str]:
    pattern = draw(st.sampled_from(PATTERNS))
    phrase = draw(st.from_regex(pattern, fullmatch=True, alphabet=ASCII))
    return pattern, _fold.fold(f"{draw(FILLER)} {phrase}{draw(FILLER)}")


@settings(max_examples=1500, deadline=None)
@given(around_a_match())
def test_a_pattern_that_matches_is_admitted(case: tuple[str, str]) -> None:
    pattern, normal = case
    if re.search(pattern, normal):
        assert _prefilter.admits(
            _prefilter.clauses(pattern), _prefilter.words(normal.encode(), normal.encode().split())
        )
