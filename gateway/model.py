"""The shared vocabulary of compuerta: data only, no behaviour beyond lookups and derived figures.

Trusts nothing and imports nothing from our own packages; every other module (filters,
pipeline, store, relay, web) speaks in these types. Everything here is immutable so that a
verdict or a message view can be compared with ``==`` and handed between tasks freely.
"""

from __future__ import annotations

import enum
import functools
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Generic, Protocol, TypeVar


class Action(enum.IntEnum):
    """What the gateway does with a message; a larger value is stricter."""

    ACCEPT = 0
    TAG = 1
    HOLD = 2
    TEMPFAIL = 3
    SUSPEND = 4
    REJECT = 5


class Stage(enum.Enum):
    """When a check runs: the earliest moment it has what it needs."""

    MAIL = "mail"  # sender and declared SIZE are known
    RCPT = "rcpt"  # one more recipient is known (Message.envelope holds all so far)
    DATA = "data"  # the whole message is known


@dataclass(frozen=True)
class Verdict:
    """One rule's objection. ``detail`` is for the log and may fill the reply's {detail}."""

    action: Action
    rule: str
    detail: str = ""


@dataclass(frozen=True)
class Envelope:
    """The SMTP envelope as the gateway received it (or as the milter saw it)."""

    mail_from: str
    rcpt_tos: tuple[str, ...] = ()
    declared_size: int | None = None
    client_address: str = ""  # original client, from XFORWARD ADDR when trusted
    client_name: str = ""
    helo: str = ""
    login: str | None = None  # SASL login of the original client, when known
    smtputf8: bool = False


@dataclass(frozen=True)
class Problem:
    """Something the parser could not inspect fully; a filter decides what it means."""

    kind: str  # e.g. "depth", "parts", "encrypted", "ambiguous-header", "bomb"
    detail: str
    path: str = ""


@dataclass(frozen=True)
class Part:
    """One leaf of the MIME tree, or one member of an archive inside it."""

    path: str  # "1.2" in the MIME tree; "1.2/docs.zip/a/b.exe" inside archives
    content_type: str  # declared, lower case, without parameters
    filenames: tuple[str, ...]  # every declared name, decoded and normalised
    true_type: str  # libmagic MIME type of the decoded bytes ("" when not examined)
    size: int  # decoded bytes
    is_attachment: bool
    depth: int = 0  # MIME nesting plus archive nesting
    in_archive: bool = False
    container: str = ""  # "archive" or "document" (OOXML/ODF) for archive members
    sample: bytes = field(default=b"", repr=False)  # the first bytes of a large attachment, else b""

    @functools.cached_property
    def sample_ratio(self) -> float:
        """zlib level-1 size over size of ``sample`` (1.0: not sampled): near 1.0 when already
        compressed. Worked out the first time a rule asks (most parts are never asked about)."""
        if not self.sample:
            return 1.0
        return len(zlib.compress(self.sample, 1)) / len(self.sample)


@dataclass(frozen=True)
class MimeView:
    """The parsed message, built once per message by filters._mime.parse()."""

    headers: tuple[tuple[str, str], ...]  # top-level headers, names lower case, values decoded
    parts: tuple[Part, ...]
    text: str  # decoded text of the text/* parts (HTML reduced to text), bounded
    problems: tuple[Problem, ...] = ()
    # Top-level headers as received (names lower case, values unfolded but NOT RFC 2047
    # decoded): address parsing must see the encoded words, or a decoded display name can
    # forge an address (THREATS.md F1).
    raw_headers: tuple[tuple[str, str], ...] = ()

    def header(self, name: str) -> tuple[str, ...]:
        """Every value of the top-level header ``name`` (case-insensitive)."""
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key == wanted)

    def raw_header(self, name: str) -> tuple[str, ...]:
        """Every undecoded value of the top-level header ``name`` (case-insensitive)."""
        wanted = name.lower()
        return tuple(value for key, value in self.raw_headers if key == wanted)


