"""Parse RFC 5322 address headers strictly: the mailboxes of From:, To:, Cc:, Sender:.

Trusts nothing: header values come from the network, undecoded (MimeView.raw_headers). Where
CPython's parsers guess (THREATS.md F1: CVE-2023-27043, an unquoted ``a@b <c@d>`` read as
``a@b``), this one refuses with AddressError. Display names are decoded (RFC 2047) only after
the structure is known, so an encoded word can never become an address. Pure; hands Mailbox
tuples to sender.domain and rcpt.visible.
"""

from __future__ import annotations

import email.header
import functools
import re
import unicodedata
from dataclasses import dataclass

# RFC 5322 §3.2.3 atext, plus any non-ASCII character (RFC 6532 §3.2)
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff]+")
_SPECIALS = "<>:;@,."
# Something in a display name that a reader takes for an address (F1); NFKC folds "＠" to "@"
_LOOKS_LIKE_ADDRESS = re.compile(r"[^\s<>()\"',;:@]+@[^\s<>()\"',;:@]+\.[^\s<>()\"',;:@]+")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad]")
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")  # C0 but tab, and DEL (THREATS.md M9/M18)


class AddressError(ValueError):
    """The header is not a well-formed address list; the reason is for the log."""


@dataclass(frozen=True)
class Mailbox:
    display: str  # decoded display name, "" when absent
    local: str
    domain: str  # as written; compare with domain_key()
    comments: str = ""  # text of (comments), which some clients show like a name

    @property
    def address(self) -> str:
        return f"{self.local}@{self.domain}"


@dataclass(frozen=True)
class _Token:
    kind: str  # "atom", "quoted", "special", "literal"
    text: str
    spaced: bool  # whitespace or a comment came before it


def domain_key(domain: str) -> str:
    """The form two domains are compared in (F1/F3): casefolded, no trailing dot, IDNA A-labels."""
    if domain.isascii():
        # NFKC leaves ASCII as it is, and IDNA too (or refuses it, which keeps it as it is)
        return domain.lower().rstrip(".")
    domain = unicodedata.normalize("NFKC", domain).casefold().rstrip(".")
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def address_key(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local.casefold()}@{domain_key(domain)}" if local else address.casefold()


def _comment(value: str, start: int) -> tuple[str, int]:
    depth, index, out = 0, start, []
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            out.append(value[index + 1])
            index += 2
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return "".join(out[1:]), index + 1
        out.append(char)
        index += 1
    raise AddressError("unclosed comment")


def _quoted(value: str, start: int) -> tuple[str, int]:
    index, out = start + 1, []
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            out.append(value[index + 1])
            index += 2
        elif char == '"':
            return "".join(out), index + 1
        else:
            out.append(char)
            index += 1
    raise AddressError("unclosed quoted string")


def _tokens(value: str) -> tuple[list[_Token], str]:
    if _CONTROL.search(value):
        raise AddressError("control character in address header")
    tokens: list[_Token] = []
    comments: list[str] = []
    index, spaced = 0, False
    while index < len(value):
        char = value[index]
        if char in " \t":
            index, spaced = index + 1, True
        elif char == "(":
            text, index = _comment(value, index)
            comments.append(text)
            spaced = True
        elif char == '"':
            text, index = _quoted(value, index)
            tokens.append(_Token("quoted", text, spaced))
            spaced = False
        elif char == "[":
            end = value.find("]", index)
            if end < 0:
                raise AddressError("unclosed domain literal")
            tokens.append(_Token("literal", value[index : end + 1], spaced))
            index, spaced = end + 1, False
        elif char in _SPECIALS:
            tokens.append(_Token("special", char, spaced))
            index, spaced = index + 1, False
        else:
            match = _ATEXT.match(value, index)
            if match is None:
                raise AddressError(f"unexpected character {char!r}")
            tokens.append(_Token("atom", match.group(), spaced))
            index, spaced = match.end(), False
    return tokens, " ".join(comments)


def _split(tokens: list[_Token], separator: str) -> list[list[_Token]]:
    out: list[list[_Token]] = [[]]
    angle = False
    for token in tokens:
        if token.kind == "special" and token.text in "<>":
            angle = token.text == "<"
        if token.kind == "special" and token.text == separator and not angle:
            out.append([])
        else:
            out[-1].append(token)
    return out


