"""Feed email's parser a slice at a time, stopping when the structure gets too deep or too costly.

Trusts nothing: the bytes come from the network. CPython's feedparser checks every line against
every enclosing boundary, so its cost grows with lines times nesting depth: 0.9 MB of short
lines at depth 100 took 6 s here, and 25 MB would hold the event loop for minutes (THREATS.md
M15). Feeding slices lets the parse stop as soon as the nesting passes the limit, or the work
(lines weighted by depth) passes a budget; either is a TooCostly, which filters._mime turns into
a refusal. Hands the finished compat32 tree to filters._tree and filters._mime.
"""

from __future__ import annotations

import email.feedparser
import email.policy
from dataclasses import dataclass
from email.message import Message as EmailMessage

SLICE = 16 << 10  # small enough that one slice cannot nest deep enough to exhaust the stack
# Per line the feedparser pays about four boundary checks' worth of work plus one per level
_BASE_COST = 4
# What the feedparser parses after the top headers; any other type makes the rest one payload
_CONTAINERS = ("multipart", "message")


class TooCostly(Exception):
    """Parsing was stopped; the message says why (for the Problem's detail)."""


@dataclass
class Work:
    """What is left of one message's parsing budget, shared by the message and those it wraps."""

    limit: int
    used: int = 0


def parse(data: bytes, max_depth: int, work: Work) -> EmailMessage:
    """The compat32 tree of ``data``, as BytesParser.parsebytes builds it, within the bounds.

    The top-level headers end at the first blank line or before it. When they declare a leaf
    (not multipart/*, not message/*), the feedparser would only append every line after them
    to the payload: that rest is appended as it is, without handing it over line by line (a
    10 KB plain message: 100 us less). The lines count against the budget all the same."""
    parser = email.feedparser.BytesFeedParser(policy=email.policy.compat32)
    blank = data.find(b"\r\n\r\n")
    head = len(data) if blank < 0 else blank + 4
    _feed(parser, data, 0, head, max_depth, work)
    stack = vars(parser)["_msgstack"]
    if head < len(data) and len(stack) == 1 and stack[0].get_content_maintype() not in _CONTAINERS:
        _charge(work, data.count(b"\n", head) * (_BASE_COST + 1))
        root: EmailMessage = parser.close()
        # what the feedparser's loop over the remaining lines joins, as BytesFeedParser decodes it
        root.set_payload(str(vars(root)["_payload"]) + data[head:].decode("ascii", "surrogateescape"))
        return root
    _feed(parser, data, head, len(data), max_depth, work)
    return parser.close()


def _feed(
    parser: email.feedparser.BytesFeedParser, data: bytes, start: int, stop: int, max_depth: int, work: Work
) -> None:
    for first in range(start, stop, SLICE):
        chunk = data[first : min(first + SLICE, stop)]
        parser.feed(chunk)
        depth = len(vars(parser)["_msgstack"])  # the containers the feedparser has open
        if depth > max_depth + 1:
            raise TooCostly(f"MIME depth over {max_depth}")
        _charge(work, chunk.count(b"\n") * (_BASE_COST + depth))


def _charge(work: Work, cost: int) -> None:
    work.used += cost
    if work.used > work.limit:
        raise TooCostly(f"MIME structure too costly to parse (over {work.limit} line checks)")
