"""Own the SMTP session: aiosmtpd in our event loop, from connect to the reply after DATA.

Trusts only clients from ``[smtp] trusted_networks`` (554 at connect otherwise) and, from
them, XFORWARD attributes (Postfix passes the original client; XFORWARD_README). Converts
aiosmtpd's Envelope into a Message on the way in and the pipeline's Decision into one reply
line on the way out; hands whole messages to gateway.outcome.settle().
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import secrets
from dataclasses import dataclass, field
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError

from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway import data as smtp_data
from gateway import metrics, pipeline, replies
from gateway.config import Config
from gateway.model import Action, Decision, Message, Stage, Usage
from gateway.model import Envelope as MailEnvelope
from gateway.outcome import Services, settle

log = logging.getLogger(__name__)

_SIZE = re.compile(r"(?:^|\s)SIZE=(\d{1,15})(?:\s|$)", re.IGNORECASE)
_XFORWARD_KEYS = ("NAME", "ADDR", "PROTO", "HELO", "SOURCE", "IDENT", "PORT", "LOGIN")
# RFC 5321 §4.1.2: "<" Dot-string "@" Domain ">" in ASCII atext, then the end or one space and
# a parameter; the shape of nearly every MAIL and RCPT. email's parser reads it as written, and
# takes nothing else off what follows (no comment there: "(" is left to the parser).
_CONTROL = re.compile("[\x00-\x1f\x7f]")  # C0 controls and DEL
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"<({_ATEXT}(?:\.{_ATEXT})*@{_ATEXT}(?:\.{_ATEXT})*)>(?:\Z| (?=[!-'*-~]))")


@dataclass
class SessionState:
    """What one connection learned before MAIL: the original client, per XFORWARD."""

    xforward: dict[str, str] = field(default_factory=dict)
    usage: Usage | None = None  # the sender's usage as read at this transaction's MAIL
    received: smtp_data.Data | None = None  # this transaction's DATA, as gateway.data judged it


class Handler:
    """aiosmtpd hooks: every answer comes from the pipeline and the reply table."""

    def __init__(self, services: Services, max_size: int) -> None:
        self.services = services
        self.max_size = max_size
        self.max_sessions = services.env.config.smtp.max_sessions
        self.networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
        self.active: set[GatewaySMTP] = set()

    def configure(self, config: Config) -> None:
        """Take the listener's settings from ``config``; sessions opened from now on use them."""
        self.max_size = max(p.size_max.max_bytes for p in [config.profile, *config.profiles.values()])
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in config.smtp.trusted_networks)
        self.max_sessions = config.smtp.max_sessions

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        extra = [f"250-SIZE {self.max_size}", "250-PIPELINING", "250-XFORWARD " + " ".join(_XFORWARD_KEYS)]
        return responses[:1] + extra + responses[1:]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if _has_control(address):
            metrics.SMTP_ERRORS.labels(kind="bad-address").inc()
            return replies.BAD_ADDRESS.line()
        declared = _declared_size(options)
        msg = _message(server, session, _sender(address), declared_size=declared)
        usage = await pipeline.snapshot(msg, self.services.env)
        _state(server).usage = usage
        decision = await pipeline.evaluate(Stage.MAIL, msg, self.services.env, usage)
        if decision.action >= Action.TEMPFAIL:
            return _refusal(decision)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if _has_control(address):
            metrics.SMTP_ERRORS.labels(kind="bad-address").inc()
            return replies.BAD_ADDRESS.line()
        rcpts = (*envelope.rcpt_tos, address)
        msg = _message(server, session, _sender(envelope.mail_from), rcpts)
        decision = await pipeline.evaluate(Stage.RCPT, msg, self.services.env, _state(server).usage)
        if decision.action >= Action.TEMPFAIL:
            return _refusal(decision)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        # GatewaySMTP reads DATA with gateway.data, which refuses bare CR/LF and NUL
        judged = _state(server).received
        clean = judged is not None and judged.content is raw
        dot_free = clean and judged is not None and judged.dot_free
        proven = judged.base64_lines if clean and judged is not None else ()  # offsets into raw
        msg = _message(
            server, session, _sender(envelope.mail_from), tuple(envelope.rcpt_tos),
            smtputf8=envelope.smtp_utf8, content=Content(raw, clean, dot_free, proven),
        )  # fmt: skip
        try:
            msg = await self.services.parser.parse(msg, self.max_size)
        except Exception:
            # The parser must never raise; if it does, tempfail rather than pass it unchecked.
            log.exception("%s parser raised", msg.id)
            return replies.INTERNAL_ERROR.line(detail="parse")
        decision = await pipeline.evaluate(Stage.DATA, msg, self.services.env, _state(server).usage)
        return await settle(msg, decision, self.services)

    async def handle_exception(self, error: Exception) -> str:
        log.exception("SMTP session error: %s", error)
        metrics.SMTP_ERRORS.labels(kind="exception").inc()
        return replies.INTERNAL_ERROR.line(detail=type(error).__name__)


