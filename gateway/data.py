"""Read one SMTP DATA section in blocks, and judge its line endings before anyone parses it.

Trusts nothing: the bytes come from the client. aiosmtpd reads DATA line by line (~30 msg/s at
1 MB); this reader asks the StreamReader for whole runs up to the next "<CR><LF>.<CR><LF>" and keeps
aiosmtpd's protections: only <CR><LF>.<CR><LF> ends DATA (RFC 5321 §4.1.1.4, THREATS.md S1),
a size limit that discards instead of buffering, and the 1000-octet line limit (§4.5.3.1.6).
Hands the un-dot-stuffed bytes, or the reason to refuse them, to gateway.smtp.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass

# RFC 5321 §4.1.1.4: only <CR><LF>.<CR><LF> ends DATA (THREATS.md S1). Searched as five bytes,
# not as ".<CR><LF>" with the CRLF before it checked: fewer false hits, and a third less time.
_END = b"\r\n.\r\n"
# RFC 5321 §4.5.3.1.6: 998 octets + CRLF, plus one for a transparency dot (as aiosmtpd)
_MAX_LINE = 1000
_WINDOW = 1 << 20  # how much the reader may buffer while looking for the end of DATA
_STEP_FROM = 64 << 10  # smaller DATA is cheaper to read byte by byte than to step over
_MIN_BLOCK = 64  # lines: fewer are read byte by byte
_MISSES = 64  # blank lines not followed by a block before the rest is read byte by byte
_REACH = 256 << 10  # how far to look for the next blank line
# blocks are checked a slice at a time, each under glibc's mmap threshold (128 KiB), so the
# slices reuse heap memory: 1 MiB slices were fresh pages each time (0.89 -> 0.43 ms per MB)
_CHUNK = 64 << 10
_NOT_EOL_OR_NUL = bytes(sorted(set(range(256)) - {0, 10, 13}))
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="  # RFC 4648 §4, with pad


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
    # (start, end, length of each line with its CRLF) of the blocks of ``content`` proven to be
    # lines of base64 characters, each ending in CRLF: filters._tree need not read them again
    base64_lines: tuple[tuple[int, int, int], ...] = ()


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
    # DATA starts at the beginning of a line, so "." alone on the first line ends it at once
    head = await reader.readexactly(3)
    if head == b".\r\n":
        return [], 0
    # StreamReader cannot unread: put the bytes back, and every end lies wholly in what it reads
    reader._buffer[:0] = head  # type: ignore[attr-defined]
    chunks: list[bytes] = []
    size = 0
    overflow = False
    while True:
        try:
            chunk = (await reader.readuntil(_END))[:-3]  # the line's CRLF is the content's
            ended = True
        except asyncio.LimitOverrunError as error:
            # ``consumed`` leaves the last 4 bytes unread, so an end cannot straddle two reads
            chunk, ended = await reader.read(error.consumed), False
        size += len(chunk)
        overflow = overflow or size > max_bytes
        if not overflow:
            chunks.append(chunk)
        if ended:
            return (None if overflow else chunks), size
        if overflow:
            chunks.clear()


def judge(content: bytes) -> Data:
    """Check line endings and lengths, then remove the transparency dots (RFC 5321 §4.5.2)."""
    blocks = _blocks(content) if len(content) >= _STEP_FROM else []
    bare, nul, long, dotted = _judged(content, blocks)
    if bare:
        return Data(b"", Problem.BARE_EOL, len(content))
    if nul:
        # RFC 5322 §2.2 and RFC 6152 §2: no NUL in a message (BINARYMIME is not offered)
        return Data(b"", Problem.NUL, len(content))
    if long:
        return Data(b"", Problem.LINE_TOO_LONG, len(content))
    if dotted:
        content = (b"\r\n" + content).replace(b"\r\n.", b"\r\n")[2:]
        return Data(content, Problem.NONE, len(content))
    # offsets into ``content`` as it is: only when no transparency dot was taken out
    base64_lines = tuple((start, end, stride) for start, end, stride, base64 in blocks if base64)
    return Data(content, Problem.NONE, len(content), dot_free=True, base64_lines=base64_lines)


def _judged(content: bytes, blocks: list[tuple[int, int, int, bool]]) -> tuple[bool, bool, bool, bool]:
    """Whether ``content`` holds a bare CR or LF, a NUL, a line over _MAX_LINE octets, a line
    that starts with a dot: the blocks _blocks proved are stepped over, the rest read byte by byte."""
    bare = nul = long = dotted = False
    position = 0
    for start, end, stride, _ in [*blocks, (len(content), len(content), 1, False)]:
        crlf = content.count(b"\r\n", position, start)
        bare = (
            bare
            or content.count(b"\r", position, start) != crlf
            or content.count(b"\n", position, start) != crlf
        )
        nul = nul or content.find(b"\0", position, start) >= 0
        long = long or _has_long_line(content, position, start)
        dotted = (
            dotted
            or content.startswith(b".", position, start)
            or content.find(b"\r\n.", position, start) >= 0
            or b"." in content[start:end:stride]  # the first bytes of a block's lines
        )
        position = end
    return bare, nul, long, dotted


def _blocks(content: bytes) -> list[tuple[int, int, int, bool]]:
    """(start, end, length of each line with its CRLF, whether base64) of the blocks of equal
    lines after a blank line (base64 attachments, most of a large message), proven to hold
    nothing but their lines' CRLFs and bytes that are neither CR, LF nor NUL: one pass that
    drops the base64 characters costs less than counting CRs and LFs over them (two passes over
    1 MB cost 0.9 ms), and tells whether that is all there is. A block's lines are no longer
    than _MAX_LINE (_block's limit), and each starts after a CRLF."""
    blocks: list[tuple[int, int, int, bool]] = []
    scan = 0  # where to look for a blank line
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
        end = start + lines * stride
        base64 = _only_line_ends(content, start, end, lines)
        if base64 is None:
            break  # a stray CR, LF or NUL: read from here on byte by byte, which finds it
        blocks.append((start, end, stride, base64))
        scan = end
    return blocks


def _only_line_ends(content: bytes, start: int, end: int, lines: int) -> bool | None:
    """Whether [start, end) holds nothing but base64 characters besides the ``lines`` CRLFs
    _block found at its line ends; None if it holds another CR, LF or NUL. Read a slice at a
    time, so no copy of a whole 25 MB block."""
    found, base64 = 0, True
    for chunk in range(start, end, _CHUNK):
        rest = content[chunk : min(chunk + _CHUNK, end)].translate(None, _BASE64)
        eols = rest.translate(None, _NOT_EOL_OR_NUL)
        base64 = base64 and len(eols) == len(rest)
        found += len(eols)
        if found > 2 * lines:
            return None
    return base64 if found == 2 * lines else None


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
