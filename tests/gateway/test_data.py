"""gateway.data.judge: line endings, the 1000-octet line limit and transparency dots."""

from __future__ import annotations

import asyncio
import itertools
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.data import Problem, judge, read


@pytest.mark.parametrize(
    ("length", "problem"), [(998, Problem.NONE), (1000, Problem.NONE), (1001, Problem.LINE_TOO_LONG)]
)
def test_line_limit_counts_octets_without_crlf(length: int, problem: Problem) -> None:
    # RFC 5321 §4.5.3.1.6 plus one octet for a transparency dot, as aiosmtpd allows
    for content in (
        b"x" * length + b"\r\n",
        b"Subject: a\r\n\r\n" + b"y" * length + b"\r\nfin\r\n",
        b"a\r\n" * 700 + b"z" * length,  # last line without its CRLF
    ):
        assert judge(content).problem == problem


def test_long_line_found_among_many_short_ones() -> None:
    content = b"".join(b"l" * (n % 997) + b"\r\n" for n in range(5000))
    assert judge(content).problem == Problem.NONE
    long = content[:40_000] + b"q" * 1001 + content[40_000:]
    assert judge(long).problem == Problem.LINE_TOO_LONG


def test_transparency_dots_removed() -> None:
    assert judge(b"..uno\r\ndos\r\n...tres\r\n").content == b".uno\r\ndos\r\n..tres\r\n"


def test_dot_free_only_when_no_line_starts_with_a_dot() -> None:
    # the relay skips dot-stuffing on that word (RFC 5321 §4.5.2)
    assert judge(b"Subject: a\r\n\r\nuno. dos.\r\n").dot_free
    assert not judge(b"..uno\r\ndos\r\n").dot_free  # ".uno" after the dot is removed
    assert not judge(b"Subject: a\r\n\r\n..\r\n").dot_free


def plain_judge(content: bytes) -> tuple[Problem, bytes, bool]:
    """judge as it was before it stepped over blocks of equal lines: every byte read."""
    crlf = content.count(b"\r\n")
    if content.count(b"\r") != crlf or content.count(b"\n") != crlf:
        return Problem.BARE_EOL, b"", False
    if b"\0" in content:
        return Problem.NUL, b"", False
    start = 0
    while len(content) - start > 1000:
        newline = content.rfind(b"\n", start, start + 1002)
        if newline < 0:
            return Problem.LINE_TOO_LONG, b"", False
        start = newline + 1
    if b"\r\n." in content or content.startswith(b"."):
        return Problem.NONE, (b"\r\n" + content).replace(b"\r\n.", b"\r\n")[2:], False
    return Problem.NONE, content, True


_LETTERS = bytes(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ+/="[n % 29] for n in range(256))


def block(seed: int, lines: int, width: int) -> bytes:
    data = random.Random(seed).randbytes(lines * width).translate(_LETTERS)
    return b"".join(data[i : i + width] + b"\r\n" for i in range(0, len(data), width))


PIECES = st.one_of(
    st.sampled_from(
        [
            b"Subject: a\r\n",
            b"\r\n",
            b"--b1\r\n",
            b"texto. con punto\r\n",
            b".punto\r\n",
            b"x" * 999 + b"\r\n",
        ]
    ),
    st.builds(
        block, st.integers(0, 9), st.integers(1, 3000), st.sampled_from([1, 4, 76, 998, 999, 1000, 1001])
    ),
)
EDITS = st.lists(
    st.tuples(
        st.integers(0, 400_000),
        st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"\0", b"\r\n.", b"-", b"y" * 1100]),
    ),
    max_size=3,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(PIECES, max_size=12), EDITS, st.booleans())
def test_stepping_over_blocks_judges_as_reading_every_byte(
    pieces: list[bytes], edits: list[tuple[int, bytes]], final: bool
) -> None:
    content = b"Subject: grande\r\n\r\n" + b"\r\n".join(pieces) + (b"\r\n" if final else b"")
    for position, edit in edits:
        position %= len(content) + 1
        content = content[:position] + edit + content[position:]
    got = judge(content)
    assert (got.problem, got.content, got.dot_free) == plain_judge(content)
    for start, end, stride in got.base64_lines:  # what filters._tree will not read again
        assert re.fullmatch(b"(?:[A-Za-z0-9+/=]{%d}\r\n)+" % (stride - 2), content[start:end])


def reference_read(stream: bytes, max_bytes: int) -> tuple[Problem, bytes, bytes]:
    """DATA as RFC 5321 §4.1.1.4 reads it: up to the first <CR><LF>.<CR><LF>, counting the CRLF
    before the first line; the rest of the stream is the client's next commands."""
    end = (b"\r\n" + stream).find(b"\r\n.\r\n")
    content, rest = stream[: max(end, 0)], stream[end + 3 :]
    if len(content) > max_bytes:
        return Problem.TOO_BIG, b"", rest
    got = judge(content)
    return got.problem, got.content, rest


async def read_in_pieces(stream: bytes, cuts: list[int], max_bytes: int) -> tuple[Problem, bytes, bytes]:
    reader = asyncio.StreamReader(limit=64)  # a small window: the reads overrun it often
    pieces = [
        stream[a:b] for a, b in itertools.pairwise([0, *sorted(c % len(stream) for c in cuts), len(stream)])
    ]

    async def feed() -> None:
        for piece in pieces:
            reader.feed_data(piece)
            await asyncio.sleep(0)  # the reader runs between pieces
        reader.feed_eof()

    feeder = asyncio.create_task(feed())
    got = await read(reader, max_bytes)
    await feeder
    return got.problem, got.content, await reader.read()


LINES = st.lists(
    st.sampled_from([b"", b".", b"..", b"a", b"a.", b".a", b"\r", b"\n", b"\0", b"x" * 70]), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(LINES, st.sampled_from([b"\r\n", b"\n", b"\r"]), st.lists(st.integers(0, 10_000), max_size=6),
       st.sampled_from([10, 100, 10_000]))  # fmt: skip
def test_read_ends_where_rfc_5321_says_in_any_pieces(
    lines: list[bytes], eol: bytes, cuts: list[int], max_bytes: int
) -> None:
    # whatever the lines, the line ends and how the bytes arrive: one end, where the RFC puts
    # it, and the bytes after it left for the next command (THREATS.md S1)
    stream = b"\r\n".join(lines) + eol + b".\r\n" + b"QUIT\r\n"
    if (b"\r\n" + stream).find(b"\r\n.\r\n") < 0:
        with pytest.raises(asyncio.IncompleteReadError):  # no end: the client hung up mid-DATA
            asyncio.run(read_in_pieces(stream, cuts, max_bytes))
        return
    assert asyncio.run(read_in_pieces(stream, cuts, max_bytes)) == reference_read(stream, max_bytes)


def test_read_of_an_empty_message_and_of_one_blank_line() -> None:
    for stream in (b".\r\nQUIT\r\n", b"\r\n.\r\nQUIT\r\n", b"a\r\n.\r\n", b"ab\r\n.\r\n"):
        assert asyncio.run(read_in_pieces(stream, [1, 2, 3, 4], 100)) == reference_read(stream, 100)
