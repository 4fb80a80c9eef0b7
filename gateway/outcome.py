"""Act on the pipeline's decision for one whole message: relay it, hold it, or refuse it.

Trusts the Decision from gateway.pipeline and the Message it was made on. Hands the message to
the relay (Transport) or the store, and returns the one reply line the client gets. This is
where "250 only after upstream accepted or the store committed" is kept (style rule 5); the
SMTP session and the milter both call ``settle``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway import holds, metrics, pipeline, replies
from gateway.model import Action, Decision, DecisionRecord, Message
from gateway.parsing import Parser
from gateway.pipeline import Environment, rules_header
from gateway.store import Store, StoreError
from relay import dsn
from relay.dkim import DKIMError, Signer
from relay.transport import SendResult, Transport, UpstreamError, is_crlf_clean

if TYPE_CHECKING:
    from gateway.delivery import Worker

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What every session, route and worker uses. One object for the whole process: a reload
    (SIGHUP, gateway.reload) replaces ``env`` as a whole, so readers see the new configuration
    at their next step; nothing else is ever reassigned."""

    env: Environment
    store: Store
    transport: Transport
    hostname: str = "compuerta.localhost"
    signer: Signer = field(default_factory=Signer)  # DKIM keys (relay.dkim)
    worker: Worker | None = None  # the outbox's delivery worker, when this process runs one
    parser: Parser = field(default_factory=Parser)  # large messages' parses, side by side


async def settle(msg: Message, decision: Decision, services: Services) -> str:
    """The reply line for ``msg``; only returns a 2xx once the message is safe."""
    ticket = ""
    if decision.action in (Action.REJECT, Action.TEMPFAIL, Action.SUSPEND):
        verdict = decision.deciding
        reply = replies.render(verdict) if verdict else replies.INTERNAL_ERROR.line(detail="?")
    elif decision.action == Action.HOLD:
        reply, ticket = await hold(msg, decision, services)
    else:
        reply, decision = await _accept(msg, decision, services)
    await record(msg, decision, services, ticket)
    return reply


async def _accept(msg: Message, decision: Decision, services: Services) -> tuple[str, Decision]:
    """Consume the sender's allowance atomically (001 VI), then relay; refund if not relayed."""
    try:
        event, refusal = await pipeline.consume(msg, services.env)
    except Exception:
        # Reads worked (the checks saw the sender's usage); only recording failed (a full or
        # read-only store). Like the decision log, the bookkeeping is lost, not the message.
        log.exception("%s usage not recorded; relaying on the checks' snapshot", msg.id)
        metrics.STORE_ERRORS.labels(op="consume").inc()
        event, refusal = 0, None
    if refusal is not None:
        return replies.render(refusal), Decision(refusal.action, (*decision.verdicts, refusal))
    reply = await _relay(msg, decision, services)
    if not reply.startswith("2"):
        try:
            await pipeline.refund(event, services.env)
        except Exception:
            log.exception("%s usage not refunded", msg.id)
    return reply, decision


async def hold(msg: Message, decision: Decision, services: Services) -> tuple[str, str]:
    """Commit ``msg`` to the store: the reply line and the ticket ("" when not committed).
    Shared by the SMTP session and the milter, so both hold the same way."""
    try:
        stored = await holds.hold(msg, decision, services, _subject(msg))
    except StoreError as error:
        log.error("%s hold failed, tempfailing: %s", msg.id, error)
        metrics.STORE_ERRORS.labels(op="hold").inc()
        return replies.STORE_UNAVAILABLE.line(), ""
    await _touch(msg, services)
    return replies.HELD.line(detail=stored.ticket), stored.ticket


async def _touch(msg: Message, services: Services) -> None:
    # 003 8.3: a held message is outbound activity too (relayed ones are recorded by consume)
    if not msg.envelope.mail_from:
        return
    try:
        await services.store.touch(msg.envelope.mail_from, services.env.clock.now())
    except StoreError as error:
        log.error("%s activity not recorded: %s", msg.id, error)


async def _relay(msg: Message, decision: Decision, services: Services) -> str:
    data = _signed(msg, rules_header(decision) + msg.raw, services)
    try:
        clean, dot_free = _proven(msg, data)
        result = await services.transport.send(
            msg.envelope.mail_from, msg.envelope.rcpt_tos, data, clean, dot_free
        )
    except UpstreamError as error:
        log.warning("%s upstream refused: %d %s", msg.id, error.code, error.text)
        if error.code == 451 and error.text.startswith("4.4."):
            return replies.UPSTREAM_UNAVAILABLE.line(detail=error.text)
        return replies.upstream(error.code, error.text)
    if result.refused:
        await _notify_refused(msg, result, services)
    return replies.accepted(f"{msg.id}; {result.code} {result.text}", decision.rules)


def _proven(msg: Message, data: bytes) -> tuple[bool, bool]:
    """What gateway.data proved of ``msg.raw`` that holds for ``data``, which ends with it: no
    bare CR or LF; no line that starts with a dot. Only the headers put before it are read."""
    if not msg.crlf_clean:
        return False, False
    if data is msg.raw:
        return True, msg.dot_free
    if not data.endswith(msg.raw):
        return False, False
    head = data[: len(data) - len(msg.raw)]
    clean = is_crlf_clean(head)
    return clean, clean and msg.dot_free and not head.startswith(b".") and b"\r\n." not in head


def _signed(msg: Message, data: bytes, services: Services) -> bytes:
    """Sign last, over the bytes sent, where the From: domain asked for it (off by default)."""
    try:
        return services.signer.sign_relayed(data)
    except DKIMError as error:
        log.error("%s relayed unsigned: %s", msg.id, error)
        return data


async def _notify_refused(msg: Message, result: SendResult, services: Services) -> None:
    """Some recipients were refused for good: tell the sender, never drop them silently."""
    log.warning("%s upstream refused %d recipient(s) permanently", msg.id, len(result.refused))
    if not msg.envelope.mail_from:
        return  # never bounce a bounce (RFC 5321 §4.5.5)
    report = dsn.build(
        msg.envelope.mail_from, result.refused, _subject(msg), services.hostname,
        services.env.clock.now(),
    )  # fmt: skip
    try:
        await services.transport.send("", (msg.envelope.mail_from,), report)
    except UpstreamError as error:
        log.error("%s DSN to %s not sent: %s", msg.id, msg.envelope.mail_from, error)


async def record(msg: Message, decision: Decision, services: Services, ticket: str) -> None:
    """Count, log and append the final decision on ``msg`` to the decision log."""
    action = decision.action.name.lower()
    metrics.MESSAGES.labels(action=action).inc()
    for verdict in decision.verdicts:
        metrics.RULE_HITS.labels(rule=verdict.rule, action=verdict.action.name.lower()).inc()
    log.info(
        "decision id=%s stage=data rule=%s action=%s from=<%s> rcpts=%d size=%d%s",
        msg.id, ",".join(decision.rules) or "-", action, msg.envelope.mail_from,
        len(msg.envelope.rcpt_tos), len(msg.raw), f" ticket={ticket}" if ticket else "",
    )  # fmt: skip
    record = DecisionRecord(
        msg.id, msg.envelope.mail_from, len(msg.envelope.rcpt_tos), len(msg.raw),
        decision.rules, decision.action, services.env.clock.now(), "data", ticket,
    )  # fmt: skip
    await services.store.record_decision(record)


def _subject(msg: Message) -> str:
    if msg.view is None:
        return ""
    values = msg.view.header("subject")
    # RFC 5322 §2.2.3: a folded Subject is one line; a CR or LF would break the notices' headers.
    return " ".join(values[0].split()) if values else ""
