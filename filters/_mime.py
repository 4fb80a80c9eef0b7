"""Parse a message's bytes once into the read-only MimeView that every filter reads.

Trusts nothing: the bytes come from the network. Walks the MIME tree iteratively with limits
on depth, part count and decoded bytes; decodes every declared file name (RFC 2231, RFC 2047)
and normalises it; asks libmagic (the only importer of python-magic) for the true type of
attachment-like parts. Whatever it cannot inspect becomes a Problem, never an exception.
Hands the view to the pipeline, which hands it to the filters.
"""

from __future__ import annotations

import email.header
import email.parser
import email.policy
import email.utils
import html
import re
import unicodedata
from dataclasses import dataclass
from email.message import Message as EmailMessage

import magic

from gateway.model import MimeView, Part, Problem


@dataclass(frozen=True)
class Limits:
    max_depth: int = 20  # amavisd-new $MAXLEVELS is 14; forwards of forwards need some room
    max_parts: int = 1000  # amavisd-new $MAXFILES is 1500
    max_text_chars: int = 1_000_000
    magic_bytes: int = 4096  # enough for libmagic's PE, ELF, script and media signatures


LIMITS = Limits()
_PARSER = email.parser.BytesParser(policy=email.policy.compat32)
_MAGIC = magic.Magic(mime=True)
# Bidi overrides and isolates, zero-width and other invisible characters (THREATS.md M7)
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad]")
_TAGS = re.compile(r"<[^>]*>")


def normalise_name(name: str) -> str:
    """Fold a file name to the form Windows would act on (THREATS.md M6-M8)."""
    name = unicodedata.normalize("NFKC", name)
    name = _INVISIBLE.sub("", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cc")
    # Windows ignores trailing dots and spaces: "informe.cmd. " runs as informe.cmd
    return name.rstrip(". \t").casefold()


def true_type(data: bytes) -> str:
    """libmagic's MIME type for the first bytes of ``data``."""
    if not data:
        return "application/x-empty"
    try:
        return str(_MAGIC.from_buffer(data[: LIMITS.magic_bytes]))
    except magic.MagicException:
        return "application/octet-stream"


def _decode_words(value: str) -> str:
    # RFC 2047 words inside parameters are not standard, but mail clients decode them (M4)
    if "=?" not in value:
        return value
    try:
        chunks = email.header.decode_header(value)
    except (ValueError, LookupError):
        return value
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(chunk.decode(charset or "ascii", errors="replace"))
        else:
            out.append(chunk)
    return "".join(out)


def declared_names(part: EmailMessage) -> tuple[str, ...]:
    """Every name a part declares, in Content-Disposition and Content-Type (M1-M4)."""
    names: list[str] = []
    for param, header in (("filename", "content-disposition"), ("name", "content-type")):
        raw = part.get_param(param, header=header)
        if raw is None:
            continue
        value = email.utils.collapse_rfc2231_value(raw) if isinstance(raw, tuple) else str(raw)
        names.append(normalise_name(_decode_words(value)))
    return tuple(dict.fromkeys(name for name in names if name))


def _payload(part: EmailMessage) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _text_of(part: EmailMessage, data: bytes) -> str:
    charset = part.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, errors="replace")
    except LookupError:
        text = data.decode("utf-8", errors="replace")
    if part.get_content_subtype() == "html":
        text = html.unescape(_TAGS.sub(" ", text))
    return text


def _headers(msg: EmailMessage) -> tuple[tuple[str, str], ...]:
    out = []
    for key, value in msg.items():
        out.append((key.lower(), _decode_words(str(value))))
    return tuple(out)


def _is_attachment(part: EmailMessage, names: tuple[str, ...]) -> bool:
    disposition = (part.get("content-disposition") or "").split(";")[0].strip().lower()
    return (
        bool(names)
        or disposition == "attachment"
        or part.get_content_maintype()
        not in (
            "text",
            "multipart",
        )
    )


def parse(raw: bytes, limits: Limits = LIMITS) -> MimeView:
    """Build the view of ``raw``; never raises on hostile input."""
    root = _PARSER.parsebytes(raw)
    parts: list[Part] = []
    problems: list[Problem] = []
    texts: list[str] = []
    stack: list[tuple[EmailMessage, str, int]] = [(root, "1", 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > limits.max_depth:
            problems.append(Problem("depth", f"MIME depth over {limits.max_depth}", path))
            continue
        if len(parts) >= limits.max_parts:
            problems.append(Problem("parts", f"more than {limits.max_parts} parts", path))
            break
        if node.is_multipart():
            children = node.get_payload()
            if isinstance(children, list):
                for index, child in reversed(list(enumerate(children, 1))):
                    stack.append((child, f"{path}.{index}", depth + 1))
            continue
        names = declared_names(node)
        data = _payload(node)
        attachment = _is_attachment(node, names)
        kind = true_type(data) if attachment else ""
        parts.append(Part(path, node.get_content_type(), names, kind, len(data), attachment, depth))
        if not attachment and node.get_content_maintype() == "text":
            texts.append(_text_of(node, data))
    text = "\n".join(texts)[: limits.max_text_chars]
    return MimeView(_headers(root), tuple(parts), text, tuple(problems))
