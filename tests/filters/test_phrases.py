"""filters._phrases finds exactly what one alternation of the patterns finds: the same leftmost
match, the first pattern on a tie, with the literal-first rewriting and the word filter."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from filters import _fold, _phrases, _prefilter
from filters.content_chain import SIGNS


def found(patterns: list[str], normal: str) -> str | None:
    encoded = normal.encode()
    match = _phrases.search(_phrases.prepare(patterns), normal, _prefilter.words(encoded, encoded.split()))
    return None if match is None else f"{match.start()}:{match.group()}"


def expected(patterns: list[str], normal: str) -> str | None:
    match = re.search("|".join(patterns), normal)
    return None if match is None else f"{match.start()}:{match.group()}"


def test_variants_open_with_a_literal() -> None:
    assert _phrases.variants(r"\b(?:re)?envia(?:lo|la)\b") == [r"\breenvia(?:lo|la)\b", r"\benvia(?:lo|la)\b"]
    assert _phrases.variants(r"\b(?:died|will die)\b") == [r"\bdied\b", r"\bwill die\b"]
    assert _phrases.variants(r"\b\d+ copies\b") == [r"\b\d+ copies\b"]
    assert _phrases.anchored(r"\bmala suerte\b") == r"mala suerte(?<!\wmala suerte)\b"
    assert _phrases.anchored(r"\be ?mail") == r"e(?<!\we) ?mail"  # "?" takes the space only
    assert _phrases.anchored(r"\btod[oa]s") == r"tod(?<!\wtod)[oa]s"


def test_ties_go_to_the_first_pattern() -> None:
    assert found([r"\bsin\b", r"\bsin corazon\b"], "eres sin corazon") == "5:sin"
    assert found([r"\b(?:sin corazon|sin)\b"], "eres sin corazon") == "5:sin corazon"
    assert found([r"\bcorazon\b", r"\bsin\b"], "eres sin corazon") == "5:sin"


def test_a_word_boundary_is_kept() -> None:
    assert found([r"\bmala suerte\b"], "tamala suerte") is None
    assert found([r"\bmala suerte\b"], "us$mala suerte") == "3:mala suerte"
    assert found([r"\b(?:re)?envialo\b"], "preenvialo renvialo reenvialo") == "20:reenvialo"


WORDS = st.sampled_from(["a", "en", "la", "sin", "no", "mala", "suerte", "reenvia", "envialo", "esta",
                         "cadena", "10", "$", "us$", "tamala", "te", "will", "die", "died"])  # fmt: skip
PHRASES = st.sampled_from([p for patterns in SIGNS.values() for p in patterns]).flatmap(
    lambda pattern: st.from_regex(pattern, fullmatch=True, alphabet=st.characters(codec="ascii"))
)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(list(SIGNS.values())), st.lists(WORDS | PHRASES, max_size=30), st.booleans())
def test_search_is_the_alternation(patterns: tuple[str, ...], pieces: list[str], glued: bool) -> None:
    normal = _fold.fold(("" if glued else " ").join(pieces))
    assert found(list(patterns), normal) == expected(list(patterns), normal)
