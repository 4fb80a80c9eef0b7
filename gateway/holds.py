"""Hold a message for approval: deadline, approvers and recipients by kind, commit, notices.

Trusts the pipeline's Decision (its hold verdicts are the reasons) and the Directory. The store
commits the message before this returns, so the 250 with the ticket that gateway.outcome sends
afterwards is never a lie (style rule 5); the sender's notice and the approvers' go out after
the commit, through the Transport.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from filters import _recipients
from gateway import deadlines, moderation
from gateway.config import Config
from gateway.model import Action, Context, Decision, HeldMessage, Message, Organization

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from gateway.outcome import Services


def required_roles(config: Config, decision: Decision, sender: str) -> tuple[str, ...]:
    """Every role any hold rule's settings ask for; [approval] required when none does."""
    profile = config.profile_for(sender)
    roles: list[str] = []
    for verdict in decision.verdicts:
        if verdict.action == Action.HOLD:
            for role in getattr(profile.settings(verdict.rule), "approvers", ()):
                if role not in roles:
                    roles.append(role)
    return tuple(roles) or config.approval.required


def prepare(msg: Message, decision: Decision, services: Services, subject: str) -> HeldMessage:
    env = services.env
    config, now = env.config, env.clock.now()
    cal = deadlines.calendar(config.approval.timezone, config.approval.extra_holidays)
    deadline = deadlines.add_business_days(now, config.approval.deadline_days, cal)
    organization = Organization(config.organization.home_domains, config.organization.name)
    ctx: Context[None] = Context(None, env.clock, organization, env.current_directory())
    found = _recipients.breakdown(msg, ctx)
    account = env.current_directory().account(msg.envelope.mail_from)
    return HeldMessage(
        msg.id, msg.envelope, msg.raw, decision.verdicts, now, subject=subject, deadline=deadline,
        dependency=account.dependency if account else "",
        required_roles=required_roles(config, decision, msg.envelope.mail_from),
        classes=tuple(sorted((kind.value, len(v)) for kind, v in found.by_kind.items())),
        expires_at=deadlines.add_business_days(deadline, config.approval.expire_days, cal),
    )  # fmt: skip


async def hold(msg: Message, decision: Decision, services: Services, subject: str) -> HeldMessage:
    """Commit the held message (raises StoreError), then tell the sender and the approvers."""
    stored = await services.store.hold(prepare(msg, decision, services, subject))
    try:
        await moderation.tell_sender(services, stored)
        await moderation.notify_approvers(services, stored, "new", stored.required_roles)
    except Exception:
        # Committed: the 250 with its ticket must go out whatever happens to the notices now,
        # or the MTA would retry and the message would be held twice. The sweep resends the
        # sender's notice (it is marked only once upstream took it).
        log.exception("%s held as %s, but its notices failed", msg.id, stored.ticket)
    return stored