class GatewaySMTP(SMTP):
    """aiosmtpd's SMTP with our trust check, XFORWARD and a block-wise DATA reader."""

    def __init__(self, handler: Handler, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
                 **kwargs: object) -> None:  # fmt: skip
        super().__init__(handler, **kwargs)  # type: ignore[arg-type]
        self.gateway = handler
        self.networks = networks
        self.state = SessionState()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.gateway.active.add(self)
        metrics.SESSIONS_ACTIVE.inc()

    def connection_lost(self, error: Exception | None) -> None:
        if self in self.gateway.active:
            self.gateway.active.discard(self)
            metrics.SESSIONS_ACTIVE.dec()
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        assert self.session is not None and self.transport is not None
        peer = self.session.peer
        if not _trusted(peer, self.networks):
            log.warning("refused untrusted client %r", peer)
            metrics.SESSIONS.labels(result="untrusted").inc()
            await self.push(replies.UNTRUSTED_CLIENT.line(detail=str(peer[0] if peer else "?")))
            self.transport.close()
            return
        if len(self.gateway.active) > self.gateway.max_sessions:
            log.warning("refused %r: %d sessions open", peer, len(self.gateway.active) - 1)
            metrics.SESSIONS.labels(result="busy").inc()
            await self.push(replies.TOO_MANY_SESSIONS.line())
            self.transport.close()
            return
        metrics.SESSIONS.labels(result="accepted").inc()
        await super()._handle_client()

    async def smtp_XFORWARD(self, arg: str | None) -> None:
        if not arg:
            await self.push("501 5.5.4 Syntax: XFORWARD attribute=value...")
            return
        for item in arg.split():
            key, _, value = item.partition("=")
            if key.upper() not in _XFORWARD_KEYS:
                await self.push(f"501 5.5.4 Bad XFORWARD attribute name: {key[:40]}")
                return
            self.state.xforward[key.upper()] = value
        log.info("XFORWARD from %r: %s", self.session.peer if self.session else "?", arg[:300])
        await self.push("250 2.0.0 Ok")

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's own parse of the address in MAIL and RCPT, without the typing.Protocol
        class it defines on every call (50 us of the 100 this takes, twice per message)."""
        if not arg:
            return "", ""
        plain = _PLAIN_ADDRESS.match(arg)
        if plain is not None:  # the parser's answer without its token tree (~40 us a call)
            addr, rest = plain.group(1), arg[plain.end() :]
        else:
            addr, rest = _parsed(arg)
            if addr is None:
                return None, None
        if self.local_part_limit and len(addr.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return addr, rest

    async def smtp_MAIL(self, arg: str | None) -> None:
        await self._unless_control("MAIL", arg)

    async def smtp_RCPT(self, arg: str | None) -> None:
        await self._unless_control("RCPT", arg)

    async def _unless_control(self, command: str, arg: str | None) -> None:
        # THREATS.md S5: judge the line as sent; aiosmtpd's address parser silently drops a CR
        if arg is not None and _has_control(arg):
            metrics.SMTP_ERRORS.labels(kind="bad-address").inc()
            await self.push(replies.BAD_ADDRESS.line())
            return
        parent = super().smtp_MAIL if command == "MAIL" else super().smtp_RCPT
        await parent(arg)

    async def smtp_DATA(self, arg: str | None) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        received = await smtp_data.read(self._reader, self.gateway.max_size)
        # The idle timer ran since DATA; the verdict and the relay get a fresh window of their
        # own, as the client waits 10 minutes for it (RFC 5321 §4.5.3.2.6).
        self._reset_timeout()
        status = _data_refusal(received.problem)
        if status is None:
            self.envelope.content = self.envelope.original_content = received.content
            self.state.received = received
            try:
                status = await self._call_handler_hook("DATA")
            finally:
                self.state.received = None  # never kept past its transaction (a 25 MB message)
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        self.state.xforward.pop("IDENT", None)  # XFORWARD_README: per-transaction attribute
        await self.push(status)


def _parsed(arg: str) -> tuple[str | None, str]:
    """aiosmtpd's parse of an address with email's RFC 5322 parser (None: unparseable)."""
    try:
        parse = get_angle_addr if arg.lstrip().startswith("<") else get_addr_spec
        address, rest = parse(arg)
    except HeaderParseError:
        return None, ""
    return str(address.addr_spec), str(rest)


def _state(server: SMTP) -> SessionState:
    return server.state if isinstance(server, GatewaySMTP) else SessionState()


def _data_refusal(problem: smtp_data.Problem) -> str | None:
    if problem == smtp_data.Problem.NONE:
        return None
    metrics.SMTP_ERRORS.labels(kind=problem.value).inc()
    if problem == smtp_data.Problem.TOO_BIG:
        return replies.render_rule("size.max", "more than the listener accepts")
    if problem == smtp_data.Problem.LINE_TOO_LONG:
        return replies.LINE_TOO_LONG.line()
    if problem == smtp_data.Problem.NUL:
        return replies.NUL_IN_DATA.line()
    return replies.BAD_LINE_ENDINGS.line()


@dataclass(frozen=True)
class Content:
    """DATA as gateway.data judged it, for the Message built at the end of DATA."""

    raw: bytes
    crlf_clean: bool
    dot_free: bool
    base64_lines: tuple[tuple[int, int, int], ...]


NO_CONTENT = Content(b"", False, False, ())


def _message(server: SMTP, session: Session, sender: str, rcpt_tos: tuple[str, ...] = (),
             declared_size: int | None = None, smtputf8: bool = False,
             content: Content = NO_CONTENT) -> Message:  # fmt: skip
    """The Message of this transaction so far: its envelope, with the client per XFORWARD, and
    (at the end of DATA) its content. Built whole, in one go: it is built at every command."""
    forwarded = _state(server).xforward
    peer = session.peer
    login = forwarded.get("LOGIN")
    mail = MailEnvelope(
        sender, rcpt_tos, declared_size,
        client_address=forwarded.get("ADDR") or (str(peer[0]) if isinstance(peer, tuple) else ""),
        client_name=forwarded.get("NAME", ""),
        helo=forwarded.get("HELO") or session.host_name or "",
        login=login if login not in (None, "[UNAVAILABLE]") else None,
        smtputf8=smtputf8,
    )  # fmt: skip
    return Message(
        secrets.token_hex(6).upper(), mail, content.raw, received_at=None, crlf_clean=content.crlf_clean,
        dot_free=content.dot_free, base64_lines=content.base64_lines,
    )  # fmt: skip


def _refusal(decision: Decision) -> str:
    verdict = decision.deciding
    if verdict is None:
        return replies.INTERNAL_ERROR.line(detail="?")
    log.info("refused at %s: rule=%s action=%s", "envelope", verdict.rule, verdict.action.name.lower())
    metrics.RULE_HITS.labels(rule=verdict.rule, action=verdict.action.name.lower()).inc()
    return replies.render(verdict)


def _sender(address: str | None) -> str:
    # aiosmtpd keeps the null sender as "<>"; everywhere else it is "" (RFC 5321 §4.5.5)
    return "" if address in (None, "<>") else str(address)


def _has_control(address: str) -> bool:
    # THREATS.md S5: a CR or LF in an address becomes a command separator upstream
    return _CONTROL.search(address) is not None


def _declared_size(options: list[str]) -> int | None:
    match = _SIZE.search(" ".join(options))
    return int(match.group(1)) if match else None


def _trusted(peer: object, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    if not isinstance(peer, tuple) or not peer:
        return False  # a UNIX socket or an unknown peer: refuse rather than guess
    try:
        address = ipaddress.ip_address(str(peer[0]).split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


async def start(
    services: Services, host: str, port: int, reuse_port: bool = False
) -> tuple[asyncio.Server, Handler]:
    """Listen for SMTP in the running loop; returns the server and the handler that counts sessions.

    ``reuse_port``: several worker processes listen on the same port (gateway.workers).
    """
    handler = Handler(services, 0)
    handler.configure(services.env.config)
    loop = asyncio.get_running_loop()

    def factory() -> GatewaySMTP:
        # Read at each connection: a reload (SIGHUP) applies to the sessions opened after it.
        config = handler.services.env.config
        # data_size_limit=None: SIZE is advertised and enforced by us, with the policy's reply
        return GatewaySMTP(
            handler, handler.networks, data_size_limit=None, enable_SMTPUTF8=True, decode_data=False,
            hostname=config.smtp.hostname, ident="compuerta", timeout=config.smtp.timeout, loop=loop,
        )  # fmt: skip

    server = await loop.create_server(factory, host, port, reuse_port=reuse_port or None)
    return server, handler
