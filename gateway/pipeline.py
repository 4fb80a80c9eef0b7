"""The policy pipeline: run the profile's checks for one stage and combine their verdicts.

Trusts the Message it is given (built by the SMTP session, the milter or `compuerta check`) and
the registry's modules; never trusts a check not to raise or hang. Hands back a Decision; the
caller turns it into a reply, a hold or a relay. Effects that outlive the message (rate counters,
limit hits, suspensions) go through the Meter protocol, so the pipeline never imports the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import ModuleType
from typing import Protocol

from prometheus_client import Histogram

from filters import REGISTRY, _mime, rate_abuse, rate_messages, rate_recipients
from gateway import metrics
from gateway.config import Config, Profile
from gateway.model import (
    ALL_WINDOWS,
    Action,
    Charge,
    Clock,
    Context,
    Decision,
    Directory,
    Envelope,
    Message,
    Organization,
    Stage,
    Usage,
    Verdict,
    Windows,
)

log = logging.getLogger(__name__)

# A check that raises or hangs is a bug: tempfail, never accept (style rule 11).
BUG = "internal.error"
# Where a verdict stops the pipeline at once.
_STOPPING = (Action.REJECT, Action.TEMPFAIL, Action.SUSPEND)
NO_USAGE = Usage()


# Rules that read the sender's Usage; the pipeline reads it only when one of them runs.
_USAGE_RULES = frozenset({"rate.messages", "rate.recipients", "rate.abuse"})


class Meter(Protocol):
    """Rate counters and suspensions (gateway.usage.StoreMeter over the store)."""

    async def usage(self, key: str, now: datetime, windows: Windows = ALL_WINDOWS) -> Usage:
        """``key``'s rate windows at ``now``; those not in ``windows`` are left at zero."""
        ...

    async def consume(self, charge: Charge, now: datetime, force: bool) -> tuple[int, str, Usage]:
        """Check and record atomically: (event id, rule crossed or "", usage before)."""
        ...

    async def refund(self, event: int) -> None: ...

    async def limit_hit(self, key: str, rule: str, now: datetime) -> None: ...

    async def suspend(
        self, key: str, detail: str, now: datetime, notify: tuple[str, ...], sender: str
    ) -> None:
        """Suspend ``key``; the first time, tell ``notify`` in a notice from ``sender``."""
        ...


class DirectorySource(Protocol):
    """The directory as of now (gateway.directory.LiveDirectory, reloaded without restart)."""

    @property
    def current(self) -> Directory: ...


@dataclass(frozen=True)
class Environment:
    """Everything besides the message that the checks may read."""

    config: Config
    clock: Clock
    directory: Directory = field(default_factory=Directory)  # used when ``directories`` is None
    meter: Meter | None = None  # None: no rate counting (`compuerta check`)
    directories: DirectorySource | None = None

    def current_directory(self) -> Directory:
        """The snapshot the checks of one message see from start to end."""
        return self.directories.current if self.directories is not None else self.directory


def sender_key(envelope: Envelope) -> str:
    """Who pays for a message under the rate rules: the SASL login, else the sender (001 VI)."""
    return (envelope.login or envelope.mail_from).lower()


def parse(msg: Message) -> Message:
    """``msg`` with its MIME view built once, for the DATA stage."""
    return replace(msg, view=_mime.parse(msg.raw, crlf_clean=msg.crlf_clean, base64_lines=msg.base64_lines))


_Plan = tuple[tuple[str, ModuleType, object], ...]
# (id of a profile, stage) -> (that profile, its checks for the stage); a reload makes new profiles
_plans: dict[tuple[int, Stage], tuple[Profile, _Plan]] = {}


def _modules(profile: Profile, stage: Stage) -> _Plan:
    """The enabled checks of ``profile`` for ``stage``, in order; worked out once per profile."""
    cached = _plans.get((id(profile), stage))
    if cached is not None and cached[0] is profile:
        return cached[1]
    plan = tuple(
        (rule, REGISTRY[rule], profile.settings(rule))
        for rule in profile.order
        if stage in REGISTRY[rule].STAGES and getattr(profile.settings(rule), "enabled", True)
    )
    if len(_plans) > 256:
        _plans.clear()
    _plans[(id(profile), stage)] = (profile, plan)
    return plan


