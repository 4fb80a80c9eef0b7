"""Hand messages to the upstream MTA: the Transport seam, its SMTP implementation and a fake.

Trusts its callers for the bytes (already CRLF-clean, headers prepended, signed) and for the
envelope (addresses already free of control characters). Upstream is the MTA's re-injection
listener (Postfix FILTER_README: 127.0.0.1:10025). Connections are pooled and reused.

Partial refusals: any recipient refused with 4xx aborts the transaction (RSET) so that the MTA
retries the whole message later and nobody receives it twice; recipients refused with 5xx are
reported back in SendResult.refused so that the caller can tell the sender (a DSN); when every
recipient is refused the refusal is passed back as the reply.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

import aiosmtplib
from aiosmtplib.protocol import SMTPProtocol

from gateway import metrics

log = logging.getLogger(__name__)
_WRITE_SLICE = 1 << 20  # bytes handed to the transport at a time


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
    _idle: list[aiosmtplib.SMTP] = field(default_factory=list)

    async def send(
        self,
        mail_from: str,
        rcpt_tos: tuple[str, ...],
        data: bytes,
        crlf_clean: bool = False,
        dot_free: bool = False,
    ) -> SendResult:
        started = time.perf_counter()
        clean = crlf_clean or is_crlf_clean(data)  # the caller's proof spares three passes
        stuffed = dot_free and clean  # nothing to dot-stuff: spares a pass that finds nothing
        try:
            result = await self._send_with_retry(mail_from, rcpt_tos, data, _Proof(clean, stuffed))
        except UpstreamError as error:
            metrics.UPSTREAM.labels(result="tempfail" if error.temporary else "reject").inc()
            raise
        metrics.UPSTREAM.labels(result="accepted").inc()
        metrics.UPSTREAM_SECONDS.observe(time.perf_counter() - started)
        return result

    async def _send_with_retry(
        self, mail_from: str, rcpt_tos: tuple[str, ...], data: bytes, clean: _Proof
    ) -> SendResult:
        client, _ = await self._acquire()
        try:
            return await self._transaction(client, mail_from, rcpt_tos, data, clean)
        except _Stale:
            # A pooled connection the upstream closed while idle: nothing was sent, retry once.
            client.close()
            client, _ = await self._acquire(fresh=True)
            return await self._transaction(client, mail_from, rcpt_tos, data, clean)

    async def _transaction(
        self, client: aiosmtplib.SMTP, mail_from: str, rcpt_tos: tuple[str, ...], data: bytes, clean: _Proof
    ) -> SendResult:
        healthy = False
        try:
            result = await _exchange(client, mail_from, rcpt_tos, data, self.timeout, clean)
            healthy = True
            return result
        except UpstreamError:
            healthy = await _reset(client)
            raise
        finally:
            self._release(client, healthy)

    async def _acquire(self, fresh: bool = False) -> tuple[aiosmtplib.SMTP, bool]:
        while self._idle and not fresh:
            client = self._idle.pop()
            if client.is_connected:
                return client, True
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            local_hostname=self.helo,
            start_tls=False,
            use_tls=False,
        )
        try:
            await client.connect()
            await _greet(client)
        except (aiosmtplib.SMTPException, OSError) as error:
            log.warning("upstream %s:%d unreachable: %s", self.host, self.port, error)
            raise UpstreamError(451, f"4.4.1 upstream unreachable ({type(error).__name__})") from error
        return client, False

    def _release(self, client: aiosmtplib.SMTP, healthy: bool) -> None:
        if healthy and client.is_connected and len(self._idle) < self.pool_size:
            self._idle.append(client)
        else:
            client.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await asyncio.wait_for(client.quit(), 2)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


async def _greet(client: aiosmtplib.SMTP) -> None:
    """EHLO at once, so that the first message on a connection already knows what upstream
    offers (8BITMIME, SMTPUTF8); one that only speaks HELO gets it at the first command."""
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        pass


@dataclass(frozen=True)
class _Proof:
    """What is known of the bytes to relay without a pass over them."""

    crlf_clean: bool  # no bare CR or LF
    stuffed: bool  # dot-stuffed already: no line starts with "." (RFC 5321 §4.5.2)


class _Stale(Exception):
    """The first command on a reused connection found it closed."""


async def _exchange(
    client: aiosmtplib.SMTP,
    mail_from: str,
    rcpt_tos: tuple[str, ...],
    data: bytes,
    timeout: float,
    clean: _Proof,
) -> SendResult:
    encoding = await _mail(client, mail_from, rcpt_tos, data, timeout)
    refused: list[tuple[str, int, str]] = []
    for rcpt in rcpt_tos:
        failure = await _rcpt(client, rcpt, encoding, timeout)
        if failure is not None:
            refused.append((rcpt, *failure))
    if len(refused) == len(rcpt_tos):
        _, code, text = refused[0]
        raise UpstreamError(code, text)
    try:
        response = await _data(client, data, timeout, clean)
    except aiosmtplib.SMTPResponseException as error:
        raise UpstreamError(error.code, error.message) from error
    except (aiosmtplib.SMTPException, OSError) as error:
        # The connection broke after DATA began: upstream has not confirmed; the client retries.
        raise UpstreamError(451, f"4.4.2 upstream connection lost ({type(error).__name__})") from error
    return SendResult(response.code, response.message, tuple(refused))


async def _data(
    client: aiosmtplib.SMTP, data: bytes, timeout: float, clean: _Proof
) -> aiosmtplib.SMTPResponse:
    """DATA with the message; CRLF-clean bytes (``clean``) skip aiosmtplib's two regex passes.

    aiosmtplib normalises line endings and dot-stuffs with regular expressions over the whole
    message (15-19 ms per MB, DESIGN.md); bytes that are already CRLF-clean, as everything the
    gateway relays is, only need the transparency dots (RFC 5321 §4.5.2), added with
    ``bytes.replace``, which returns the same object when no line starts with a dot; bytes
    known to have no such line (``clean.stuffed``) skip even that pass.
    """
    protocol = client.protocol
    if protocol is None or not clean.crlf_clean:
        return await client.data(data, timeout=timeout)
    start = await client.execute_command(b"DATA", timeout=timeout)
    if start.code != 354:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    stuffed = data if clean.stuffed else _stuff(data)
    try:
        await _write(protocol, stuffed, timeout)
        protocol.write(b".\r\n" if stuffed.endswith(b"\r\n") else b"\r\n.\r\n")
        response = await protocol.read_response(timeout=timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError):
        client.close()  # as aiosmtplib does: the connection is out of step, never reuse it
        raise
    if response.code != 250:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    return response


def _stuff(data: bytes) -> bytes:
    return (b"." if data.startswith(b".") else b"") + data.replace(b"\r\n.", b"\r\n..")


async def _write(protocol: SMTPProtocol, data: bytes, timeout: float) -> None:
    """Hand ``data`` to the socket a slice at a time, waiting while the kernel's buffer is full.

    One write of a 25 MB message would have asyncio copy whatever the socket did not take at
    once into its own buffer: a second copy of the message (bench/: peak RSS of 25 MB mail).
    """
    async with asyncio.timeout(timeout):
        for start in range(0, len(data), _WRITE_SLICE):
            protocol.write(data[start : start + _WRITE_SLICE])
            await protocol._drain_helper()  # aiosmtplib's copy of StreamWriter.drain's wait


def is_crlf_clean(data: bytes) -> bool:
    """Whether every CR and LF in ``data`` is part of a CRLF (THREATS.md S4)."""
    crlf = data.count(b"\r\n")
    return data.count(b"\r") == crlf and data.count(b"\n") == crlf


async def _mail(
    client: aiosmtplib.SMTP, mail_from: str, rcpt_tos: tuple[str, ...], data: bytes, timeout: float
) -> str:
    """MAIL FROM; returns the encoding of the transaction's addresses: UTF-8 when one of them
    is internationalised (RFC 6531, SMTPUTF8), which upstream must then offer."""
    options = ["BODY=8BITMIME"] if client.supports_extension("8bitmime") and not data.isascii() else []
    encoding = "ascii"
    if not all(address.isascii() for address in (mail_from, *rcpt_tos)):
        if not client.supports_extension("smtputf8"):
            # RFC 6531 §3.4: the message cannot be relayed as it is; a bounce says why
            raise UpstreamError(553, "5.6.7 upstream does not accept UTF-8 addresses (SMTPUTF8)")
        options.append("SMTPUTF8")
        encoding = "utf-8"
    try:
        await client.mail(mail_from, options=options, encoding=encoding, timeout=timeout)
    except aiosmtplib.SMTPServerDisconnected as error:
        raise _Stale() from error
    except aiosmtplib.SMTPResponseException as error:
        raise UpstreamError(error.code, error.message) from error
    except (aiosmtplib.SMTPException, OSError) as error:
        raise UpstreamError(451, f"4.4.2 upstream error ({type(error).__name__})") from error
    return encoding


async def _rcpt(client: aiosmtplib.SMTP, rcpt: str, encoding: str, timeout: float) -> tuple[int, str] | None:
    try:
        await client.rcpt(rcpt, encoding=encoding, timeout=timeout)
    except aiosmtplib.SMTPResponseException as error:
        if error.code < 500:
            # One recipient deferred: defer the whole message rather than deliver it twice later.
            raise UpstreamError(error.code, error.message) from error
        return error.code, error.message
    except (aiosmtplib.SMTPException, OSError) as error:
        raise UpstreamError(451, f"4.4.2 upstream error ({type(error).__name__})") from error
    return None


async def _reset(client: aiosmtplib.SMTP) -> bool:
    if not client.is_connected:
        return False
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        return False
    return True


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
