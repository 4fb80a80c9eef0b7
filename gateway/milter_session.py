"""The state machine of one milter connection: what Postfix told us, and what we answer.

Trusts packets already framed by gateway.milter_protocol, nothing else: the order of commands
is checked and a command out of place raises ProtocolError (the listener in gateway.milter
then ends the connection). Builds the same Envelope and Message as gateway.smtp (the
authenticated login from {auth_authen} included), runs the shared pipeline at MAIL, RCPT and
end-of-message, rebuilds the message byte for byte for the DATA stage, and hands whole
messages to gateway.milter_outcome.settle().
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from gateway import metrics, milter_outcome, pipeline, replies
from gateway import milter_protocol as mp
from gateway.model import Action, Envelope, Message, Stage, Usage
from gateway.outcome import Services

log = logging.getLogger(__name__)

CONTINUE = mp.encode(mp.Response.CONTINUE)
_SIZE = re.compile(r"^SIZE=(\d{1,15})$", re.IGNORECASE)
# Macro stages (the command byte they precede) that belong to one message, not the connection.
_MESSAGE_STAGES = ("M", "R", "T", "L", "N", "B", "E")


@dataclass
class Transaction:
    """One MAIL ... end-of-message, as far as Postfix has told us."""

    sender: str | None = None
    args: tuple[str, ...] = ()
    rcpts: list[str] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)  # headers rebuilt as bytes, then body
    in_body: bool = False
    size: int = 0
    too_big: bool = False
    usage: Usage | None = None  # the sender's usage as read at MAIL (gateway.pipeline.snapshot)


class Session:
    """The state machine of one milter connection; ``handle`` answers one packet."""

    def __init__(self, services: Services, max_size: int) -> None:
        self.services = services
        self.max_size = max_size
        self.options: mp.Options | None = None
        self.macros: dict[str, dict[str, str]] = {}
        self.client: mp.Connect | None = None
        self.helo = ""
        self.tx = Transaction()
        self.closed = False
        self._handlers: dict[mp.Command, Callable[[bytes], Awaitable[bytes]]] = {
            mp.Command.OPTNEG: self._optneg, mp.Command.MACRO: self._macro,
            mp.Command.CONNECT: self._connect, mp.Command.HELO: self._helo,
            mp.Command.MAIL: self._mail, mp.Command.RCPT: self._rcpt, mp.Command.DATA: self._data,
            mp.Command.HEADER: self._header, mp.Command.EOH: self._eoh, mp.Command.BODY: self._body,
            mp.Command.BODYEOB: self._end, mp.Command.ABORT: self._abort,
            mp.Command.QUIT: self._quit, mp.Command.QUIT_NC: self._quit_nc,
            mp.Command.UNKNOWN: self._unknown,
        }  # fmt: skip

    async def handle(self, packet: mp.Packet) -> bytes:
        """The bytes to send back for ``packet`` (b"" when the MTA expects no reply)."""
        try:
            command = mp.Command(packet.command)
        except ValueError:
            raise mp.ProtocolError(f"unknown command {packet.command!r}") from None
        if self.options is None and command != mp.Command.OPTNEG:
            raise mp.ProtocolError(f"{command.name} before option negotiation")
        answer = await self._handlers[command](packet.data)
        assert self.options is not None
        if command == mp.Command.OPTNEG or mp.expects_reply(command, self.options.steps):
            return answer
        return b""

    # -- connection-level events ---------------------------------------------------------------

    async def _optneg(self, data: bytes) -> bytes:
        if self.options is not None:
            raise mp.ProtocolError("second SMFIC_OPTNEG")
        self.options = mp.negotiate(mp.decode_options(data), mp.Act.ADDHDRS)
        return mp.encode_options(self.options)

    async def _macro(self, data: bytes) -> bytes:
        stage, values = mp.decode_macros(data)
        self.macros[stage] = values
        return b""

    async def _connect(self, data: bytes) -> bytes:
        self.client = mp.decode_connect(data)
        return CONTINUE

    async def _helo(self, data: bytes) -> bytes:
        self.helo = mp.decode_string(data)
        return CONTINUE

    async def _unknown(self, data: bytes) -> bytes:
        mp.decode_string(data)
        return CONTINUE  # Postfix refuses the unknown command itself

    async def _abort(self, data: bytes) -> bytes:
        self._reset()
        return b""

    async def _quit(self, data: bytes) -> bytes:
        self.closed = True
        return b""

    async def _quit_nc(self, data: bytes) -> bytes:
        # 8.14: the socket is reused for a new SMTP connection; forget the old one.
        self._reset()
        self.macros.clear()
        self.client, self.helo = None, ""
        return b""

    # -- the envelope: answered at once when a rule can decide -----------------------------------

    async def _mail(self, data: bytes) -> bytes:
        sender, args = mp.decode_args(data)
        self._reset(keep="M")  # the MAIL macros ({auth_authen}) arrived just before
        self.tx = Transaction(sender, args)
        self.tx.usage = await pipeline.snapshot(Message(_new_id(), self._envelope(())), self.services.env)
        return await self._evaluate(Stage.MAIL, ())

    async def _rcpt(self, data: bytes) -> bytes:
        self._require_mail("RCPT")
        rcpt, _ = mp.decode_args(data)
        answer = await self._evaluate(Stage.RCPT, (*self.tx.rcpts, rcpt))
        if answer == CONTINUE:
            self.tx.rcpts.append(rcpt)
        return answer

    async def _evaluate(self, stage: Stage, rcpts: tuple[str, ...]) -> bytes:
        msg = Message(_new_id(), self._envelope(rcpts))
        decision = await pipeline.evaluate(stage, msg, self.services.env, self.tx.usage)
        verdict = decision.deciding
        if decision.action < Action.TEMPFAIL or verdict is None:
            return CONTINUE
        log.info("milter refused at %s: id=%s rule=%s action=%s from=<%s> login=%s", stage.value,
                 msg.id, verdict.rule, verdict.action.name.lower(), msg.envelope.mail_from,
                 msg.envelope.login or "-")  # fmt: skip
        metrics.RULE_HITS.labels(rule=verdict.rule, action=verdict.action.name.lower()).inc()
        return mp.reply_code(replies.render(verdict))

    # -- the message: rebuilt byte for byte, judged at end-of-message ------------------------------

    async def _data(self, data: bytes) -> bytes:
        self._require_mail("DATA")
        return CONTINUE

    async def _header(self, data: bytes) -> bytes:
        self._require_mail("header")
        if self.tx.in_body:
            raise mp.ProtocolError("header after end of headers")
        header = mp.decode_header(data)
        self._append(_header_bytes(header, self._leading_space()))
        return CONTINUE

    async def _eoh(self, data: bytes) -> bytes:
        self._require_mail("end of headers")
        self._end_headers()
        return CONTINUE

    async def _body(self, data: bytes) -> bytes:
        self._require_mail("body")
        self._end_headers()
        self._append(data)
        return CONTINUE

    async def _end(self, data: bytes) -> bytes:
        self._require_mail("end of message")
        self._end_headers()
        self._append(data)
        try:
            return await self._decide()
        finally:
            self._reset()

    async def _decide(self) -> bytes:
        assert self.options is not None
        if self.tx.too_big:
            metrics.MILTER_ERRORS.labels(kind="too-big").inc()
            return mp.reply_code(replies.render_rule("size.max", "more than the milter accepts"))
        msg = Message(_new_id(), self._envelope(tuple(self.tx.rcpts)), b"".join(self.tx.chunks))
        try:
            msg = await self.services.parser.parse(msg, self.max_size)
        except Exception:
            # The parser must never raise; if it does, tempfail rather than pass it unchecked.
            log.exception("%s parser raised", msg.id)
            return mp.reply_code(replies.INTERNAL_ERROR.line(detail="parse"))
        decision = await pipeline.evaluate(Stage.DATA, msg, self.services.env, self.tx.usage)
        log.info("milter message id=%s postfix_queue_id=%s", msg.id, self._macro_value("i") or "-")
        try:
            return await milter_outcome.settle(msg, decision, self.services, self.options)
        except Exception:
            # A bug past the pipeline: 451 keeps the message in the client's hands (rule 11).
            log.exception("%s settling failed", msg.id)
            return mp.reply_code(replies.INTERNAL_ERROR.line(detail="settle"))

    def _append(self, chunk: bytes) -> None:
        tx = self.tx
        tx.size += len(chunk)
        if tx.size > self.max_size:
            tx.too_big = True
            tx.chunks.clear()  # keep counting, stop buffering (as the proxy's DATA reader)
        elif chunk:
            tx.chunks.append(chunk)

    def _end_headers(self) -> None:
        if not self.tx.in_body:
            self.tx.in_body = True
            self._append(b"\r\n")  # Postfix never sends the empty line between header and body

    # -- helpers ---------------------------------------------------------------------------------

    def _require_mail(self, what: str) -> None:
        if self.tx.sender is None:
            raise mp.ProtocolError(f"{what} outside a mail transaction")

    def _reset(self, keep: str = "") -> None:
        self.tx = Transaction()
        for stage in _MESSAGE_STAGES:
            if stage != keep:
                self.macros.pop(stage, None)

    def _leading_space(self) -> bool:
        return self.options is not None and bool(self.options.steps & mp.Step.HDR_LEADSPC)

    def _macro_value(self, name: str) -> str:
        for values in self.macros.values():
            if name in values:
                return values[name]
        return ""

    def _envelope(self, rcpts: tuple[str, ...]) -> Envelope:
        client = self.client
        address = client.address if client and client.family in ("4", "6") else ""
        login = self._macro_value("{auth_authen}")
        return Envelope(
            self.tx.sender or "", rcpts, declared_size=_declared_size(self.tx.args),
            client_address=address or self._macro_value("{client_addr}"),
            client_name=client.hostname if client else "", helo=self.helo, login=login or None,
            smtputf8=any(arg.upper() == "SMTPUTF8" for arg in self.tx.args),
        )  # fmt: skip


def _header_bytes(header: mp.Header, leading_space: bool) -> bytes:
    # Postfix joins folded lines with LF (milter8.c); on the wire they were CRLF.
    value = header.value.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    separator = b":" if leading_space else b": "
    return header.name.encode("utf-8", "surrogateescape") + separator + value + b"\r\n"


def _declared_size(args: tuple[str, ...]) -> int | None:
    for arg in args:
        match = _SIZE.match(arg)
        if match:
            return int(match.group(1))
    return None


def _new_id() -> str:
    return secrets.token_hex(6).upper()