async def evaluate(stage: Stage, msg: Message, env: Environment, usage: Usage | None = None) -> Decision:
    """Run the sender's profile for ``stage``: stop at the first reject, tempfail or suspend;
    collect every hold and tag; accept when nothing objects."""
    profile = env.config.profile_for(msg.envelope.mail_from)
    modules = _modules(profile, stage)
    if usage is None:
        try:
            usage = await _usage(msg, env, modules)
        except Exception:
            log.exception("usage of %s not read; tempfailing", msg.id)
            return Decision(Action.TEMPFAIL, (Verdict(Action.TEMPFAIL, BUG, "usage: store"),))
    started = time.perf_counter()
    decision = await _decide(msg, env, profile, modules, usage)
    _timer(stage).observe(time.perf_counter() - started)
    await _effects(msg, env, profile, decision)
    return decision


# The stage histogram's children, looked up once (labels() costs a lock and a dict per call)
_timers: dict[Stage, Histogram] = {}


def _timer(stage: Stage) -> Histogram:
    timer = _timers.get(stage)
    if timer is None:
        timer = _timers[stage] = metrics.STAGE_SECONDS.labels(stage=stage.value)
    return timer


async def _decide(msg: Message, env: Environment, profile: Profile,
                  modules: _Plan, usage: Usage) -> Decision:  # fmt: skip
    """Style rule 12: one time limit for the stage's checks together (one timer per stage, not
    one per check: a timer costs more than most checks); the check running when it strikes
    is named, and the message tempfailed."""
    organization = _organization(env.config)
    directory = env.current_directory()
    clock = env.clock
    collected: list[Verdict] = []
    rule = ""
    try:
        async with asyncio.timeout(profile.check_timeout):
            for rule, module, settings in modules:
                try:
                    verdict: Verdict | None = await module.check(
                        msg, Context(settings, clock, organization, directory, usage)
                    )
                except Exception:
                    log.exception("check %s raised on %s", rule, msg.id)
                    verdict = _bug(rule)
                if verdict is None:
                    continue
                collected.append(verdict)
                if verdict.action in _STOPPING:
                    return Decision(verdict.action, tuple(collected))
    except TimeoutError:
        log.error("check %s timed out (%.1fs for the stage) on %s", rule, profile.check_timeout, msg.id)
        metrics.CHECK_ERRORS.labels(rule=rule).inc()
        return Decision(Action.TEMPFAIL, (*collected, Verdict(Action.TEMPFAIL, BUG, f"{rule}: timeout")))
    action = max((v.action for v in collected), default=Action.ACCEPT)
    return Decision(action, tuple(collected))


def _bug(rule: str) -> Verdict:
    """A check that raised: counted, and the message tempfailed (style rule 11)."""
    metrics.CHECK_ERRORS.labels(rule=rule).inc()
    return Verdict(Action.TEMPFAIL, BUG, f"{rule}: error")


# The Organization of a configuration, made once (a reload makes a new Config)
_organizations: dict[int, tuple[Config, Organization]] = {}


def _organization(config: Config) -> Organization:
    cached = _organizations.get(id(config))
    if cached is not None and cached[0] is config:
        return cached[1]
    organization = Organization(config.organization.home_domains, config.organization.name)
    if len(_organizations) > 16:
        _organizations.clear()
    _organizations[id(config)] = (config, organization)
    return organization


async def snapshot(msg: Message, env: Environment) -> Usage | None:
    """The sender's usage, read once per SMTP transaction (at MAIL) for the checks of every
    stage; None when the store cannot be read (``evaluate`` then tries again, and tempfails).

    A snapshot only explains: the authoritative check of the rate limits and of a suspension
    is ``consume``'s transaction at acceptance, so reading it again at DATA would only cost."""
    profile = env.config.profile_for(msg.envelope.mail_from)
    modules = _modules(profile, Stage.MAIL) + _modules(profile, Stage.DATA)
    try:
        return await _usage(msg, env, modules)
    except Exception:
        log.exception("usage of %s not read", msg.id)
        return None


async def _usage(msg: Message, env: Environment, modules: _Plan) -> Usage:
    key = sender_key(msg.envelope)
    if env.meter is None or not key or not any(rule in _USAGE_RULES for rule, _, _ in modules):
        return NO_USAGE
    needed = windows(env.config.profile_for(msg.envelope.mail_from))
    if needed == NO_WINDOWS:
        return NO_USAGE
    return await env.meter.usage(key, env.clock.now(), needed)


NO_WINDOWS = Windows(False, False, False, False)


