"""filters._fold against its definition (THREATS.md C1): the Latin-1 tables and the NFKD
stretches give exactly what one NFKD over the whole text gives, for every code point and for
any text hypothesis builds."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters import _fold

EVERY_CODE_POINT = "".join(map(chr, range(0x110000)))


def definition(text: str) -> str:
    """content.chain's normalise() before issue 8: NFKD of the whole text, ASCII, lower, spaces."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9$]+", " ", plain).strip()


def test_every_code_point_folds_as_nfkd() -> None:
    assert _fold.fold(EVERY_CODE_POINT) == definition(EVERY_CODE_POINT)
    # each one alone between letters: a character folding to nothing or to several must not merge
    spaced = "x".join(EVERY_CODE_POINT)
    assert _fold.fold(spaced) == definition(spaced)


@pytest.mark.parametrize("charset", ["latin-1", "cp1252"])
def test_every_character_of_a_table_folds_as_nfkd(charset: str) -> None:
    # the byte-table path: the whole text is in the charset
    characters = bytes(range(256)).decode(charset, errors="ignore")
    for text in (characters, "x".join(characters), " ".join(reversed(characters))):
        assert text.encode(charset) and _fold.fold(text) == definition(text)


def test_look_alikes_fold_to_the_phrase() -> None:
    # C1: fullwidth letters, a ligature, a combining accent, NBSP, "½" (two characters)
    assert _fold.fold("ＲＥＥＮＶＩＡＬＯ\u00a0a ½ ﬁn reenvi\u0301alo") == "reenvialo a 12 fin reenvialo"
    assert _fold.words("¡Mala  SUERTE!") == [b"mala", b"suerte"]


LATIN = st.characters(min_codepoint=0, max_codepoint=0x17F)  # Spanish mail: mostly Latin-1
WINDOWS = st.sampled_from(bytes(range(256)).decode("cp1252", errors="ignore"))  # Outlook's “…”
TEXT = st.text(LATIN | st.characters(), max_size=400) | st.text(WINDOWS, max_size=400) | st.text(max_size=400)


@settings(max_examples=600, deadline=None)
@given(TEXT)
def test_any_text_folds_as_nfkd(text: str) -> None:
    assert _fold.fold(text) == definition(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(LATIN, max_size=80) | st.text(st.characters(min_codepoint=0x100), max_size=200)))
def test_text_beyond_latin1_folds_as_nfkd(pieces: list[str]) -> None:
    # Latin-1 runs (the table's path) mixed with what only NFKD folds
    text = "".join(pieces)
    assert _fold.fold(text) == definition(text)
