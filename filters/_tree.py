"""Build email's compat32 Message tree of a message without feeding it long base64 runs line by line.

Trusts nothing: the bytes come from the network. email's feedparser handles every line in
Python (~14 ms per MB of attachments, and a list of line objects as big again as the message).
Its decisions about a line (blank, header, continuation, "From ", boundary) are the same for
every non-empty line made only of base64 characters: such a line is never blank, never a
header (no colon), never a continuation (no leading white space) and never a boundary (no
leading dash). So each long run of such lines is swapped for one token line of the same kind,
the feedparser parses what is left, and the runs are put back into the payloads, preambles
and epilogues where the tokens landed. The tree is the one the feedparser builds from the whole
message (tests/filters/test_tree.py compares them); only the time and the memory differ.
Hands the tree to filters._mime.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
import secrets
from collections.abc import Callable
from email.message import Message as EmailMessage

MIN_RUN = 8 << 10  # shorter runs are cheaper to parse than to swap
_PARSER = email.parser.BytesParser(policy=email.policy.compat32)
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_CHUNK = 1 << 20  # checked a slice at a time: no copy of a whole 25 MB run
_LONGEST = 1000  # RFC 5321 §4.5.3.1.6: no line is longer (gateway.data refuses longer ones)
_LINES = 256  # lines looked at in one step, at first
_PREFIX = "CPTRUN"
# Any token's shape, compiled once; Bodies keeps only the ones with its own random prefix
_TOKEN = re.compile(_PREFIX + r"[0-9a-f]{16}(\d{8})")
Proven = tuple[tuple[int, int, int], ...]  # (start, end, stride) blocks of base64 lines
Known = dict[int, tuple[int, int]]  # the same, by start: (end, stride)


def parse(
    raw: bytes, min_run: int = MIN_RUN, parser: Callable[[bytes], EmailMessage] = _PARSER.parsebytes
) -> EmailMessage:
    """The compat32 tree of ``raw``, as ``BytesParser(policy=compat32).parsebytes`` builds it.

    ``parser`` parses what is left after the swap (filters._bounded's, to stop costly input)."""
    root, _ = split(raw, min_run, parser, whole=True)
    return root


def split(
    raw: bytes,
    min_run: int = MIN_RUN,
    parser: Callable[[bytes], EmailMessage] = _PARSER.parsebytes,
    whole: bool = False,
    proven: Proven = (),
) -> tuple[EmailMessage, Bodies]:
    """The same tree, except that a leaf whose payload is one whole run keeps its token line
    (unless ``whole``): ``Bodies.of(leaf)`` hands that run as a view of ``raw``, so a 25 MB
    attachment is neither copied into a str nor encoded back before it is decoded.

    ``proven``: (start, end, length of each line with its CRLF) of blocks of ``raw`` already
    proven to be lines of base64 characters, each ending in CRLF (gateway.data, as DATA was
    read): their bytes are not read a second time."""
    found = _runs(raw, min_run, {start: (end, stride) for start, end, stride in proven})
    if not found:
        return parser(raw), Bodies(raw, [], "")
    spans = [(start, end) for start, end, _ in found]
    last = 0
    kept: list[bytes] = []  # what the feedparser reads besides the tokens
    for start, end in spans:
        kept.append(raw[last:start])
        last = end
    kept.append(raw[last:])
    runs = Bodies(raw, spans, _prefix(kept), [canonical for _, _, canonical in found])
    pieces: list[bytes] = []
    for index, piece in enumerate(kept[:-1]):
        pieces += [piece, f"{runs.prefix}{index:08d}".encode()]
    pieces.append(kept[-1])
    root = parser(b"".join(pieces))
    _restore(root, runs, whole)
    return root, runs


def _runs(raw: bytes, min_run: int, proven: Known | None = None) -> list[tuple[int, int, bool]]:
    """Spans of whole lines after a blank line, each line non-empty and of base64 characters,
    and whether each is canonical base64 (filters._decoders then need not check it again)."""
    runs: list[tuple[int, int, bool]] = []
    position = 0
    while (blank := raw.find(b"\r\n\r\n", position)) >= 0:
        start = blank + 4
        stepped = _stepped(raw, start, min_run, proven)
        if stepped is not None:
            end, dash, lines = stepped
            runs.append((start, end, _canonical(raw, start, end, lines)))
            position = dash + 2 if dash >= 0 else end
            continue
        dash = raw.find(b"\r\n-", start)  # a line that starts with a dash may be a boundary
        end = len(raw) if dash < 0 else dash
        while raw.endswith(b"\r\n", start, end):
            end -= 2  # empty lines and the last line's CRLF stay outside the run
        # Search on from the dash line: an empty line before a boundary is not a header's end
        position = max(end, start) if dash < 0 else dash + 2
        if end - start >= min_run and (lines := _regular(raw, start, end, proven)) >= 0:
            runs.append((start, end, _canonical(raw, start, end, lines)))
    return runs


def _stepped(
    raw: bytes, start: int, min_run: int, proven: Known | None = None
) -> tuple[int, int, int] | None:
    """What the search below finds for a run at ``start`` (its end, the dash line after it and
    its CRLFs), found by stepping from line end to line end instead of reading every byte for
    a dash (0.7 ms per MB); None when the bytes there are anything but such a run.

    A regular run holds no dash and no CR or LF off its line ends, so when it is followed by
    nothing but empty lines and then a dash line or the end of the message, that dash line is
    the first one after ``start`` and the run ends where the search's would.
    """
    length = raw.find(b"\r\n", start, start + _LONGEST) - start
    if length <= 0:
        return None
    stride = length + 2
    after = start  # past the lines of full length, each with its CRLF
    block = _LINES
    while True:  # a block of lines at a time: the slices stay small in a message of many parts
        first = after + length
        crs, lfs = (
            raw[first : first + block * stride : stride],
            raw[first + 1 : first + 1 + block * stride : stride],
        )
        full = min(len(crs) - len(crs.lstrip(b"\r")), len(lfs) - len(lfs.lstrip(b"\n")))
        after += full * stride
        if full < block:
            break
        block *= 2
    if after >= len(raw) or raw[after] in b"\r-":
        end = after - 2  # the last full line is the run's last
    else:
        end = raw.find(b"\r\n", after, after + length + 1)  # a shorter last line
        end = len(raw) if end < 0 and len(raw) - after <= length else end
    if end - start < max(min_run, 1):
        return None
    next_line = end
    while raw.startswith(b"\r\n", next_line):
        next_line += 2  # empty lines stay outside the run
    if next_line < len(raw) and not (next_line > end and raw.startswith(b"-", next_line)):
        return None
    lines = _regular(raw, start, end, proven)
    if lines < 0:
        return None
    return end, (next_line - 2 if next_line < len(raw) else -1), lines


def _regular(raw: bytes, start: int, end: int, proven: Known | None = None) -> int:
    """How many CRLFs [start, end) holds if it is lines of one length (the last no longer) of
    base64 characters; -1 if it is not.

    That is how every encoder writes base64, and it is cheap to prove: the CR and LF at each
    line end are where they should be, and there are no others.
    """
    length = raw.find(b"\r\n", start, end) - start
    if length <= 0:
        return -1
    stride = length + 2
    lines = (end - start - 1) // stride  # full lines, each with its CRLF; then a last one
    if end - start - lines * stride > length:
        return -1
    ends = start + lines * stride
    if (
        raw[start + length : ends : stride] != b"\r" * lines
        or raw[start + length + 1 : ends : stride] != b"\n" * lines
    ):
        return -1
    known = _known_lines(proven, start, stride, lines)
    others = 2 * known  # each proven line: base64 characters, then its CR and LF
    for chunk in range(start + known * stride, end, _CHUNK):
        rest = raw[chunk : min(chunk + _CHUNK, end)].translate(None, _ALPHABET)
        if rest.translate(None, b"\r\n"):
            return -1
        others += len(rest)
    return lines if others == 2 * lines else -1


def _known_lines(proven: Known | None, start: int, stride: int, lines: int) -> int:
    """How many of the first ``lines`` lines at ``start`` (``stride`` bytes each with CRLF) a
    block of ``proven`` covers: a block that starts there with lines of the same length."""
    end, width = (proven or {}).get(start, (start, 0))
    return min(lines, (end - start) // stride) if width == stride else 0


def _canonical(raw: bytes, start: int, end: int, lines: int) -> bool:
    """Whether a regular run is canonical base64 as filters._decoders defines it: whole quads,
    and padding (at most two) only at the end, so no second stream hides behind it (THREATS.md M13)."""
    pad = raw.find(b"=", start, end)
    if pad >= 0:
        tail = raw[pad:end]
        if tail.translate(None, b"=\r\n") or tail.count(b"=") > 2:
            return False
    return (end - start - 2 * lines) % 4 == 0


def _prefix(kept: list[bytes]) -> str:
    """A token prefix found nowhere in what the feedparser reads besides the tokens."""
    while True:
        prefix = _PREFIX + secrets.token_hex(8)  # letters and digits: a base64 line like the run
        if not any(prefix.encode() in piece for piece in kept):
            return prefix


class Bodies:
    """The runs taken out of a message, to put back or to hand over as they are."""

    def __init__(
        self, raw: bytes, spans: list[tuple[int, int]], prefix: str, canonical: list[bool] | None = None
    ) -> None:
        self.raw = raw
        self.spans = spans
        self.prefix = prefix
        self.canonical = canonical or [False] * len(spans)  # per span: canonical base64

    def index(self, node: EmailMessage) -> int | None:
        """Which run is ``node``'s whole payload, or None when its payload is a plain str."""
        payload = vars(node).get("_payload")
        if not self.prefix or not isinstance(payload, str) or not payload.startswith(self.prefix):
            return None
        whole = _TOKEN.fullmatch(payload)
        return None if whole is None else int(whole.group(1))

    def of(self, node: EmailMessage) -> memoryview | None:
        """The run that is ``node``'s whole payload, or None when its payload is a plain str."""
        index = self.index(node)
        return None if index is None else self.view(index)

    def view(self, index: int) -> memoryview:
        start, end = self.spans[index]
        return memoryview(self.raw)[start:end]

    def put_back(self, text: str) -> str:
        if self.prefix not in text:
            return text
        if text.startswith(self.prefix) and (whole := _TOKEN.fullmatch(text)) is not None:
            return self._text(int(whole.group(1)))  # a whole payload: no second copy
        return _TOKEN.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        if not match.group(0).startswith(self.prefix):
            return match.group(0)  # a token of another prefix: text the message carried
        return self._text(int(match.group(1)))

    def _text(self, index: int) -> str:
        start, end = self.spans[index]
        return str(memoryview(self.raw)[start:end], "ascii")  # no bytes copy of the run first


def _restore(root: EmailMessage, runs: Bodies, whole: bool) -> None:
    stack = [root]
    while stack:
        node = stack.pop()
        payload = vars(node).get("_payload")
        if isinstance(payload, str) and (whole or runs.of(node) is None):
            node._payload = runs.put_back(payload)  # type: ignore[attr-defined]
        elif isinstance(payload, list):
            stack.extend(child for child in payload if isinstance(child, EmailMessage))
        for field in ("preamble", "epilogue"):
            value = getattr(node, field, None)
            if isinstance(value, str):
                setattr(node, field, runs.put_back(value))
