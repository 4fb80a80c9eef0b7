"""Check one part's header block and read the names it declares; ambiguity becomes a Problem.

Trusts nothing: header text comes from the network. Looks for what parsers read differently
(bare CR/LF, NUL, duplicate MIME headers, the feedparser's boundary defects) and collects every
declared file name with filters._names. Records what it finds through the Recorder that
filters._mime hands it; never raises on hostile input.
"""

from __future__ import annotations

import email.errors
from email.message import Message as EmailMessage
from typing import Protocol

from filters import _names

LIMIT, MALFORMED, NAME = "limit", "malformed", "name"
_ONCE = ("content-type", "content-transfer-encoding", "content-disposition")
_BENIGN = (email.errors.CloseBoundaryNotFoundDefect,)  # common and harmless: last part still read


def raw_value(node: EmailMessage, name: str) -> str:
    """The first ``name`` header as received: get() would replace 8-bit text with U+FFFD."""
    return next((str(value) for key, value in node.raw_items() if key.lower() == name), "")


class Recorder(Protocol):
    def problem(self, kind: str, detail: str, path: str = "") -> None: ...

    def issues(self, kind: str, details: list[str], path: str) -> None: ...


def raw_checks(raw: bytes, walk: Recorder) -> None:
    """Bare CR/LF and NUL are read differently by different parsers (THREATS.md M9, M18)."""
    head = _before(_before(raw, b"\r\n\r\n"), b"\n\n")
    if b"\x00" in head:
        walk.problem(MALFORMED, "NUL in the header block")
    crlf = raw.count(b"\r\n")
    if raw.count(b"\r") != crlf:
        walk.problem(MALFORMED, "bare CR in the message")
    if crlf and raw.count(b"\n") != crlf:
        walk.problem(MALFORMED, "bare LF in a message with CRLF line ends")


def _before(data: bytes, separator: bytes) -> bytes:
    # data.split(separator, 1)[0] without copying everything after it (a 25 MB body)
    end = data.find(separator)
    return data if end < 0 else data[:end]


def header_checks(node: EmailMessage, path: str, walk: Recorder, max_headers: int) -> None:
    keys = [key.lower() for key in node]
    if len(keys) > max_headers:
        walk.problem(LIMIT, f"more than {max_headers} header fields", path)
    for name in _ONCE:
        if keys.count(name) > 1:
            # THREATS.md M2, M12: each client picks another copy (MIME-tools ambiguous_content)
            walk.problem(MALFORMED, f"{name} given {keys.count(name)} times", path)
    if any("\x00" in value or "\r" in value.replace("\r\n", "") for _, value in node.raw_items()):
        walk.problem(MALFORMED, "NUL or bare CR in a header", path)
    for defect in node.defects:
        if not isinstance(defect, _BENIGN):
            # StartBoundaryNotFound, NoBoundaryInMultipart, ... hide parts from us (M16)
            walk.problem(MALFORMED, f"MIME defect: {type(defect).__name__}", path)


def params(node: EmailMessage, header: str, path: str, walk: Recorder) -> _names.Params:
    params = _names.parse_params(raw_value(node, header))
    walk.issues(MALFORMED, params.issues, path)
    params.issues.clear()
    return params


def names_of(node: EmailMessage, content_type: _names.Params, path: str, walk: Recorder) -> tuple[str, ...]:
    """Every declared name of a part, from both headers (THREATS.md M1-M4, M7, M10)."""
    disposition = params(node, "content-disposition", path, walk)
    found = _names.names_of(disposition, "filename") + _names.names_of(content_type, "name")
    walk.issues(MALFORMED, disposition.issues + content_type.issues, path)
    for name in found:
        if _names.obscured(name):
            walk.problem(NAME, f"bidi, invisible or control character in file name {name!r}", path)
    return tuple(dict.fromkeys(n for n in map(_names.normalise, found) if n))
