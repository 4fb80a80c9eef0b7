"""Show a held message as its recipients would see it, safely: the approvers' view of content.

Trusts nothing in the message. HTML is sanitised with nh3 (an allow-list: no script, no event
handlers, no style sheets, no forms); every image source that is not one of the message's own
``cid:`` parts is dropped, so nothing remote is ever fetched (the page's CSP forbids it as
well); ``cid:`` images are served from the message itself by the detail view. Attachments are
listed with their true type (libmagic, through filters._magic). Hands a Rendered to the views.
"""

from __future__ import annotations

import email
import email.policy
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

import nh3

from filters._magic import true_type

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "div", "em", "font", "h1",
    "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "small", "span",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "*": {"align", "title", "colspan", "rowspan", "width", "height"},
    "a": {"href"},
    "img": {"src", "alt"},
}
_RASTER = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"}  # never SVG: it runs script
_MAX_PARTS = 500


@dataclass(frozen=True)
class Attachment:
    name: str
    declared: str
    true_type: str
    size: int


@dataclass(frozen=True)
class Rendered:
    html: str  # sanitised, safe to insert as markup
    text: str  # the plain-text body when there is no HTML
    attachments: tuple[Attachment, ...]
    headers: tuple[tuple[str, str], ...]


def _parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _leaves(message: EmailMessage) -> list[EmailMessage]:
    return [p for p in list(message.walk())[:_MAX_PARTS] if not p.is_multipart()]


def _payload(part: EmailMessage) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _text(part: EmailMessage) -> str:
    charset = part.get_content_charset() or "utf-8"
    return _payload(part).decode(charset if _known(charset) else "utf-8", errors="replace")


def _known(charset: str) -> bool:
    try:
        "".encode(charset)
    except LookupError:
        return False
    return True


def _visible(name: str) -> str:
    # THREATS.md M7: a right-to-left override would show "factura<U+202E>fdp.vbs" as a PDF
    return "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))


def _content_id(part: EmailMessage) -> str:
    return str(part.get("Content-ID", "")).strip().strip("<>")


def inline_image(raw: bytes, content_id: str) -> tuple[bytes, str] | None:
    """The bytes and true type of the ``cid:`` part, when it really is a raster image."""
    for part in _leaves(_parse(raw)):
        if content_id and _content_id(part) == content_id:
            data = _payload(part)
            kind = true_type(data)
            return (data, kind) if kind in _RASTER else None
    return None


def _image_source(ticket: str) -> Callable[[str, str, str], str | None]:
    def rewrite(element: str, attribute: str, value: str) -> str | None:
        if element == "img" and attribute == "src":
            # Only the message's own parts: a remote image would tell the sender who read it.
            if value.lower().startswith("cid:"):
                return f"/retenidos/{ticket}/cid/{re.sub(r'[^A-Za-z0-9@._-]', '', value[4:])}"
            return None
        if element == "a" and attribute == "href":
            return value if value.lower().startswith(("http:", "https:", "mailto:")) else None
        return value

    return rewrite


def sanitise(html: str, ticket: str) -> str:
    return nh3.clean(
        html, tags=_TAGS, attributes=_ATTRIBUTES, attribute_filter=_image_source(ticket),
        url_schemes={"http", "https", "mailto", "cid"}, link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )  # fmt: skip


def render(raw: bytes, ticket: str) -> Rendered:
    message = _parse(raw)
    html, text, attachments = "", "", []
    for part in _leaves(message):
        kind = part.get_content_type()
        if kind == "text/html" and not html and not part.get_filename():
            html = sanitise(_text(part), ticket)
        elif kind == "text/plain" and not text and not part.get_filename():
            text = _text(part)
        elif part.get_filename() or not kind.startswith("text/"):
            data = _payload(part)
            name = _visible(part.get_filename() or "")
            attachments.append(Attachment(name or "(sin nombre)", kind, true_type(data), len(data)))
    labels = (("From", "De"), ("To", "Para"), ("Cc", "CC"), ("Subject", "Asunto"), ("Date", "Fecha"))
    headers = tuple((label, str(message.get(name, ""))) for name, label in labels)
    return Rendered(html, text, tuple(attachments), headers)
