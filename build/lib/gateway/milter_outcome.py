"""Act on the pipeline's decision for one whole message seen through the milter.

Trusts the Decision from gateway.pipeline and the Message rebuilt by gateway.milter. The
milter twin of gateway.outcome.settle: refuse with the reply table's line (Postfix hands it
to the client), hold through the same store path as the proxy and then discard the message
from Postfix's queue, or accept with the tag header added. Returns the encoded responses for
end-of-message; Postfix sends the client its own 250 only after it queued (accept) or
discarded (hold, already committed here), so style rule 5 holds in milter mode too.
"""

from __future__ import annotations

from gateway import milter_protocol as mp
from gateway import outcome, replies
from gateway.model import Action, Decision, Message
from gateway.outcome import Services

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
        answer = tag(decision, options) + mp.encode(mp.Response.ACCEPT)
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
