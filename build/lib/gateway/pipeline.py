"""The policy pipeline: run the profile's checks for one stage and combine their verdicts.

Trusts the Message it is given (built by the SMTP session, the milter or `compuerta check`) and
the registry's modules; never trusts a check not to raise or hang. Hands back a Decision; the
caller turns it into a reply, a hold or a relay. Effects that outlive the message (decision log,
rate counters) go through the Effects protocol so that the pipeline itself stays testable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from types import ModuleType

from filters import REGISTRY, _mime
from gateway import metrics
from gateway.config import Config, Profile
from gateway.model import (
    Action,
    Clock,
    Context,
    Decision,
    Directory,
    Message,
    Organization,
    Stage,
    Usage,
    Verdict,
)

log = logging.getLogger(__name__)

# A check that raises or hangs is a bug: tempfail, never accept (style rule 11).
BUG = "internal.error"
# Where a verdict stops the pipeline at once.
_STOPPING = (Action.REJECT, Action.TEMPFAIL, Action.SUSPEND)
NO_USAGE = Usage()


@dataclass(frozen=True)
class Environment:
    """Everything besides the message that the checks may read."""

    config: Config
    clock: Clock
    directory: Directory = field(default_factory=Directory)


def parse(msg: Message) -> Message:
    """``msg`` with its MIME view built once, for the DATA stage."""
    return replace(msg, view=_mime.parse(msg.raw))


def _modules(profile: Profile, stage: Stage) -> Iterable[tuple[str, ModuleType, object]]:
    for rule in profile.order:
        module = REGISTRY[rule]
        settings = profile.settings(rule)
        if stage in module.STAGES and getattr(settings, "enabled", True):
            yield rule, module, settings


async def _run(module: ModuleType, msg: Message, ctx: Context[object], timeout: float) -> Verdict | None:
    rule = str(module.RULE)
    try:
        async with asyncio.timeout(timeout):
            verdict: Verdict | None = await module.check(msg, ctx)
            return verdict
    except TimeoutError:
        log.error("check %s timed out after %.1fs on %s", rule, timeout, msg.id)
        metrics.CHECK_ERRORS.labels(rule=rule).inc()
        return Verdict(Action.TEMPFAIL, BUG, f"{rule}: timeout")
    except Exception:
        log.exception("check %s raised on %s", rule, msg.id)
        metrics.CHECK_ERRORS.labels(rule=rule).inc()
        return Verdict(Action.TEMPFAIL, BUG, f"{rule}: error")


async def evaluate(stage: Stage, msg: Message, env: Environment, usage: Usage = NO_USAGE) -> Decision:
    """Run the sender's profile for ``stage``: stop at the first reject, tempfail or suspend;
    collect every hold and tag; accept when nothing objects."""
    profile = env.config.profile_for(msg.envelope.mail_from)
    organization = Organization(env.config.organization.home_domains, env.config.organization.name)
    collected: list[Verdict] = []
    with metrics.STAGE_SECONDS.labels(stage=stage.value).time():
        for rule, module, settings in _modules(profile, stage):
            ctx: Context[object] = Context(settings, env.clock, organization, env.directory, usage)
            verdict = await _run(module, msg, ctx, profile.check_timeout)
            if verdict is None:
                continue
            collected.append(verdict)
            if verdict.action in _STOPPING:
                return Decision(verdict.action, tuple(collected))
    action = max((v.action for v in collected), default=Action.ACCEPT)
    return Decision(action, tuple(collected))


def rules_header(decision: Decision) -> bytes:
    """The X-Compuerta-Rules header stamped on relayed mail that some rule tagged."""
    if not decision.verdicts:
        return b""
    return b"X-Compuerta-Rules: " + ", ".join(decision.rules).encode("ascii", "replace") + b"\r\n"