@dataclass(frozen=True)
class Message:
    """What the filters see: the envelope, the bytes as received, and the parsed view."""

    id: str  # our own queue id, also in the log line and the decision log
    envelope: Envelope
    raw: bytes = b""  # empty before DATA
    view: MimeView | None = None  # None before DATA
    received_at: datetime | None = None
    # ``raw`` has CRLF line ends only and no NUL: gateway.data.judge proved it, so the parser
    # and the relay need not count the bytes again (THREATS.md S1, S4, M9, M18)
    crlf_clean: bool = False
    dot_free: bool = False  # and no line of ``raw`` starts with "." (RFC 5321 §4.5.2: nothing to stuff)
    # (start, end, length of each line with its CRLF) of blocks of ``raw`` that gateway.data
    # proved to be lines of base64 characters: the parser does not read them again
    base64_lines: tuple[tuple[int, int, int], ...] = ()


class AccountState(enum.Enum):
    """The states 001 III, 003 4.19/4.22 and 000 norm 8 give an institutional account."""

    ACTIVE = "active"
    SUSPENDED = "suspended"  # under investigation or by rate.abuse
    DISABLED = "disabled"
    TEMPORARY = "temporary"  # active until Account.expires
    GRACE = "grace"  # baja requested; writable until Account.expires (15 days)


@dataclass(frozen=True)
class Account:
    address: str
    dependency: str = ""
    state: AccountState = AccountState.ACTIVE
    expires: date | None = None
    internet: bool = True  # 003 3.0: only some accounts may write to the Internet
    mass_mailing: bool = False  # holds the right to send masivos past rcpt.max
    name: str = ""
    # 003 5.6.7: other addresses (shared mailboxes, lists) this account's login may send as
    send_as: tuple[str, ...] = ()


@dataclass(frozen=True)
class DistributionList:
    address: str
    members: tuple[str, ...] = ()
    all_staff: bool = False  # 003 4.16 groups "TODOS", 001 VI lists of all staff
    dependency: str = ""


@dataclass(frozen=True)
class Dependency:
    """A unit of the government (secretaría, dirección) that accounts and lists belong to."""

    code: str
    name: str = ""


@dataclass(frozen=True)
class PeerDomain:
    """Another government domain whose administrator re-sends released masivos inside it."""

    domain: str
    administrators: tuple[str, ...]
    name: str = ""


@dataclass(frozen=True)
class Directory:
    """A read-only snapshot of accounts, lists and peer domains, reloaded as a whole."""

    accounts: Mapping[str, Account] = field(default_factory=dict)
    lists: Mapping[str, DistributionList] = field(default_factory=dict)
    peers: Mapping[str, PeerDomain] = field(default_factory=dict)
    dependencies: Mapping[str, Dependency] = field(default_factory=dict)
    version: int = 0  # the store's directory version this snapshot was read at

    def account(self, address: str) -> Account | None:
        return self.accounts.get(address.lower())

    def distribution_list(self, address: str) -> DistributionList | None:
        return self.lists.get(address.lower())

    def peer(self, domain: str) -> PeerDomain | None:
        return self.peers.get(domain.lower())

    def expand(self, addresses: Iterable[str]) -> tuple[str, ...]:
        """Every distinct final recipient: lists replaced by their members, nested lists too."""
        seen: set[str] = set()
        out: list[str] = []
        stack = [a.lower() for a in reversed(tuple(addresses))]
        while stack:
            address = stack.pop()
            if address in seen:
                continue  # a loop of lists, or a member listed twice, counts once
            seen.add(address)
            group = self.lists.get(address)
            if group is None:
                out.append(address)
            else:
                stack.extend(m.lower() for m in reversed(group.members))
        return tuple(out)


@dataclass(frozen=True)
class Usage:
    """The sender's recent consumption, read by the pipeline before the checks run."""

    messages_last_minute: int = 0
    recipients_last_day: int = 0
    limit_hits_last_hour: int = 0
    suspended: bool = False


@dataclass(frozen=True)
class Windows:
    """Which parts of a sender's Usage some rule of its profile reads; the others are left at
    zero rather than counted (a sender's day of events is a scan of every one of them)."""

    messages: bool = True  # messages_last_minute
    recipients: bool = True  # recipients_last_day
    hits: bool = True  # limit_hits_last_hour
    suspended: bool = True


ALL_WINDOWS = Windows()


@dataclass(frozen=True)
class Charge:
    """What one accepted message costs its sender under rate.messages and rate.recipients."""

    key: str  # who pays: the SASL login when known, else the envelope sender (001 VI)
    address: str  # the envelope sender, whose last outbound activity is recorded (003 8.3)
    recipients: int  # after expanding distribution lists, each person once
    max_messages: int = 0  # per minute; 0: no limit
    max_recipients: int = 0  # per rolling 24 h; 0: no limit
    refuse_suspended: bool = False  # rate.abuse on: a suspended sender gets nothing (001 IV)


