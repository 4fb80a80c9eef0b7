"""Read a MIME header's parameters and the file names they declare, the way a careful client would.

Trusts nothing: the header text comes from the network. Splits parameters itself (so duplicates,
stray quotes and unquoted spaces are seen rather than silently resolved), reassembles RFC 2231
continuations, decodes RFC 2231 charsets and RFC 2047 words, and folds each name to the form
Windows acts on. Every ambiguity becomes an Issue; filters._mime turns them into Problems.
"""

from __future__ import annotations

import email.errors
import email.header
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field

# Bidi overrides/embeddings/isolates, zero-width and other invisible characters (THREATS.md M7)
_INVISIBLE = re.compile("[\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff\u00ad]")
_CONTINUATION = re.compile(r"^([a-z0-9_.-]+)\*(\d+)(\*?)$")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


@dataclass
class Params:
    """The parameters of one header: value, ordered (key, value) pairs, and what looked wrong."""

    value: str = ""
    pairs: list[tuple[str, str]] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)
    loose: list[tuple[str, str]] = field(default_factory=list)  # unquoted values with spaces

    def get(self, key: str) -> list[str]:
        return [value for name, value in self.pairs if name == key]


def _split(text: str) -> list[str]:
    """Split on ';' outside quoted strings (RFC 2045 §5.1)."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return pieces


def _unquote(raw: str, issues: list[str]) -> str:
    if not raw.startswith('"'):
        if any(ch.isspace() for ch in raw):
            # THREATS.md M10: "filename=mi acta.vbs" reads as "mi" or as "mi acta.vbs"
            issues.append(f"unquoted value with spaces: {raw!r}")
        return raw
    out, escaped = [], False
    for index, char in enumerate(raw[1:], 1):
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            if raw[index + 1 :].strip():
                # A second quote followed by text injects another value (unemail#122)
                issues.append(f"text after closing quote: {raw!r}")
            return "".join(out)
        else:
            out.append(char)
    issues.append(f"unterminated quoted string: {raw!r}")
    return "".join(out)


def unescape(text: str) -> str:
    """Raw UTF-8 in a header (RFC 6532) as text: email's BytesParser leaves it surrogate-escaped."""
    if text.isascii() or not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def parse_params(text: str) -> Params:
    """Parse a Content-Type or Content-Disposition header value."""
    text = unescape(text)
    # RFC 5322 §2.2.3: unfolding removes the CRLF before folding whitespace, nothing else
    pieces = _split(_FOLD.sub("", text))
    params = Params(value=pieces[0].strip().lower())
    for piece in pieces[1:]:
        if not piece.strip():
            continue
        key, equals, raw = piece.partition("=")
        if not equals:
            params.issues.append(f"parameter without value: {piece.strip()!r}")
            continue
        value = _unquote(raw.strip(), params.issues)
        params.pairs.append((key.strip().lower(), value))
        if not raw.strip().startswith('"') and len(value.split()) > 1:
            params.loose.append((key.strip().lower(), value))
    return params


def _decode_2231(value: str, encoded: bool, charset: str) -> tuple[str, str]:
    """Decode one RFC 2231 piece; returns (text, charset for the next pieces)."""
    if not encoded:
        return value, charset
    if not charset and value.count("'") >= 2:
        charset, _, rest = value.split("'", 2)
        value = rest
    data = urllib.parse.unquote_to_bytes(value)
    try:
        return data.decode(charset or "us-ascii"), charset
    except (LookupError, ValueError):
        return data.decode("utf-8", errors="replace"), charset


def _collapse(params: Params, key: str) -> list[str]:
    """Every value of ``key``: plain, ``key*`` and reassembled ``key*N[*]`` continuations (M3)."""
    values = list(params.get(key))
    if params.get(key + "*"):
        values.extend(_decode_2231(v, True, "")[0] for v in params.get(key + "*"))
    pieces: dict[int, tuple[str, bool]] = {}
    for name, value in params.pairs:
        match = _CONTINUATION.match(name)
        if match is None or match.group(1) != key:
            continue
        number = int(match.group(2))
        if number in pieces:
            params.issues.append(f"{key}*{number} given twice")  # golang/go#47602
        pieces[number] = (value, bool(match.group(3)))
    if pieces:
        if sorted(pieces) != list(range(len(pieces))):
            params.issues.append(f"{key}* continuations not numbered 0..n")
        text, charset = "", ""
        for number in sorted(pieces):
            chunk, charset = _decode_2231(pieces[number][0], pieces[number][1], charset)
            text += chunk
        values.append(text)
    return values


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded-words, also where the RFC forbids them but clients decode (M4)."""
    if "=?" not in value:
        return value
    try:
        chunks = email.header.decode_header(value)
    except (ValueError, LookupError, AssertionError, email.errors.HeaderParseError):
        return value
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            try:
                out.append(chunk.decode(charset or "ascii", errors="replace"))
            except (LookupError, ValueError):  # unknown charset, or a NUL in its name
                out.append(chunk.decode("utf-8", errors="replace"))
        else:
            out.append(chunk)
    return "".join(out)


def names_of(params: Params, key: str) -> list[str]:
    """Every name the header declares under ``key`` (filename or name), decoded, not folded."""
    found = [decode_words(value) for value in _collapse(params, key)]
    if len({extension(normalise(name)) for name in found}) > 1:
        # THREATS.md M2: two values of one parameter that disagree on the type; each client
        # picks another. An ASCII fallback beside filename* ("informe_ano.pdf" and
        # "informe_año.pdf") is common and agrees on the extension.
        params.issues.append(f"conflicting {key} values: {found!r}")
    # THREATS.md M10: a strict parser stops at the space; check that reading too
    return found + [value.split()[0] for name, value in params.loose if name == key]


def obscured(name: str) -> bool:
    """Whether ``name`` holds bidi, invisible or control characters (THREATS.md M7, M9)."""
    return bool(_INVISIBLE.search(name)) or any(unicodedata.category(ch) == "Cc" for ch in name)


def normalise(name: str) -> str:
    """Fold a file name to the form Windows would act on (THREATS.md M6-M8)."""
    name = unicodedata.normalize("NFKC", name)
    name = _INVISIBLE.sub("", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cc")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    # Windows ignores trailing dots and spaces: "informe.cmd. " runs as informe.cmd
    return name.rstrip(". \t").casefold()


def extension(name: str) -> str:
    """The last extension of a normalised name ("informe.pdf.bat" -> "bat"); M5."""
    _, dot, ext = name.rpartition(".")
    return ext.strip() if dot else ""
