"""gateway.data.judge: line endings, the 1000-octet line limit and transparency dots."""

from __future__ import annotations

import pytest

from gateway.data import Problem, judge


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