def windows(profile: Profile) -> Windows:
    """The parts of a sender's Usage that the rate rules of ``profile`` read: a limit of 0
    counts (consume records every message) but never limits, so its window is not read."""
    messages, recipients, abuse = profile.rate_messages, profile.rate_recipients, profile.rate_abuse
    return Windows(
        messages=messages.enabled and messages.max_per_minute > 0,
        recipients=recipients.enabled and recipients.max_per_day > 0,
        hits=abuse.enabled and abuse.hits_per_hour > 0,
        suspended=abuse.enabled,
    )


async def _effects(msg: Message, env: Environment, profile: Profile, decision: Decision) -> None:
    """Style rule 10: limit hits feed rate.abuse; a suspend verdict suspends and notifies."""
    key = sender_key(msg.envelope)
    if env.meter is None or not key:
        return
    now = env.clock.now()
    try:
        for verdict in decision.verdicts:
            if (
                verdict.rule in (rate_messages.RULE, rate_recipients.RULE)
                and verdict.action >= Action.TEMPFAIL
            ):
                await env.meter.limit_hit(key, verdict.rule, now)
            if verdict.action == Action.SUSPEND:
                settings = profile.rate_abuse
                notice_from = settings.notice_from or _postmaster(env)
                await env.meter.suspend(key, verdict.detail, now, settings.notify, notice_from)
    except Exception:
        # The decision stands (the message is refused anyway); only the bookkeeping is lost
        log.exception("effects of %s on %s not recorded", decision.rules, msg.id)


def _postmaster(env: Environment) -> str:
    domains = env.config.organization.home_domains
    return f"postmaster@{domains[0]}" if domains else "postmaster@localhost"


def charge(envelope: Envelope, env: Environment) -> Charge:
    """What ``envelope`` costs: its recipients after expanding lists, against its profile's limits."""
    profile = env.config.profile_for(envelope.mail_from)
    messages, recipients = profile.rate_messages, profile.rate_recipients
    return Charge(
        sender_key(envelope), envelope.mail_from.lower(),
        len(env.current_directory().expand(envelope.rcpt_tos)),
        messages.max_per_minute if messages.enabled else 0,
        recipients.max_per_day if recipients.enabled else 0,
        profile.rate_abuse.enabled,
    )  # fmt: skip


async def consume(msg: Message, env: Environment) -> tuple[int, Verdict | None]:
    """At acceptance: check and consume the sender's allowance in one store transaction.

    Returns the usage event (to refund if the relay fails) and, when a concurrent message took
    the allowance since the checks ran, the rate verdict that refuses this one."""
    cost = charge(msg.envelope, env)
    if env.meter is None or not cost.key:
        return 0, None
    now = env.clock.now()
    event, over, used = await env.meter.consume(cost, now, False)
    if not over:
        return event, None
    profile = env.config.profile_for(msg.envelope.mail_from)
    if over == rate_abuse.RULE:
        # Suspended since the checks read the snapshot: refused, and not a new limit hit
        return 0, Verdict(profile.rate_abuse.action, over, rate_abuse.SUSPENDED)
    if over == rate_messages.RULE:
        limit = profile.rate_messages
        verdict = Verdict(
            limit.action, over, rate_messages.detail(used.messages_last_minute, limit.max_per_minute)
        )
    else:
        quota = profile.rate_recipients
        detail = rate_recipients.detail(used.recipients_last_day, cost.recipients, quota.max_per_day)
        verdict = Verdict(quota.action, over, detail)
    await env.meter.limit_hit(cost.key, over, now)
    return 0, verdict


async def refund(event: int, env: Environment) -> None:
    """Give back what ``consume`` took for a message that was not accepted after all."""
    if env.meter is not None and event:
        await env.meter.refund(event)


async def consume_released(envelope: Envelope, env: Environment) -> None:
    """For the release path: a held message counts when its approvers release it (001 VI), and
    then whatever it costs, because people approved it."""
    cost = charge(envelope, env)
    if env.meter is not None and cost.key:
        await env.meter.consume(cost, env.clock.now(), True)


def rules_header(decision: Decision) -> bytes:
    """The X-Compuerta-Rules header stamped on relayed mail that some rule tagged."""
    if not decision.verdicts:
        return b""
    return b"X-Compuerta-Rules: " + ", ".join(decision.rules).encode("ascii", "replace") + b"\r\n"
