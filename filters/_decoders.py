"""Decode what a MIME part carries: transfer encodings, inline uuencode/yEnc files, TNEF winmail.dat.

Trusts nothing: the bytes come from the network. Every decoder is linear in its input, never
raises, and reports what it could not decode unambiguously as an issue string. Hands decoded
bytes (and the files found inside text bodies or TNEF) to filters._mime.
"""

from __future__ import annotations

import binascii
import re
import struct
from dataclasses import dataclass

import pybase64

_WHITESPACE = b" \t\r\n"
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_PAD_BEFORE_END = re.compile(rb"(?<==)(?=[^=])")
IDENTITY = ("7bit", "8bit", "binary", "")
# checked a slice at a time: no copy of a whole attachment, and slices under glibc's mmap
# threshold (128 KiB) reuse heap memory instead of faulting fresh pages in (gateway.data)
_CHUNK = 64 << 10


@dataclass(frozen=True)
class File:
    """A file found inside a part: in a uuencoded block, a yEnc block or a TNEF stream."""

    name: str
    data: bytes


def base64(data: bytes | memoryview, issues: list[str], canonical: bool = False) -> bytes:
    """Decode leniently, but never silently: garbage is an issue, every padded segment counts.

    ``canonical``: the caller proved ``data`` canonical (filters._tree's regular runs)."""
    if canonical or _canonical(data):
        # Nothing for the lenient path to find: pybase64 (SIMD; ~7x binascii's byte loop, 0.35
        # against 2.3 ms per MB) skips the line ends as binascii does, the same bytes out, and
        # no copy of a 25 MB attachment is made on the way (bench/: peak RSS of a 25 MB message)
        return pybase64.b64decode(data)
    return lenient_base64(bytes(data), issues)


def lenient_base64(data: bytes, issues: list[str]) -> bytes:
    """The general path of ``base64``: every oddity decoded as clients do, and reported."""
    garbage = data.translate(None, _BASE64 + _WHITESPACE)
    if garbage:
        # THREATS.md M13: RFC 2045 §6.8 says ignore them, scanners and clients disagree how
        issues.append(f"{len(garbage)} bytes outside the base64 alphabet")
        data = data.translate(None, bytes(set(garbage)))
    if b"=" not in data.rstrip(b"=" + _WHITESPACE):
        try:
            return binascii.a2b_base64(data)  # the common case: one pass, line ends skipped
        except binascii.Error:
            pass
    # MIME-tools 5.519: decode each "="-terminated stream, so "TQ==" cannot hide the rest (M13)
    compact = data.translate(None, _WHITESPACE)
    segments = _PAD_BEFORE_END.split(compact) if b"=" in compact.rstrip(b"=") else [compact]
    out = []
    for segment in segments:
        body = segment.rstrip(b"=")
        if len(body) % 4 == 1:
            issues.append("base64 segment of impossible length")
            body = body[:-1]
        try:
            out.append(binascii.a2b_base64(body + b"=" * (-len(body) % 4)))
        except binascii.Error:
            issues.append("undecodable base64")
    return b"".join(out)


def _canonical(data: bytes | memoryview) -> bool:
    """Only base64 characters and white space, padding only at the end and as much as needed."""
    chars = pad = 0
    for start in range(0, len(data), _CHUNK):
        chunk = bytes(data[start : start + _CHUNK])
        rest = chunk.translate(None, _BASE64)
        if rest.translate(None, _WHITESPACE):
            return False  # garbage: the lenient path reports it
        equals = chunk.find(b"=")
        if pad or equals >= 0:
            tail = chunk[max(equals, 0) :]
            if tail.translate(None, b"=" + _WHITESPACE):
                return False  # something after the padding: a segment the lenient path splits
            pad += tail.count(b"=")
        chars += len(chunk) - len(rest)
    return chars % 4 == 0 and pad <= 2


