"""Parse a message's bytes once into the read-only MimeView that every filter reads.

Trusts nothing: the bytes come from the network. Walks the MIME tree iteratively with limits on
depth, part count, header count and decoded bytes; checks headers and reads names with
filters._headers and filters._names, decodes with filters._decoders, types with filters._magic,
unpacks archives with filters._archive and filters._tar, bounds the feedparser with
filters._bounded. Whatever
it cannot inspect unambiguously becomes a Problem, never an exception and never a silent pass.
Hands the view to the pipeline, which hands it to the filters.
"""

from __future__ import annotations

import functools
import html
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message as EmailMessage

from filters import _archive, _bounded, _decoders, _headers, _names, _tar, _tree
from filters._magic import ARCHIVES, true_type, true_types
from gateway.model import MimeView, Part, Problem

log = logging.getLogger(__name__)

# Problem kinds; attach.dangerous maps each to its own configurable action.
LIMIT, MALFORMED, ENCRYPTED, NAME = _headers.LIMIT, _headers.MALFORMED, "encrypted", _headers.NAME


@dataclass(frozen=True)
class Limits:
    max_depth: int = 20  # amavisd-new $MAXLEVELS is 14; forwards of forwards need some room
    # Feedparser work (lines x (4 + depth)); about 0.25 us each here, so ~2 s at most. A 25 MB
    # message of 80-byte text lines at depth 3 needs 2.3 M; base64 runs do not count (_tree).
    max_parse_work: int = 8_000_000
    max_parts: int = 1000  # amavisd-new $MAXFILES is 1500
    max_headers: int = 1000  # per part
    max_decoded_bytes: int = 100 << 20
    max_text_chars: int = 1_000_000
    max_archive_depth: int = 5  # Haraka archive.max_depth (THREATS.md Z2)
    max_expanded: int = 200 << 20  # amavis $MAX_EXPANSION_QUOTA is 300 MB (THREATS.md Z4)
    max_member: int = 100 << 20
    max_members: int = 5000
    max_ratio: int = 100  # DEFLATE reaches ~1000:1 only on junk (Fifield, "A better zip bomb")
    sample_min: int = 256 << 10  # attachments this large get a compressibility sample
    sample_bytes: int = 64 << 10


LIMITS = Limits()
_TAGS = re.compile(r"<[^>]*>")
_MESSAGE_EXTENSIONS = tuple(suffix[1:] for suffix in _archive.MESSAGE_SUFFIXES)
_FOLD = re.compile(r"\r?\n(?=[ \t])")


@dataclass
class _Walk:
    """The state of one parse: what was found so far and what is left of the budgets."""

    limits: Limits
    budget: _archive.Budget
    parts: list[Part] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    nodes: int = 0
    decoded: int = 0
    bodies: _tree.Bodies | None = None  # attachments left in the raw bytes by filters._tree
    work: _bounded.Work = field(default_factory=lambda: _bounded.Work(LIMITS.max_parse_work))

    def feed(self, data: bytes, depth: int) -> EmailMessage:
        """Parse ``data`` found at ``depth``, within what is left of the depth and work bounds."""
        return _bounded.parse(data, self.limits.max_depth - depth, self.work)

    def problem(self, kind: str, detail: str, path: str = "") -> None:
        self.problems.append(Problem(kind, detail[:300], path))

    def issues(self, kind: str, details: list[str], path: str) -> None:
        for detail in details:
            self.problem(kind, detail, path)


def _payload(node: EmailMessage, path: str, walk: _Walk, encoding: str | None = None) -> bytes:
    # The payload as received: get_payload() re-decodes 8-bit text with the declared charset.
    payload = vars(node).get("_payload")
    if not isinstance(payload, str):
        return b""
    bodies = walk.bodies
    run = bodies.index(node) if bodies is not None else None
    raw = payload.encode("ascii", "surrogateescape") if bodies is None or run is None else bodies.view(run)
    walk.decoded += len(raw)
    if walk.decoded > walk.limits.max_decoded_bytes:
        walk.problem(LIMIT, f"more than {walk.limits.max_decoded_bytes} decoded bytes", path)
        return b""
    issues: list[str] = []
    if encoding is None:
        encoding = str(node.get("content-transfer-encoding", ""))
    # filters._tree proved the run canonical base64 already: not checked a second time
    canonical = bodies is not None and run is not None and bodies.canonical[run]
    data = _decoders.transfer(raw, encoding, issues, canonical)
    walk.issues(MALFORMED, issues, path)
    return data


def _text_of(node: EmailMessage, data: bytes) -> str:
    charset = str(node.get_content_charset() or "utf-8")
    try:
        text = data.decode(charset, errors="replace")
    except (LookupError, ValueError):
        text = data.decode("utf-8", errors="replace")
    if node.get_content_subtype() == "html":
        text = html.unescape(_TAGS.sub(" ", text))
    return text


