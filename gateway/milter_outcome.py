"""Act on the pipeline's decision for one whole message seen through the milter.

Trusts the Decision from gateway.pipeline and the Message rebuilt by gateway.milter. The
milter twin of gateway.outcome.settle: refuse with the reply table's line (Postfix hands it
to the client), hold through the same store path as the proxy and then discard the message
from Postfix's queue, or accept with the tag header added. Returns the encoded responses for
end-of-message; Postfix sends the client its own 250 only after it queued (accept) or
discarded (hold, already committed here), so style rule 5 holds in milter mode too.
"""

from __future__ import annotations

import logging

from gateway import milter_protocol as mp
from gateway import outcome, pipeline, replies
from gateway.model import Action, Decision, Message
from gateway.outcome import Services
from gateway.pipeline import rules_header
from relay.dkim import DKIMError

log = logging.getLogger(__name__)

RULES_HEADER = "X-Compuerta-Rules"
_REFUSING = (Action.REJECT, Action.TEMPFAIL, Action.SUSPEND)


async def settle(msg: Message, decision: Decision, services: Services, options: mp.Options) -> bytes:
    """The end-of-message responses for ``msg``: modifications first, then the final one."""
    ticket = ""
    if decision.action in _REFUSING:
        verdict = decision.deciding
        answer = mp.reply_code(
            replies.render(verdict) if verdict else replies.INTERNAL_ERROR.line(detail="?")
        )
    elif decision.action == Action.HOLD:
        line, ticket = await outcome.hold(msg, decision, services)
        # Committed: drop it from Postfix's queue. Not committed: 451, the client retries.
        answer = mp.encode(mp.Response.DISCARD) if ticket else mp.reply_code(line)
    else:
        # 001 VI: check and consume the sender's allowance atomically at acceptance
        _, refusal = await pipeline.consume(msg, services.env)
        if refusal is None:
            answer = tag(decision, options) + signature(msg, decision, services, options)
            answer += mp.encode(mp.Response.ACCEPT)
        else:
            decision = Decision(refusal.action, (*decision.verdicts, refusal))
            answer = mp.reply_code(replies.render(refusal))
    await outcome.record(msg, decision, services, ticket)
    return answer


def tag(decision: Decision, options: mp.Options) -> bytes:
    """The X-Compuerta-Rules header as the proxy stamps it: on top of the message."""
    if not decision.verdicts or not options.actions & mp.Act.ADDHDRS:
        return b""
    value = ", ".join(decision.rules)
    # Without HDR_LEADSPC, Postfix adds the space after the colon itself (milter8.c).
    if options.steps & mp.Step.HDR_LEADSPC:
        value = " " + value
    return mp.insert_header(0, RULES_HEADER, value)


def signature(msg: Message, decision: Decision, services: Services, options: mp.Options) -> bytes:
    """The DKIM-Signature header, on top, where the From: domain asked for relayed mail to be
    signed ([dkim."domain"] relayed): signed last, over the bytes Postfix will deliver (the
    tag header and the message as received; Postfix's own Received: above is not signed)."""
    if not services.signer.relayed or not options.actions & mp.Act.ADDHDRS:
        return b""
    data = (rules_header(decision) if tag(decision, options) else b"") + msg.raw
    try:
        signed = services.signer.sign_relayed(data)
    except DKIMError as error:
        log.error("%s accepted unsigned: %s", msg.id, error)
        return b""
    if len(signed) == len(data):
        return b""
    name, _, value = signed[: len(signed) - len(data)].partition(b":")
    # A milter folds a header value with LF (libmilter smfi_insheader); Postfix writes CRLF.
    value = value.rstrip(b"\r\n").replace(b"\r\n", b"\n")
    if not options.steps & mp.Step.HDR_LEADSPC:
        value = value.removeprefix(b" ")
    return mp.insert_header(0, name.decode("ascii"), value.decode("ascii"))
