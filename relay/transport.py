"""Hand messages to the upstream MTA: the Transport seam, its SMTP implementation and a fake.

Trusts its callers for the bytes (already CRLF-clean, headers prepended, signed) and for the
envelope (addresses already free of control characters). Upstream is the MTA's re-injection
listener (Postfix FILTER_README: 127.0.0.1:10025). Connections (relay.client) are pooled and
reused; MAIL, RCPT and DATA go as one group when upstream offers PIPELINING (RFC 2920).

Partial refusals: any recipient refused with 4xx aborts the transaction (RSET; or a closed
connection when a pipelined DATA was already granted, since only that abandons it) so that the MTA
retries the whole message later and nobody receives it twice; recipients refused with 5xx are
reported back in SendResult.refused so that the caller can tell the sender (a DSN); when every
recipient is refused the refusal is passed back as the reply.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Protocol

from gateway import metrics
from relay.client import Connection, ConnectionLost, Reply

log = logging.getLogger(__name__)
_LINE_END = re.compile(rb"\r\n|\n|\r")  # any line end, to be made CRLF (THREATS.md S4)


@dataclass(frozen=True)
class SendResult:
    code: int
    text: str
    refused: tuple[tuple[str, int, str], ...] = ()  # (recipient, code, upstream reply)


class UpstreamError(Exception):
    """Upstream did not take the message; ``code`` and ``text`` are what to tell the client."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text

    @property
    def temporary(self) -> bool:
        return self.code < 500


class Transport(Protocol):
    async def send(
        self,
        mail_from: str,
        rcpt_tos: tuple[str, ...],
        data: bytes,
        crlf_clean: bool = False,
        dot_free: bool = False,
    ) -> SendResult:
        """Relay ``data``; the caller proved it has no bare CR or LF (``crlf_clean``), and that
        no line starts with a dot as well (``dot_free``)."""
        ...

    async def close(self) -> None: ...


@dataclass
class SMTPTransport:
    host: str
    port: int
    pool_size: int = 16
    timeout: float = 60.0
    helo: str = "compuerta.localhost"
    _idle: list[Connection] = field(default_factory=list)

    async def send(
        self,
        mail_from: str,
        rcpt_tos: tuple[str, ...],
        data: bytes,
        crlf_clean: bool = False,
        dot_free: bool = False,
    ) -> SendResult:
        started = time.perf_counter()
        try:
            result = await self._send_with_retry(mail_from, rcpt_tos, _payload(data, crlf_clean, dot_free))
        except UpstreamError as error:
            metrics.UPSTREAM.labels(result="tempfail" if error.temporary else "reject").inc()
            raise
        metrics.UPSTREAM.labels(result="accepted").inc()
        metrics.UPSTREAM_SECONDS.observe(time.perf_counter() - started)
        return result

    async def _send_with_retry(self, mail_from: str, rcpt_tos: tuple[str, ...], data: bytes) -> SendResult:
        connection, reused = await self._acquire()
        try:
            return await self._transaction(connection, mail_from, rcpt_tos, data, reused)
        except _Stale:
            # A pooled connection the upstream closed while idle: nothing was sent, retry once.
            connection, _ = await self._acquire(fresh=True)
            return await self._transaction(connection, mail_from, rcpt_tos, data, False)

    async def _transaction(
        self, connection: Connection, mail_from: str, rcpt_tos: tuple[str, ...], data: bytes, reused: bool
    ) -> SendResult:
        healthy = False
        try:
            result = await _exchange(connection, mail_from, rcpt_tos, data, reused)
            healthy = True
            return result
        except UpstreamError:
            healthy = await _reset(connection)
            raise
        finally:
            self._release(connection, healthy)

    async def _acquire(self, fresh: bool = False) -> tuple[Connection, bool]:
        while self._idle and not fresh:
            connection = self._idle.pop()
            if connection.is_open:
                return connection, True
        try:
            return await Connection.open(self.host, self.port, self.timeout, self.helo), False
        except (ConnectionLost, OSError, TimeoutError) as error:
            log.warning("upstream %s:%d unreachable: %s", self.host, self.port, error)
            raise UpstreamError(451, f"4.4.1 upstream unreachable ({type(error).__name__})") from error

    def _release(self, connection: Connection, healthy: bool) -> None:
        if healthy and connection.is_open and len(self._idle) < self.pool_size:
            self._idle.append(connection)
        else:
            connection.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            try:
                await asyncio.wait_for(connection.quit(), 2)
            except TimeoutError:
                connection.close()


class _Stale(Exception):
    """A reused connection turned out closed before upstream accepted anything."""


def _payload(data: bytes, crlf_clean: bool, dot_free: bool) -> bytes:
    """The bytes to send after 354: CRLF line ends, dot-stuffed, ending in CRLF.

    Lone CR or LF become CRLF before dot-stuffing, so that no line a lenient MTA would see can
    start the next command (THREATS.md S4). The caller's proofs spare the passes: bytes without
    a bare CR or LF (``crlf_clean``) skip the normalisation, and such bytes with no line that
    starts with a dot (``dot_free``) skip the stuffing as well; ``bytes.replace`` returns the
    same object when it finds nothing, so even the pass over unproven bytes does not copy them.
    """
    clean = crlf_clean or is_crlf_clean(data)
    if not clean:
        data = _LINE_END.sub(b"\r\n", data)
    if not (dot_free and clean):
        data = (b"." if data.startswith(b".") else b"") + data.replace(b"\r\n.", b"\r\n..")
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def is_crlf_clean(data: bytes) -> bool:
    """Whether every CR and LF in ``data`` is part of a CRLF (THREATS.md S4)."""
    crlf = data.count(b"\r\n")
    return data.count(b"\r") == crlf and data.count(b"\n") == crlf