@dataclass(frozen=True)
class Organization:
    home_domains: tuple[str, ...] = ()
    name: str = ""


class Clock(Protocol):
    def now(self) -> datetime: ...


S = TypeVar("S")


@dataclass(frozen=True)
class Context(Generic[S]):
    """What a check may know besides the message: its own settings and read-only state."""

    settings: S
    clock: Clock
    organization: Organization = Organization()
    directory: Directory = Directory()
    usage: Usage = Usage()


@dataclass(frozen=True)
class Decision:
    """The pipeline's combined outcome for one message (or one MAIL/RCPT step)."""

    action: Action
    verdicts: tuple[Verdict, ...] = ()

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(v.rule for v in self.verdicts)

    @property
    def deciding(self) -> Verdict | None:
        """The verdict that set the action (the first of the strictest)."""
        for verdict in self.verdicts:
            if verdict.action == self.action:
                return verdict
        return None


@dataclass(frozen=True)
class DecisionRecord:
    """One line of the append-only decision log."""

    message_id: str
    sender: str
    recipients: int
    size: int
    rules: tuple[str, ...]
    action: Action
    at: datetime
    stage: str = "data"
    ticket: str = ""


@dataclass(frozen=True)
class Approval:
    """One role's decision on a held message (the approvals table)."""

    role: str
    username: str
    decision: str  # "approve" or "reject"
    reason: str
    at: datetime


@dataclass(frozen=True)
class User:
    """A person of the approval web app: administrator, approver roles, or auditor."""

    username: str
    roles: tuple[str, ...]
    email: str = ""
    active: bool = True
    password_hash: str = ""


@dataclass(frozen=True)
class HeldMessage:
    """A message committed to the store to wait for approval."""

    message_id: str
    envelope: Envelope
    raw: bytes
    reasons: tuple[Verdict, ...]
    created_at: datetime
    subject: str = ""
    deadline: datetime | None = None
    ticket: str = ""  # set by the store
    status_token: str = ""  # set by the store: the unguessable key of the status page
    state: str = "held"  # held, approved, delivered, rejected, expired
    dependency: str = ""  # the sender's dependency, from the directory
    required_roles: tuple[str, ...] = ()  # every one must approve before release
    classes: tuple[tuple[str, int], ...] = ()  # recipients per kind (own, home, peer, ...)
    assignee: str = ""  # the approver who has it in hand
    expires_at: datetime | None = None
    decided_at: datetime | None = None
    outcome_reason: str = ""
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class Release:
    """An approval that lets a held message go: which ticket, who approved it and when."""

    ticket: str
    approved_by: tuple[str, ...]
    approved_at: datetime


class DeliveryKind(enum.Enum):
    HOME = "home"  # home-domain recipients, in batches of one SMTP transaction each
    PEER = "peer"  # the copy for another government domain's administrators, with a cover note
    DIRECT = "direct"  # a held message that is not a masivo: its own envelope, as approved


@dataclass(frozen=True)
class Delivery:
    """One delivery job of a released message: one SMTP transaction's envelope."""

    kind: DeliveryKind
    domain: str  # the peer domain, or the home domain of the batch's first recipient
    mail_from: str
    rcpt_tos: tuple[str, ...]
    batch: int = 0  # position among the jobs of the same release


@dataclass(frozen=True)
class DomainProgress:
    """How far a release got in one domain (a home domain, or a peer domain's administrators)."""

    domain: str
    kind: DeliveryKind
    total: int
    delivered: int
    failed: int
    status: str  # home: "pending" | "delivered" | "failed"; peer: also "sent" and "confirmed"
    confirmed_at: datetime | None = None
    last_reply: str = ""  # the upstream's last refusal or deferral, when there is one

    @property
    def pending(self) -> int:
        return self.total - self.delivered - self.failed


@dataclass(frozen=True)
class Progress:
    """How far the delivery of a released message got: recipients and peer domains."""

    ticket: str
    total: int
    delivered: int
    failed: int
    domains: tuple[DomainProgress, ...] = ()

    @property
    def pending(self) -> int:
        return self.total - self.delivered - self.failed

    @property
    def done(self) -> bool:
        return self.pending == 0

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else (self.delivered + self.failed) * 100 // self.total
