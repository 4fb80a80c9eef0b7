"""Fold a text to the plain words a content rule matches (THREATS.md C1): NFKD with everything
outside ASCII dropped (so "reenvíalo" and "ＲＥＥＮＶＩＡＬＯ" are "reenvialo"), lower case, and every
run of characters other than [a-z0-9$] one space.

Trusts nothing: the text is decoded mail, any size and any script (callers bound the size).
Hands the folded words, as ASCII bytes, to filters.content_chain. Costs one C-speed pass per
step on the Latin-1 text most Spanish mail is (issue 8: NFKD of a whole 10 KB text and a
regex substitution at every space cost 0.4 ms a message); NFKD runs only on the rare
stretches beyond Latin-1 (curly quotes, emoji, fullwidth look-alikes).
"""

from __future__ import annotations

import codecs
import re
import unicodedata

# Decomposition is per character, and canonical reordering moves only combining marks, never
# an ASCII character (all are starters): folding piece by piece equals folding the whole text
_ERRORS = "compuerta.nfkd-ascii"
_STRETCH = 64  # fold at least this many characters per call: bounded calls, however mixed
_OTHER = re.compile(r"[^a-z0-9$]")


def words(text: str) -> list[bytes]:
    """The words of the folded text, in order."""
    latin1 = text.encode("latin-1", _ERRORS)
    for wide, folded in _WIDE.items():
        if wide in latin1:
            latin1 = latin1.replace(wide, folded)
    return latin1.translate(_TABLE, _DROPPED).split()


def fold(text: str) -> str:
    """The folded text: its words joined by single spaces."""
    return b" ".join(words(text)).decode("ascii")


def _slow(text: str) -> str:
    """The definition, one NFKD over the text: for what Latin-1 cannot hold, and for tests."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return _OTHER.sub(" ", plain)


def _beyond_latin1(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    end = max(error.end, min(len(error.object), error.start + _STRETCH))
    return _slow(error.object[error.start : end]), end


def _latin1_tables() -> tuple[bytes, bytes, dict[bytes, bytes]]:
    """Each Latin-1 character folded: one byte (most), nothing ("ß", "×") or two ("½" is "12")."""
    table, dropped, wide = bytearray(range(256)), bytearray(), {}
    for code in range(256):
        folded = _slow(chr(code)).encode("ascii")
        if len(folded) == 1:
            table[code] = folded[0]
        elif not folded:
            dropped.append(code)
        else:
            wide[bytes([code])] = folded
    return bytes(table), bytes(dropped), wide


codecs.register_error(_ERRORS, _beyond_latin1)
_TABLE, _DROPPED, _WIDE = _latin1_tables()