async def _exchange(
    connection: Connection, mail_from: str, rcpt_tos: tuple[str, ...], data: bytes, reused: bool
) -> SendResult:
    commands = [_mail(connection, mail_from, rcpt_tos, data), *(f"RCPT TO:<{r}>" for r in rcpt_tos)]
    try:
        replies = await _envelope(connection, commands)
    except ConnectionLost as error:
        if reused:
            raise _Stale() from error
        raise UpstreamError(451, f"4.4.2 upstream error ({error})") from error
    refused = _refused(connection, rcpt_tos, replies)
    try:
        final = await connection.message(data)
    except ConnectionLost as error:
        # The connection broke after DATA began: upstream has not confirmed; the client retries.
        raise UpstreamError(451, "4.4.2 upstream connection lost") from error
    if final.code != 250:
        raise UpstreamError(final.code, final.text)
    return SendResult(final.code, final.text, refused)


def _mail(connection: Connection, mail_from: str, rcpt_tos: tuple[str, ...], data: bytes) -> str:
    """MAIL FROM with the parameters the transaction needs: BODY=8BITMIME for 8-bit bytes and
    SMTPUTF8 when an address is internationalised (RFC 6531), which upstream must then offer."""
    command = f"MAIL FROM:<{mail_from}>"
    if connection.supports("8BITMIME") and not data.isascii():
        command += " BODY=8BITMIME"
    if not all(address.isascii() for address in (mail_from, *rcpt_tos)):
        if not connection.supports("SMTPUTF8"):
            # RFC 6531 §3.4: the message cannot be relayed as it is; a bounce says why
            raise UpstreamError(553, "5.6.7 upstream does not accept UTF-8 addresses (SMTPUTF8)")
        command += " SMTPUTF8"
    return command


async def _envelope(connection: Connection, commands: list[str]) -> list[Reply]:
    """The replies to MAIL, each RCPT and DATA: sent as one group when upstream offers
    PIPELINING (RFC 2920), one at a time otherwise, stopping where the transaction fails."""
    try:
        if connection.supports("PIPELINING"):
            return [await connection.reply(waiter) for waiter in connection.send([*commands, "DATA"])]
        return await _lockstep(connection, commands)
    except ValueError as error:  # a control character in an address (THREATS.md S5)
        raise UpstreamError(553, "5.1.7 control character in an envelope address") from error


async def _lockstep(connection: Connection, commands: list[str]) -> list[Reply]:
    replies = [await connection.command(commands[0])]
    if not replies[0].ok:
        return replies
    replies += [await connection.command(command) for command in commands[1:]]
    rcpts = replies[1:]
    if any(r.ok for r in rcpts) and not any(400 <= r.code < 500 for r in rcpts):
        replies.append(await connection.command("DATA"))
    return replies


def _refused(
    connection: Connection, rcpt_tos: tuple[str, ...], replies: list[Reply]
) -> tuple[tuple[str, int, str], ...]:
    """The recipients upstream refused for good; raises when the message cannot go on to its
    data: MAIL refused, a recipient deferred (the whole message is deferred rather than
    delivered twice later), every recipient refused, or DATA refused."""
    mail, rcpts, data = replies[0], replies[1 : 1 + len(rcpt_tos)], replies[1 + len(rcpt_tos) :]
    started = bool(data) and data[0].code == 354
    problem = _envelope_problem(mail, rcpts, data)
    if problem is not None:
        if started:
            connection.close()  # DATA was granted: only a dropped connection abandons it unsent
        raise UpstreamError(problem.code, problem.text)
    return tuple((rcpt, r.code, r.text) for rcpt, r in zip(rcpt_tos, rcpts, strict=True) if not r.ok)


def _envelope_problem(mail: Reply, rcpts: list[Reply], data: list[Reply]) -> Reply | None:
    if not mail.ok:
        return mail
    deferred = [r for r in rcpts if 400 <= r.code < 500]
    if deferred:
        return deferred[0]
    if not any(r.ok for r in rcpts):
        return rcpts[0] if rcpts else Reply(554, "5.5.1 no valid recipients")
    if data[0].code != 354:
        return data[0]
    return None


async def _reset(connection: Connection) -> bool:
    if not connection.is_open:
        return False
    try:
        return (await connection.command("RSET")).code == 250
    except ConnectionLost:
        return False


@dataclass
class MemoryTransport:
    """A fake upstream for tests that need no sockets: records what it was given."""

    sent: list[tuple[str, tuple[str, ...], bytes]] = field(default_factory=list)
    refuse: dict[str, tuple[int, str]] = field(default_factory=dict)

    async def send(
        self,
        mail_from: str,
        rcpt_tos: tuple[str, ...],
        data: bytes,
        crlf_clean: bool = False,
        dot_free: bool = False,
    ) -> SendResult:
        refused = tuple((r, *self.refuse[r]) for r in rcpt_tos if r in self.refuse)
        if len(refused) == len(rcpt_tos):
            raise UpstreamError(refused[0][1], refused[0][2])
        self.sent.append((mail_from, rcpt_tos, data))
        return SendResult(250, "2.0.0 Ok: queued", refused)

    async def close(self) -> None:
        return None
