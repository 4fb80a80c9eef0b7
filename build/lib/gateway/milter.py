"""Own the milter side of Postfix's SMTP session: one asyncio connection per Postfix session.

Trusts nothing the peer sends: every read has a timeout, every packet a size cap, the order
of commands is checked, and a broken or hostile peer only loses its own connection (Postfix
then applies milter_default_action, which must be tempfail). Builds the same Envelope and
Message as gateway.smtp (the authenticated login from {auth_authen} included), runs the
shared pipeline at MAIL, RCPT and end-of-message, and hands whole messages to
gateway.milter_outcome.settle(). Protocol encoding lives in gateway.milter_protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from gateway import metrics, milter_outcome, pipeline, replies
from gateway import milter_protocol as mp
from gateway.config import MilterSettings, parse_milter_address
from gateway.model import Action, Envelope, Message, Stage
from gateway.outcome import Services

log = logging.getLogger(__name__)

CONTINUE = mp.encode(mp.Response.CONTINUE)
_READ_SIZE = 1 << 16
_WRITE_HIGH = 1 << 16  # our answers are a few bytes each; more waiting means a stuck peer
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
        decision = await pipeline.evaluate(stage, msg, self.services.env)
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
            msg = pipeline.parse(msg)
        except Exception:
            # The parser must never raise; if it does, tempfail rather than pass it unchecked.
            log.exception("%s parser raised", msg.id)
            return mp.reply_code(replies.INTERNAL_ERROR.line(detail="parse"))
        decision = await pipeline.evaluate(Stage.DATA, msg, self.services.env)
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


# -- the listener ----------------------------------------------------------------------------------


class MilterServer:
    """The milter listener and its live connections."""

    def __init__(self, services: Services, settings: MilterSettings, max_size: int) -> None:
        self.services = services
        self.settings = settings
        self.max_size = max_size
        self.active: dict[asyncio.Task[None], tuple[Session, asyncio.StreamWriter]] = {}
        self.server: asyncio.Server | None = None

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one Postfix connection; whatever the peer does, only this connection ends."""
        task = asyncio.current_task()
        assert task is not None
        if len(self.active) >= self.settings.max_sessions:
            metrics.MILTER_SESSIONS.labels(result="busy").inc()
            writer.close()
            return
        session = Session(self.services, self.max_size)
        self.active[task] = (session, writer)
        metrics.MILTER_SESSIONS.labels(result="accepted").inc()
        try:
            await self._serve(session, reader, writer)
        finally:
            self.active.pop(task, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(
        self, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            await self._exchange(session, reader, writer)
        except mp.ProtocolError as error:
            log.warning("milter peer broke the protocol: %s", error)
            metrics.MILTER_ERRORS.labels(kind="protocol").inc()
        except TimeoutError:
            log.warning("milter peer timed out")
            metrics.MILTER_ERRORS.labels(kind="timeout").inc()
        except ConnectionError as error:
            log.info("milter peer went away: %s", type(error).__name__)
            metrics.MILTER_ERRORS.labels(kind="disconnect").inc()
        except Exception:
            log.exception("milter session failed")
            metrics.MILTER_ERRORS.labels(kind="exception").inc()

    async def _exchange(
        self, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Read what the peer sent, answer every packet it completed, until QUIT or EOF. Postfix
        sends headers and body chunks without waiting, so one read often carries many packets."""
        framer = mp.Framer(self.settings.max_packet)
        while not session.closed:
            data = await _read(reader, framer, self.settings)
            if not data:
                if framer.pending:
                    raise mp.ProtocolError("connection closed inside a packet")
                return
            answers = [await session.handle(packet) for packet in framer.feed(data) if not session.closed]
            writer.write(b"".join(answers))
            if writer.transport.get_write_buffer_size() > _WRITE_HIGH:
                async with asyncio.timeout(self.settings.packet_timeout):
                    await writer.drain()  # a peer that stops reading is cut, not waited for

    async def stop(self, grace: float) -> None:
        """Stop listening; give the sessions in flight ``grace`` seconds, then cut them
        (Postfix applies milter_default_action: tempfail, the client retries)."""
        if self.server is not None:
            self.server.close()
        for session, writer in list(self.active.values()):
            if session.tx.sender is None:
                writer.close()  # idle between messages: nothing in flight to finish
        if self.active:
            await asyncio.wait(set(self.active), timeout=grace)
        for _, writer in list(self.active.values()):
            writer.close()  # the session ends at its next read or write


async def _read(reader: asyncio.StreamReader, framer: mp.Framer, settings: MilterSettings) -> bytes:
    """The next bytes from the peer: within ``idle_timeout`` between packets, within
    ``packet_timeout`` once part of a packet arrived."""
    timeout = settings.packet_timeout if framer.pending else settings.idle_timeout
    async with asyncio.timeout(timeout):
        return await reader.read(_READ_SIZE)


async def start(services: Services, settings: MilterSettings, reuse_port: bool = False) -> MilterServer:
    """Listen for Postfix's milter connections (inet or unix) in the running loop;
    ``reuse_port`` lets several worker processes share an inet port (gateway.workers)."""
    config = services.env.config
    max_size = max(p.size_max.max_bytes for p in [config.profile, *config.profiles.values()])
    milter = MilterServer(services, settings, max_size)
    kind, where, port = parse_milter_address(settings.listen, "milter.listen")
    if kind == "inet":
        milter.server = await asyncio.start_server(
            milter.connection, where, port, reuse_port=reuse_port or None
        )
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(where)  # a stale socket from a previous run
        milter.server = await asyncio.start_unix_server(milter.connection, where)
        os.chmod(where, settings.unix_mode)
    return milter
