"""Which whole words every match of a regular expression must contain, so that a rule runs the
regex only over texts that have them (issue 8: scanning a 10 KB text position by position with
five big alternations cost 1.5 ms per message).

Trusts the patterns (the rule's own source) and reads them with the standard library's own
regex parser, so the words cannot drift from the patterns. Understands literals, small
character classes, alternation, bounded repeats and \\b; whatever else a pattern holds (\\d+,
unbounded repeats) counts as "could be anything", which weakens the filter and never makes it
wrong. Lookarounds consume nothing and are skipped. Texts must be normalised: only [a-z0-9$ ].
Hands each pattern's clauses to filters._phrases, which asks ``admits(clauses, words(text))``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # typeshed types the parser under its pre-3.11 names (deprecated at runtime)
    import sre_constants as sre
    import sre_parse as _parser
else:
    from re import _constants as sre
    from re import _parser

Clause = frozenset[bytes]
_BOUNDARY = "\x00"  # where the pattern has \b: a word may start or end there
_LIMIT = 1024  # spellings per piece; the widest chain pattern needs 90
_CLASS_LIMIT = 32  # characters in a class worth spelling out ([oa], not \d or [a-z])
_WHOLE = re.compile(r"(?<=[ \x00])[a-z0-9]+(?=[ \x00])")


def clauses(pattern: str) -> tuple[Clause, ...]:
    """Sets of words such that a match in a normalised text contains a word of each set."""
    parsed = _parser.parse(pattern)
    if parsed.state.flags & re.IGNORECASE:
        return ()  # the spellings below are exact; a folded pattern would need every case
    found: set[Clause] = set()
    for piece in _pieces(parsed):
        found.update(_positional(piece))
    # the longest shortest word first: the likeliest to be missing, so admits() stops early
    return tuple(sorted(found, key=lambda clause: (-min(map(len, clause)), sorted(clause))))


def words(normal: bytes, split: list[bytes]) -> set[bytes]:
    """The whole words of a normalised text (its runs of [a-z0-9]; its spaces collapsed or not),
    given it and its split."""
    # \b also falls at a "$": "us$10" holds the words "us" and "10"
    return set(normal.replace(b"$", b" ").split()) if b"$" in normal else set(split)


def admits(found: tuple[Clause, ...], present: set[bytes]) -> bool:
    """False only when no match is possible: some clause has none of its words in the text."""
    for clause in found:
        if clause.isdisjoint(present):
            return False
    return True


def _pieces(parsed: _parser.SubPattern) -> Iterator[set[str]]:
    """The spellings of each stretch of the pattern that has finitely many."""
    piece: set[str] | None = {""}
    for item in parsed.data:
        spellings = _spellings(item)
        joined = _join(piece, spellings) if piece is not None and spellings is not None else None
        if joined is None:
            if piece is not None:
                yield piece
            piece = spellings
        else:
            piece = joined
    if piece is not None:
        yield piece


def _positional(piece: set[str]) -> Iterator[Clause]:
    """The first, second … and last, second to last … whole words of every spelling."""
    spelled = [[word.encode() for word in _WHOLE.findall(spelling)] for spelling in piece]
    shortest = min(map(len, spelled))
    for index in (*range(shortest), *range(-shortest, 0)):
        yield frozenset(spelling[index] for spelling in spelled)


def _spellings(item: tuple[sre._NamedIntConstant, object]) -> set[str] | None:
    """Every string the item can match, or None when there are too many (or infinitely many)."""
    op, argument = item
    match op, argument:
        case sre.LITERAL, int(code):
            return {chr(code)}
        case sre.AT, sre.AT_BOUNDARY:
            return {_BOUNDARY}
        case ((sre.ASSERT | sre.ASSERT_NOT), _):
            return {""}
        case sre.IN, list(members):
            return _characters(members)
        case sre.BRANCH, (_, list(branches)):
            return _union([_sequence(branch) for branch in branches])
        case sre.SUBPATTERN, (_, int(added), _, _parser.SubPattern() as inner):
            return None if added & re.IGNORECASE else _sequence(inner)
        case (
            (sre.MAX_REPEAT | sre.MIN_REPEAT | sre.POSSESSIVE_REPEAT),
            (int(low), int(high), _parser.SubPattern() as inner),
        ) if high != sre.MAXREPEAT:
            return _repeat(_sequence(inner), low, high)
    return None


def _sequence(parsed: _parser.SubPattern) -> set[str] | None:
    spellings: set[str] | None = {""}
    for item in parsed.data:
        spellings = _join(spellings, _spellings(item))
    return spellings


def _join(left: set[str] | None, right: set[str] | None) -> set[str] | None:
    if left is None or right is None or len(left) * len(right) > _LIMIT:
        return None
    return {first + second for first in left for second in right}


def _union(alternatives: list[set[str] | None]) -> set[str] | None:
    union: set[str] = set()
    for alternative in alternatives:
        if alternative is None:
            return None
        union |= alternative
    return union if len(union) <= _LIMIT else None


def _repeat(inner: set[str] | None, low: int, high: int) -> set[str] | None:
    spellings: set[str] = set()
    times: set[str] | None = {""}
    for count in range(high + 1):
        if times is None:
            return None
        if count >= low:
            spellings |= times
        times = _join(times, inner) if count < high else times
    return spellings if len(spellings) <= _LIMIT else None


def _characters(members: list[tuple[sre._NamedIntConstant, object]]) -> set[str] | None:
    characters: set[str] = set()
    for member in members:
        match member:
            case sre.LITERAL, int(code):
                characters.add(chr(code))
            case sre.RANGE, (int(first), int(last)) if last - first < _CLASS_LIMIT:
                characters.update(map(chr, range(first, last + 1)))
            case _:
                return None  # negated classes, categories (\d, \w), wide ranges
    return characters if len(characters) <= _CLASS_LIMIT else None