def _uu_line(line: bytes) -> bytes:
    if not line or line[0] in (0x60, 0x20) and len(line.strip()) <= 1:
        return b""
    # The length byte says how many bytes the line holds; some encoders add trailing junk.
    count = ((line[0] - 32) & 63) * 4 + 5
    try:
        return binascii.a2b_uu(line[: count // 3])
    except binascii.Error:
        return binascii.a2b_uu(b" ")


def uudecode(lines: list[bytes]) -> bytes:
    return b"".join(_uu_line(line.rstrip(b"\r\n")) for line in lines)


def transfer(data: bytes | memoryview, encoding: str, issues: list[str], canonical: bool = False) -> bytes:
    """Undo a Content-Transfer-Encoding, case and whitespace folded first (THREATS.md M12).

    ``canonical``: ``data`` is proven canonical base64, should it be base64."""
    encoding = encoding.strip().lower()
    if encoding == "base64":
        return base64(data, issues, canonical)
    data = bytes(data)
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    if encoding in ("x-uuencode", "uuencode", "x-uue"):
        files = inline_files(data, issues)
        return files[0].data if files else uudecode(data.splitlines())
    if encoding not in IDENTITY:
        issues.append(f"unknown Content-Transfer-Encoding {encoding!r}")
    return data


_UU_BEGIN = re.compile(rb"^begin(?:-base64)? +[0-7]{3,4} +([^\r\n]+?)[ \t]*\r?$", re.MULTILINE)
_UU_END = re.compile(rb"^end[ \t]*\r?$", re.MULTILINE)
_YENC_BEGIN = re.compile(rb"^=ybegin [^\r\n]*?name=([^\r\n]+?)\r?$", re.MULTILINE)
_YENC_END = re.compile(rb"^=yend", re.MULTILINE)
_BINHEX = b"(This file must be converted with BinHex"


def _yenc(block: bytes) -> bytes:
    lines = [ln for ln in block.splitlines() if not ln.startswith(b"=y")]
    pieces = b"".join(lines).split(b"=")
    escaped = pieces[0] + b"".join(bytes([(p[0] - 64) % 256]) + p[1:] for p in pieces[1:] if p)
    return escaped.translate(_YENC_TABLE)


_YENC_TABLE = bytes((value - 42) % 256 for value in range(256))


def inline_files(text: bytes, issues: list[str]) -> list[File]:
    """Files hidden in a text body: uuencode and yEnc blocks (THREATS.md M19)."""
    files: list[File] = []
    if b"begin" not in text and _BINHEX not in text:  # one fast scan for the common case
        return files
    for begin in _UU_BEGIN.finditer(text):
        end = _UU_END.search(text, begin.end())
        stop = end.start() if end else len(text)
        files.append(File(_name(begin.group(1)), uudecode(text[begin.end() : stop].splitlines())))
    for begin in _YENC_BEGIN.finditer(text):
        end = _YENC_END.search(text, begin.end())
        files.append(File(_name(begin.group(1)), _yenc(text[begin.end() : end.start() if end else None])))
    if _BINHEX in text:
        issues.append("BinHex block not inspected")
    return files


def _name(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").strip().strip('"')


# TNEF (MS-OXTNEF §2.1.3): signature, key, then attributes: level, id, type, length, data, checksum
_TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
_ATTACH_RENDDATA = 0x9002  # starts a new attachment
_ATTACH_TITLE = 0x8010
_ATTACH_DATA = 0x800F
_ATTACHMENT = 0x9005  # the attachment's MAPI properties
# PidTagAttachLongFilename as PT_STRING8 or PT_UNICODE (MS-OXPROPS), in a MAPI property stream
_LONG_NAME = re.compile(rb"[\x1e\x1f]\x00\x07\x37\x01\x00\x00\x00")
_EMBEDDED_OBJECT = b"\x0d\x00\x01\x37"  # PidTagAttachDataObject, PT_OBJECT: an embedded message


def _long_name(props: bytes) -> str:
    match = _LONG_NAME.search(props)
    if match is None or match.end() + 4 > len(props):
        return ""
    (length,) = struct.unpack_from("<I", props, match.end())
    raw = props[match.end() + 4 : match.end() + 4 + min(length, 1024)]
    if props[match.start()] == 0x1F:
        return raw.decode("utf-16-le", errors="replace").rstrip("\x00")
    return raw.decode("cp1252", errors="replace").rstrip("\x00")


def tnef(data: bytes, issues: list[str]) -> list[File]:
    """The attachments inside a TNEF stream (winmail.dat), THREATS.md M20."""
    if not data.startswith(_TNEF_SIGNATURE):
        issues.append("not a TNEF stream")
        return []
    found: list[_Pending] = []
    offset = 6
    while offset + 9 <= len(data):
        level, ident, _, length = struct.unpack_from("<BHHI", data, offset)
        start, offset = offset + 9, offset + 9 + length + 2
        if offset > len(data):
            issues.append("truncated TNEF attribute")
            break
        value = data[start : start + length]
        if ident == _ATTACH_RENDDATA:
            found.append(_Pending())
        elif level == 2 and found:
            _tnef_attribute(found[-1], ident, value, issues)
    return [File(item.long_name or item.title, item.data) for item in found]


@dataclass
class _Pending:
    title: str = ""
    long_name: str = ""
    data: bytes = b""


def _tnef_attribute(item: _Pending, ident: int, value: bytes, issues: list[str]) -> None:
    if ident == _ATTACH_TITLE:
        item.title = value.decode("cp1252", errors="replace").rstrip("\x00")
    elif ident == _ATTACH_DATA:
        item.data = value
    elif ident == _ATTACHMENT:
        item.long_name = _long_name(value)
        if _EMBEDDED_OBJECT in value:
            issues.append("TNEF embedded object not inspected")
