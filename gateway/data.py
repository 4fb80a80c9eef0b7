"""Read one SMTP DATA section in blocks, and judge its line endings before anyone parses it.

Trusts nothing: the bytes come from the client. aiosmtpd reads DATA line by line (~30 msg/s at
1 MB); this reader asks the StreamReader for whole runs up to the next ".<CR><LF>" and keeps
aiosmtpd's protections: only <CR><LF>.<CR><LF> ends DATA (RFC 5321 §4.1.1.4, THREATS.md S1),
a size limit that discards instead of buffering, and the 1000-octet line limit (§4.5.3.1.6).
Hands the un-dot-stuffed bytes, or the reason to refuse them, to gateway.smtp.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass

# RFC 5321 §4.5.3.1.6: 998 octets + CRLF, plus one for a transparency dot (as aiosmtpd)
_MAX_LINE = 1000
_WINDOW = 1 << 20  # how much the reader may buffer while looking for the end of DATA
_STEP_FROM = 64 << 10  # smaller DATA is cheaper to read byte by byte than to step over
_MIN_BLOCK = 64  # lines: fewer are read byte by byte
_MISSES = 64  # blank lines not followed by a block before the rest is read byte by byte
_REACH = 256 << 10  # how far to look for the next blank line


class Problem(enum.Enum):
    NONE = "none"
    TOO_BIG = "too-big"
    LINE_TOO_LONG = "line-too-long"
    BARE_EOL = "bare-eol"  # a CR or LF not part of CRLF: the stuff of SMTP smuggling
    NUL = "nul"  # <CR><LF><NUL>.<CR><LF> ends DATA for MTAs that drop NULs (THREATS.md S1)


@dataclass(frozen=True)
class Data:
    content: bytes
    problem: Problem = Problem.NONE
    size: int = 0
    dot_free: bool = False  # no line of ``content`` starts with "." (nothing to dot-stuff)


async def read(reader: asyncio.StreamReader, max_bytes: int) -> Data:
    """Read up to the terminating <CR><LF>.<CR><LF>; over ``max_bytes`` the rest is discarded."""
    saved = reader._limit  # type: ignore[attr-defined]
    reader._limit = max(saved, _WINDOW)  # type: ignore[attr-defined]
    try:
        chunks, size = await _read_chunks(reader, max_bytes)
    finally:
        reader._limit = saved  # type: ignore[attr-defined]
    if chunks is None:
        return Data(b"", Problem.TOO_BIG, size)
    return judge(b"".join(chunks))


async def _read_chunks(reader: asyncio.StreamReader, max_bytes: int) -> tuple[list[bytes] | None, int]:
    chunks: list[bytes] = []
    size = 0
    tail = b"\r\n"  # DATA starts at the beginning of a line
    overflow = False
    while True:
        try:
            chunk = await reader.readuntil(b".\r\n")
        except asyncio.LimitOverrunError as error:
            chunk = await reader.read(error.consumed)
        # only the last bytes matter: no copy of a whole (up to 1 MB) chunk to look at them
        ended = chunk.endswith(b".\r\n") and (tail + chunk[-5:])[-5:-3] == b"\r\n"
        if ended:
            chunk = chunk[:-3]
        size += len(chunk)
        overflow = overflow or size > max_bytes
        if not overflow:
            chunks.append(chunk)
        if ended:
            return (None if overflow else chunks), size
        tail = (tail + chunk[-2:])[-2:]
        if overflow:
            chunks.clear()


def judge(content: bytes) -> Data:
    """Check line endings and lengths, then remove the transparency dots (RFC 5321 §4.5.2)."""
    cr = content.count(b"\r")
    if cr != content.count(b"\n"):
        return Data(b"", Problem.BARE_EOL, len(content))
    found = _stepped(content) if len(content) >= _STEP_FROM else None
    # The steps prove what they saw; only if they saw every CR do they speak for the whole
    crlf, long, dotted = found if found is not None and found[0] == cr else _read(content, 0, len(content))
    if crlf != cr:
        return Data(b"", Problem.BARE_EOL, len(content))
    if b"\0" in content:
        # RFC 5322 §2.2 and RFC 6152 §2: no NUL in a message (BINARYMIME is not offered)
        return Data(b"", Problem.NUL, len(content))
    if long:
        return Data(b"", Problem.LINE_TOO_LONG, len(content))
    if dotted:
        content = (b"\r\n" + content).replace(b"\r\n.", b"\r\n")[2:]
        return Data(content, Problem.NONE, len(content))
    return Data(content, Problem.NONE, len(content), dot_free=True)


def _read(content: bytes, start: int, end: int) -> tuple[int, bool, bool]:
    """Of the lines in [start, end), which starts a line: how many CRLFs, whether one is too
    long, whether one starts with a dot."""
    return (
        content.count(b"\r\n", start, end),
        _has_long_line(content, start, end),
        content.startswith(b".", start, end) or content.find(b"\r\n.", start, end) >= 0,
    )


def _stepped(content: bytes) -> tuple[int, bool, bool] | None:
    """What _read finds, with the blocks of equal lines after a blank line (base64 attachments,
    most of a large message) stepped over from line end to line end instead of read byte by
    byte (three passes over 1 MB cost 1.9 ms). The CRLFs it counts are all real, each seen
    once; if they are as many as the CRs in the message, the lines are exactly those it saw.
    None when there is nothing to step over."""
    crlf, long, dotted = 0, False, False
    stretch = scan = 0  # where the part to read byte by byte begins; where to look for a blank line
    misses = _MISSES
    # a blank line far from the last one is prose, not a part's header: the rest is read byte by byte
    while misses and (blank := content.find(b"\r\n\r\n", scan, scan + _REACH)) >= 0:
        start = blank + 4
        block = _block(content, start)
        if block is None:
            misses -= 1  # prose has many blank lines: give up on them soon
            scan = blank + 2
            continue
        lines, stride = block
        read = _read(content, stretch, start)
        end = start + lines * stride
        crlf += read[0] + lines
        long = long or read[1]  # a block's lines are no longer than _MAX_LINE: _block's limit
        dotted = dotted or read[2] or b"." in content[start:end:stride]  # the lines' first bytes
        stretch = scan = end
    if stretch == 0:
        return None
    read = _read(content, stretch, len(content))
    return crlf + read[0], long or read[1], dotted or read[2]


def _block(content: bytes, start: int) -> tuple[int, int] | None:
    """(lines, length of each with its CRLF) of the lines at ``start`` whose CR and LF sit at
    one line length from each other, if there are _MIN_BLOCK of them or more."""
    length = content.find(b"\r\n", start, start + _MAX_LINE + 2) - start
    stride = length + 2
    if length < 1 or content[start + _MIN_BLOCK * stride - 2 : start + _MIN_BLOCK * stride] != b"\r\n":
        return None
    lines, step = 0, _MIN_BLOCK
    while True:  # a few lines at a time, more as they keep coming: the slices stay small
        first = start + lines * stride + length
        crs = content[first : first + step * stride : stride]
        lfs = content[first + 1 : first + 1 + step * stride : stride]
        found = min(len(crs) - len(crs.lstrip(b"\r")), len(lfs) - len(lfs.lstrip(b"\n")))
        lines += found
        if found < step:
            return (lines, stride) if lines >= _MIN_BLOCK else None
        step *= 2


def _has_long_line(content: bytes, start: int = 0, end: int | None = None) -> bool:
    """Whether a line (without its CRLF) in [start, end) is longer than _MAX_LINE octets.

    Jumps to the last LF within reach of each line start, so it costs about one memrchr per
    kilobyte; a regular expression restarted at every byte costs ~150 ms per MB.
    """
    size = len(content) if end is None else end
    while size - start > _MAX_LINE:
        newline = content.rfind(b"\n", start, start + _MAX_LINE + 2)
        if newline < 0:
            return True
        start = newline + 1
    return False