def _addr_spec(tokens: list[_Token]) -> tuple[str, str]:
    at = [i for i, t in enumerate(tokens) if t.kind == "special" and t.text == "@"]
    if len(at) != 1:
        raise AddressError("an address needs exactly one @")  # CVE-2019-16056: a@b@c
    if any(t.spaced for t in tokens[1:]):
        raise AddressError("space inside an address")
    local_tokens, domain_tokens = tokens[: at[0]], tokens[at[0] + 1 :]
    if len(local_tokens) == 1 and local_tokens[0].kind == "quoted":
        local = local_tokens[0].text
    else:
        local = _dot_atom(local_tokens, "local part")
    return local, _dot_atom(domain_tokens, "domain")


def _dot_atom(tokens: list[_Token], what: str) -> str:
    texts = [t.text for t in tokens]
    atoms_ok = all(t.kind == "atom" for t in tokens[::2])
    dots_ok = all(t.kind == "special" and t.text == "." for t in tokens[1::2])
    if not tokens or len(tokens) % 2 == 0 or not atoms_ok or not dots_ok:
        raise AddressError(f"malformed {what}: {''.join(texts)!r}")
    return "".join(texts)


def _phrase(tokens: list[_Token]) -> str:
    words: list[str] = []
    for token in tokens:
        # "." is RFC 5322 §4.1 obs-phrase ("J. Pérez"); anything else special must be quoted
        if token.kind not in ("quoted", "atom") and token.text != ".":
            raise AddressError(f"{token.text!r} in a display name must be quoted")
        words.append((" " if token.spaced and words else "") + token.text)
    return decode_words("".join(words))


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words as mail clients do (also inside quotes, M4)."""
    if "=?" not in text:
        return text
    try:
        chunks = email.header.decode_header(text)
    except (ValueError, LookupError):
        return text
    return "".join(
        chunk.decode(charset or "ascii", "replace") if isinstance(chunk, bytes) else chunk
        for chunk, charset in chunks
    )


def _mailbox(tokens: list[_Token], comments: str) -> Mailbox:
    if not tokens:
        raise AddressError("empty mailbox")
    opens = [i for i, t in enumerate(tokens) if t.kind == "special" and t.text == "<"]
    if not opens:
        local, domain = _addr_spec(tokens)
        return Mailbox("", local, domain, comments)
    start = opens[0]
    if len(opens) != 1 or tokens[-1].kind != "special" or tokens[-1].text != ">":
        raise AddressError("a mailbox has one <address> and nothing after it")
    local, domain = _addr_spec(tokens[start + 1 : -1])
    return Mailbox(_phrase(tokens[:start]), local, domain, comments)


def mailboxes(value: str) -> tuple[Mailbox, ...]:
    """The mailboxes of a mailbox-list (From:, Sender:); groups are refused (RFC 5322 §3.6.2)."""
    return _mailboxes(value) if len(value) <= _REMEMBERED else _mailboxes.__wrapped__(value)


def address_list(value: str) -> tuple[Mailbox, ...]:
    """The mailboxes of an address-list (To:, Cc:), members of groups included."""
    return _address_list(value) if len(value) <= _REMEMBERED else _address_list.__wrapped__(value)


# A sender's From: (and often To:) is the same string message after message, and parsing it is
# pure: the last answers for short values are kept (sender.domain, sender.login and
# rcpt.visible read the same headers of every message). A refusal is not kept: it raises again.
_REMEMBERED = 1000


@functools.lru_cache(maxsize=512)
def _mailboxes(value: str) -> tuple[Mailbox, ...]:
    tokens, comments = _tokens(value)
    if any(t.kind == "special" and t.text in ":;" for t in tokens):
        raise AddressError("group syntax in a mailbox list")
    if any(t.kind == "literal" for t in tokens):
        raise AddressError("domain literal")
    return tuple(_mailbox(part, comments) for part in _split(tokens, ","))


@functools.lru_cache(maxsize=512)
def _address_list(value: str) -> tuple[Mailbox, ...]:
    tokens, comments = _tokens(value)
    out: list[Mailbox] = []
    for part in _split(tokens, ","):
        part = [t for t in part if not (t.kind == "special" and t.text == ";")]  # group ends
        colon = [i for i, t in enumerate(part) if t.kind == "special" and t.text == ":"]
        if colon:
            part = part[colon[0] + 1 :]
            if not part:
                continue  # "undisclosed-recipients:;" names nobody
        out.append(_mailbox(part, comments))
    return tuple(out)


def addresses_in_text(text: str) -> tuple[str, ...]:
    """Address-like strings a reader would see in ``text`` (a display name or a comment)."""
    folded = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    return tuple(address_key(found.strip(".")) for found in _LOOKS_LIKE_ADDRESS.findall(folded))
