"""filters._bounded builds the tree email's feedparser builds, and stops what costs too much."""

from __future__ import annotations

import email.parser
import email.policy
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import corpus
from filters import _bounded
from tests.filters.test_tree import shape

FEEDPARSER = email.parser.BytesParser(policy=email.policy.compat32)
MESSAGES = sorted((Path(__file__).parent.parent / "messages").rglob("*.eml"))


def bounded(raw: bytes, max_depth: int = 20, limit: int = 10**9) -> email.message.Message:
    return _bounded.parse(raw, max_depth, _bounded.Work(limit))


def test_every_stored_message_parses_as_the_feedparser_parses_it() -> None:
    assert MESSAGES
    stopped = 0
    for path in MESSAGES:
        raw = path.read_bytes()
        try:
            tree = bounded(raw)
        except _bounded.TooCostly:
            stopped += 1  # the depth bombs (THREATS.md M15): deeper than the limit, as counted
            assert raw.count(b"multipart/") > 20, path
            continue
        assert shape(tree) == shape(FEEDPARSER.parsebytes(raw)), path
    assert stopped < len(MESSAGES) / 10


def test_bench_messages_parse_as_the_feedparser_parses_them() -> None:
    for sample in (corpus.plain(), corpus.with_pdf(), corpus.with_attachments()):
        assert shape(bounded(sample.data)) == shape(FEEDPARSER.parsebytes(sample.data)), sample.name


HEADER_LINES = st.sampled_from([
    b"From: ana@gto.gob.mx", b"Subject: hola", b" continued", b"\tmore", b"From ana lunes", b"no header here",
    b"Content-Type: text/plain; charset=utf-8", b"Content-Type: multipart/mixed; boundary=b1",
    b"Content-Type: message/rfc822", b"Content-Type: message/delivery-status", b"Content-Type: text",
    b"Content-Type: MULTIPART/alternative; boundary=b1", b"Content-Type: application/pdf", b"X: a\rb",
    b"X: a\nb", b"X: \x0bvt\x1c", b"Bad Header: x", b"X:\xf1\xff",
])  # fmt: skip
BODY_LINES = st.sampled_from([
    b"", b"texto", b"--b1", b"--b1--", b"From me", b"Subject: no", b" indented", b"a\rb", b"a\nb", b"\x85\xc3\xb1",
    b"\x0c\x1d", b"Content-Type: text/plain",
])  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(
    st.lists(HEADER_LINES, max_size=8),
    st.lists(BODY_LINES, max_size=12),
    st.sampled_from([b"\r\n", b"\n", b"\r"]),
    st.sampled_from([b"\r\n\r\n", b"\r\n", b"\n\n", b""]),
    st.booleans(),
)
def test_any_top_level_parses_as_the_feedparser_parses_it(
    head: list[bytes], body: list[bytes], newline: bytes, separator: bytes, final: bool
) -> None:
    # the leaf shortcut appends what follows the first CRLF CRLF: every way headers can end
    raw = newline.join(head) + separator + b"\r\n".join(body) + (b"\r\n" if final else b"")
    assert shape(bounded(raw)) == shape(FEEDPARSER.parsebytes(raw))


def test_a_leaf_is_charged_for_every_line() -> None:
    raw = b"Content-Type: text/plain\r\n\r\n" + b"linea\r\n" * 1000
    work = _bounded.Work(10**9)
    _bounded.parse(raw, 20, work)
    assert work.used == raw.count(b"\n") * 5
    with pytest.raises(_bounded.TooCostly, match="too costly"):
        bounded(raw, limit=4000)


def test_a_leaf_below_the_depth_limit_is_refused_as_before() -> None:
    with pytest.raises(_bounded.TooCostly, match="depth"):
        bounded(b"Subject: x\r\n\r\nhola\r\n", max_depth=-1)
