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


class TooCostly(Exception):
    """Parsing was stopped; the message says why (for the Problem's detail)."""


@dataclass
class Work:
    """What is left of one message's parsing budget, shared by the message and those it wraps."""

    limit: int
    used: int = 0


def parse(data: bytes, max_depth: int, work: Work) -> EmailMessage:
    """The compat32 tree of ``data``, as BytesParser.parsebytes builds it, within the bounds."""
    parser = email.feedparser.BytesFeedParser(policy=email.policy.compat32)
    for start in range(0, len(data), SLICE):
        chunk = data[start : start + SLICE]
        parser.feed(chunk)
        depth = len(vars(parser)["_msgstack"])  # the containers the feedparser has open
        if depth > max_depth + 1:
            raise TooCostly(f"MIME depth over {max_depth}")
        work.used += chunk.count(b"\n") * (_BASE_COST + depth)
        if work.used > work.limit:
            raise TooCostly(f"MIME structure too costly to parse (over {work.limit} line checks)")
    return parser.close()
