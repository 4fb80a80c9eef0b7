"""sender.account: the sender's account must be active (001 III, 002, 003 4.19/4.21.4/4.22, 000 norm 8).

Trusts the Directory snapshot in the Context (imported by `compuerta directory import`, reloaded
by the gateway) and the clock. Runs at MAIL, so a disabled account is refused before its
message is transferred. Hands its verdict to the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from filters._address import domain_key
from gateway.model import Account, AccountState, Action, Context, Message, Stage, Verdict

RULE = "sender.account"
NORM = "001 III; 003 4.19, 4.21.4, 4.22; 000 norma 8"
STAGES = (Stage.MAIL,)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.REJECT
    # A sender of a home domain that the directory does not know; "accept" lets it through
    unknown: Action = Action.REJECT
    # End dates are calendar days where the accounts live (temporary accounts, 15-day grace)
    timezone: str = "America/Mexico_City"
    domains: tuple[str, ...] = ()  # home domains; empty: [organization] home_domains


def validate(settings: Settings) -> tuple[str, object, str] | None:
    """A setting the types cannot check, for gateway.config: (key, value, what is allowed)."""
    try:
        ZoneInfo(settings.timezone)
    except (ValueError, KeyError):
        return "timezone", settings.timezone, "an IANA time zone like America/Mexico_City"
    return None


def _refusal(account: Account, today: date) -> str | None:
    state = account.state
    if state in (AccountState.SUSPENDED, AccountState.DISABLED):
        return f"{account.address}: cuenta {_ES[state]} / account {state.value}"
    if state in (AccountState.TEMPORARY, AccountState.GRACE) and account.expires and today > account.expires:
        # 003 4.22: temporary accounts end on their date; 000 norm 8: 15 days after a baja
        return f"{account.address}: cuenta {_ES[state]} vencida el / account expired on {account.expires}"
    return None


_ES = {
    AccountState.SUSPENDED: "suspendida",
    AccountState.DISABLED: "deshabilitada",
    AccountState.TEMPORARY: "temporal",
    AccountState.GRACE: "en baja",
}


def _account(msg: Message, ctx: Context[Settings]) -> Account | None:
    """The sender's account, or the authenticated owner's when it may send as this address."""
    sender = msg.envelope.mail_from.lower()
    account = ctx.directory.account(sender)
    login = (msg.envelope.login or "").lower()
    if account is not None or not login:
        return account
    owners = [login] if "@" in login else [f"{login}@{d.lower()}" for d in ctx.organization.home_domains]
    for owner in filter(None, map(ctx.directory.account, owners)):
        if sender in (a.lower() for a in owner.send_as):
            return owner  # a shared address (difusion@) is judged by the person using it
    return None


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    sender = msg.envelope.mail_from
    if not sender or not ctx.directory.accounts:
        return None  # a bounce, or no directory imported yet: nothing to judge against
    account = _account(msg, ctx)
    if account is None:
        home = {domain_key(d) for d in ctx.settings.domains or ctx.organization.home_domains}
        if domain_key(sender.rpartition("@")[2]) in home and ctx.settings.unknown != Action.ACCEPT:
            return Verdict(ctx.settings.unknown, RULE, f"{sender}: cuenta desconocida / unknown account")
        return None
    today = ctx.clock.now().astimezone(ZoneInfo(ctx.settings.timezone)).date()
    reason = _refusal(account, today)
    return None if reason is None else Verdict(ctx.settings.action, RULE, reason)