def _sample(data: bytes, limits: Limits) -> bytes:
    """The first bytes of a large file, whose compressibility Part.sample_ratio measures."""
    return data[: limits.sample_bytes] if len(data) >= limits.sample_min else b""


@dataclass(frozen=True)
class _File:
    """A file to inspect: a MIME leaf, an archive member, or a file found in a body or TNEF."""

    path: str
    names: tuple[str, ...]
    data: bytes
    content_type: str = ""
    depth: int = 0
    size: int = -1  # decoded size when ``data`` holds only the first bytes
    container: str = ""  # "", "archive" or "document"
    examined: bool = True


def _inspect(file: _File, walk: _Walk, archive_depth: int = 0, kind: str | None = None) -> None:
    if kind is None:
        kind = true_type(file.data) if file.examined else ""
    size = len(file.data) if file.size < 0 else file.size
    sample = b"" if file.container else _sample(file.data, walk.limits)
    walk.parts.append(
        Part(file.path, file.content_type, file.names, kind, size, True, file.depth,
             bool(file.container), file.container, sample)
    )  # fmt: skip
    if not file.examined:
        return
    if kind in ARCHIVES or _archive.looks_like_zip(file.data):
        _unpack(file, walk, archive_depth + 1, lambda: _archive.inspect(file.data, walk.budget))
    elif kind in _tar.STREAMS:
        name = file.names[0] if file.names else "archivo.gz"
        _unpack(file, walk, archive_depth + 1, lambda: _tar.decompress(file.data, kind, name, walk.budget))
    elif kind == _tar.TAR:
        _unpack(file, walk, archive_depth + 1, lambda: _tar.inspect_tar(file.data, walk.budget))
    elif kind == "message/rfc822" and any(_names.extension(n) in _MESSAGE_EXTENSIONS for n in file.names):
        _embedded(file, walk)


def _embedded(file: _File, walk: _Walk) -> None:
    """A message attached as a file (an .eml sent as octet-stream, or inside an archive): mail
    clients open it as a message, so the same rules apply inside it (THREATS.md M14)."""
    if file.depth >= walk.limits.max_depth:
        walk.problem(LIMIT, f"MIME depth over {walk.limits.max_depth}", file.path)
        return
    _walk(walk.feed(file.data, file.depth + 1), walk, f"{file.path}/message", file.depth + 1)


def _unpack(file: _File, walk: _Walk, archive_depth: int, lister: Callable[[], _archive.Listing]) -> None:
    if archive_depth > walk.limits.max_archive_depth:
        walk.problem(LIMIT, f"archive nested deeper than {walk.limits.max_archive_depth}", file.path)
        return
    listing = lister()
    for kind, detail in listing.issues:
        walk.problem(kind, detail, file.path)
    container = "document" if listing.document else "archive"
    # typed all at once: libmagic's calls run side by side (filters._magic)
    kinds = iter(true_types([member.data for member in listing.members if member.examined]))
    for member in listing.members:
        kind = next(kinds) if member.examined else ""
        names = tuple(n for n in (_names.normalise(member.name),) if n)
        if _names.obscured(member.name):
            walk.problem(NAME, f"bidi, invisible or control character in {member.name!r}", file.path)
        inner = _File(f"{file.path}/{member.name}", names, member.data, "", file.depth + 1,
                      member.size, container, member.examined)  # fmt: skip
        _inspect(inner, walk, archive_depth, kind)


def _found_files(files: list[_decoders.File], prefix: str, parent: _File, walk: _Walk) -> None:
    for found in files:
        names = tuple(n for n in (_names.normalise(found.name),) if n)
        if _names.obscured(found.name):
            walk.problem(NAME, f"bidi, invisible or control character in {found.name!r}", parent.path)
        _inspect(_File(f"{parent.path}/{prefix}:{found.name}", names, found.data, "", parent.depth + 1), walk)


def _is_attachment(node: EmailMessage, names: tuple[str, ...]) -> bool:
    disposition = str(node.get("content-disposition", "")).split(";")[0].strip().lower()
    return bool(names) or disposition == "attachment" or node.get_content_maintype() != "text"


def _leaf(node: EmailMessage, content_type: _names.Params, path: str, depth: int, walk: _Walk) -> None:
    names = _headers.names_of(node, content_type, path, walk)
    data = _payload(node, path, walk)
    file = _File(path, names, data, node.get_content_type(), depth)
    if _is_attachment(node, names):
        _inspect(file, walk)
    else:
        walk.parts.append(Part(path, file.content_type, names, "", len(data), False, depth))
        walk.texts.append(_text_of(node, data))
    issues: list[str] = []
    if node.get_content_maintype() == "text":
        _found_files(_decoders.inline_files(data, issues), "inline", file, walk)
    if node.get_content_type() == "application/ms-tnef" or "winmail.dat" in names:
        _found_files(_decoders.tnef(data, issues), "tnef", file, walk)
    walk.issues(MALFORMED, issues, path)


