"""Fold a text to the plain words a content rule matches (THREATS.md C1): NFKD with everything
outside ASCII dropped (so "reenvíalo" and "ＲＥＥＮＶＩＡＬＯ" are "reenvialo"), lower case, and every
run of characters other than [a-z0-9$] one space.

Trusts nothing: the text is decoded mail, any size and any script (callers bound the size).
Hands the folded words, as ASCII bytes, to filters.content_chain. Costs one C-speed pass per
step (issue 8: NFKD of a whole 10 KB text and a regex substitution at every space cost 0.4 ms
a message): text that Latin-1 or Windows-1252 can hold, nearly all Spanish mail, is folded by
a byte table; NFKD runs only on the rest (emoji, fullwidth look-alikes, other scripts).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_OTHER = re.compile(r"[^a-z0-9$]")


@dataclass(frozen=True)
class _Table:
    """How each byte of a single-byte charset folds: to one byte, to nothing, or to several."""

    charset: str
    one: bytes  # for bytes.translate
    dropped: bytes  # "ß", "×", "“": NFKD leaves nothing in ASCII
    wide: dict[bytes, bytes]  # "½" is "12", "…" is three spaces


def words(text: str) -> list[bytes]:
    """The words of the folded text, in order."""
    return spaced(text).split()


def spaced(text: str) -> bytes:
    """The folded text before its runs of spaces are collapsed: its words are ``split()``."""
    for table in _TABLES:
        try:
            encoded = text.encode(table.charset)
        except UnicodeEncodeError:
            continue
        for byte, folded in table.wide.items():
            if byte in encoded:
                encoded = encoded.replace(byte, folded)
        return encoded.translate(table.one, table.dropped)
    # ASCII is Latin-1: its table lowers the letters and spaces the rest
    return _ascii(text).translate(_TABLES[0].one)


def fold(text: str) -> str:
    """The folded text: its words joined by single spaces."""
    return b" ".join(words(text)).decode("ascii")


def _ascii(text: str) -> bytes:
    # NFKD splits "í" into "i" and an accent, and folds look-alikes; what is not ASCII then goes
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore")


def _table(charset: str) -> _Table:
    # NFKD decomposes character by character, and its reordering moves only combining marks,
    # never an ASCII character: folding each character alone is folding the whole text
    one, dropped, wide = bytearray(range(256)), bytearray(), {}
    for code in range(256):
        character = bytes([code]).decode(charset, errors="ignore")  # cp1252 leaves five unused
        folded = _OTHER.sub(" ", _ascii(character).decode("ascii").lower()).encode("ascii")
        if len(folded) == 1:
            one[code] = folded[0]
        elif not folded:
            dropped.append(code)
        else:
            wide[bytes([code])] = folded
    return _Table(charset, bytes(one), bytes(dropped), wide)


# Latin-1 first: its encoder is a copy; Windows-1252 adds Outlook's curly quotes, dashes and "…"
_TABLES = (_table("latin-1"), _table("cp1252"))
