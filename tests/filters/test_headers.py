"""Header checks of one part: what parsers read differently is recorded, never resolved silently."""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass, field

from filters import _headers

PARSER = email.parser.BytesParser(policy=email.policy.compat32)


@dataclass
class Found:
    """Collects what the checks record, as filters._mime's walk does."""

    problems: list[tuple[str, str]] = field(default_factory=list)

    def problem(self, kind: str, detail: str, path: str = "") -> None:
        self.problems.append((kind, detail))

    def issues(self, kind: str, details: list[str], path: str) -> None:
        self.problems.extend((kind, detail) for detail in details)


def test_duplicate_mime_headers_and_too_many_fields() -> None:
    node = PARSER.parsebytes(
        b"Content-Type: text/plain\r\nContent-Type: application/x-msdownload\r\nX-A: 1\r\n\r\nx\r\n"
    )
    found = Found()
    _headers.header_checks(node, "1", found, max_headers=2)
    assert found.problems == [
        ("limit", "more than 2 header fields"),
        ("malformed", "content-type given 2 times"),
    ]


def test_names_from_both_headers_with_hidden_characters() -> None:
    node = PARSER.parsebytes(
        'Content-Type: application/pdf; name="acta\u202efdp.exe"\r\n'
        'Content-Disposition: attachment; filename="acta.pdf"\r\n\r\nx\r\n'.encode()
    )
    found = Found()
    names = _headers.names_of(node, _headers.params(node, "content-type", "1", found), "1", found)
    assert names == ("acta.pdf", "actafdp.exe")
    assert found.problems == [
        ("name", "bidi, invisible or control character in file name 'acta\\u202efdp.exe'")
    ]


def test_bare_cr_and_nul_in_the_raw_message() -> None:
    found = Found()
    _headers.raw_checks(b"Subject: a\x00b\r\nX: c\rFrom: m@evil.example\r\n\r\nx\r\n", found)
    assert found.problems == [
        ("malformed", "NUL in the header block"),
        ("malformed", "bare CR in the message"),
    ]