def _wrapped(node: EmailMessage, path: str, walk: _Walk) -> list[EmailMessage]:
    """The message inside a message/rfc822 part, also when base64-wrapped (THREATS.md M12, M14)."""
    children = node.get_payload()
    encoding = str(node.get("content-transfer-encoding", "")).strip().lower()
    if not isinstance(children, list):
        return []
    inner = [child for child in children if isinstance(child, EmailMessage)]
    if encoding in _decoders.IDENTITY or len(inner) != 1 or inner[0].keys():
        return inner
    # RFC 2046 §5.2.1 allows only 7bit/8bit/binary here; clients decode it anyway, so do we.
    return [walk.feed(_payload(inner[0], path, walk, encoding), path.count(".") + 1)]


def _node(node: EmailMessage, path: str, depth: int, walk: _Walk) -> list[EmailMessage]:
    """Inspect one node; returns its children to walk."""
    _headers.header_checks(node, path, walk, walk.limits.max_headers)
    content_type = _headers.params(node, "content-type", path, walk)
    boundaries = [key for key, _ in content_type.pairs if key.startswith("boundary")]
    if len(boundaries) > 1 or boundaries[:1] not in ([], ["boundary"]):
        # THREATS.md M16: duplicate, continued or encoded boundaries split differently per client
        walk.problem(MALFORMED, f"ambiguous boundary parameters {boundaries}", path)
    if node.get_content_maintype() == "message" and node.get_content_subtype() in (
        "partial",
        "external-body",
    ):
        walk.problem(MALFORMED, f"{node.get_content_type()} cannot be inspected", path)
    if node.get_content_type() in ("message/rfc822", "message/global"):
        return _wrapped(node, path, walk)
    if node.is_multipart():
        payload = node.get_payload()
        return [child for child in payload if isinstance(child, EmailMessage)]
    _leaf(node, content_type, path, depth, walk)
    return []


def _walk(root: EmailMessage, walk: _Walk, path: str = "1", depth: int = 0) -> None:
    stack: list[tuple[EmailMessage, str, int]] = [(root, path, depth)]
    while stack:
        node, path, depth = stack.pop()
        walk.nodes += 1
        if depth > walk.limits.max_depth:
            walk.problem(LIMIT, f"MIME depth over {walk.limits.max_depth}", path)
            continue
        if walk.nodes > walk.limits.max_parts:
            walk.problem(LIMIT, f"more than {walk.limits.max_parts} parts", path)
            return
        children = _node(node, path, depth, walk)
        for index, child in reversed(list(enumerate(children, 1))):
            stack.append((child, f"{path}.{index}", depth + 1))


def _top_headers(msg: EmailMessage) -> tuple[tuple[str, str], ...]:
    return tuple(
        (key.lower(), _names.decode_words(_names.unescape(str(value)))) for key, value in msg.raw_items()
    )


def _raw_headers(msg: EmailMessage) -> tuple[tuple[str, str], ...]:
    # Unfolded (RFC 5322 §2.2.3) but not decoded: sender.domain parses addresses from these
    return tuple((key.lower(), _FOLD.sub("", _names.unescape(str(value)))) for key, value in msg.raw_items())


def parse(
    raw: bytes, limits: Limits = LIMITS, crlf_clean: bool = False, base64_lines: _tree.Proven = ()
) -> MimeView:
    """Build the view of ``raw``; never raises on hostile input.

    ``crlf_clean``: the caller proved ``raw`` free of bare CR, bare LF and NUL (gateway.data
    refuses them at DATA), so the same three counts over the whole message are not repeated.
    ``base64_lines``: blocks of ``raw`` gateway.data proved to be base64 lines (filters._tree)."""
    budget = _archive.Budget(limits.max_expanded, limits.max_members, limits.max_member, limits.max_ratio)
    walk = _Walk(limits, budget, work=_bounded.Work(limits.max_parse_work))
    if not crlf_clean:
        _headers.raw_checks(raw, walk)
    headers: tuple[tuple[str, str], ...] = ()
    raw_headers: tuple[tuple[str, str], ...] = ()
    try:
        # the feedparser's tree, without its per-line cost on attachments, stopped when too costly;
        # whole base64 attachments stay in ``raw`` until decoded (filters/_tree.py)
        root, walk.bodies = _tree.split(
            raw, parser=functools.partial(walk.feed, depth=0), proven=base64_lines
        )
        headers = _top_headers(root)
        raw_headers = _raw_headers(root)
        _walk(root, walk)
    except _bounded.TooCostly as error:
        walk.problem(LIMIT, str(error))
    except RecursionError:
        # THREATS.md M15: CPython's parser recurses per nesting level; 1000 levels blow the stack
        walk.problem(LIMIT, "MIME nesting too deep to parse")
    except Exception as error:  # a parser bug must not pass a message unchecked: fail closed
        log.exception("MIME parser failed")
        walk.problem(MALFORMED, f"parser failure: {type(error).__name__}")
    text = "\n".join(walk.texts)[: limits.max_text_chars]
    return MimeView(headers, tuple(walk.parts), text, tuple(walk.problems), raw_headers)
