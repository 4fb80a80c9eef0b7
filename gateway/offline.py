"""`compuerta check`: the verdict the gateway would give a message, without sockets.

Trusts a validated Config and the directory it is given (the store's, read by the command);
the message bytes are untrusted, as on the wire. Runs the same pipeline, stage by stage, as the
SMTP session, with no rate counting; hands a CheckResult to the CLI.
"""

from __future__ import annotations

import email.utils
import secrets
from dataclasses import dataclass, replace

from filters import REGISTRY
from gateway import pipeline, replies
from gateway.clock import SystemClock
from gateway.config import Config
from gateway.model import Action, Decision, Directory, Envelope, Message, Stage, Verdict


@dataclass(frozen=True)
class CheckResult:
    action: Action
    stage: Stage
    verdicts: tuple[Verdict, ...]
    reply: str
    envelope: Envelope
    directory: str = ""  # where the directory came from ("" when it was empty)

    def as_json(self) -> dict[str, object]:
        return {
            "directory": self.directory,
            "action": self.action.name.lower(),
            "stage": self.stage.value,
            "rules": [v.rule for v in self.verdicts],
            "reply": self.reply,
            "from": self.envelope.mail_from,
            "to": list(self.envelope.rcpt_tos),
            "verdicts": [_describe(v) for v in self.verdicts],
        }

    def as_text(self) -> str:
        lines = [f"action: {self.action.name.lower()} (stage {self.stage.value})", f"reply:  {self.reply}",
                 f"directory: {self.directory or 'ninguno / none (rules that read it see no accounts)'}"]  # fmt: skip
        for verdict in self.verdicts:
            info = _describe(verdict)
            lines.append(f"- {info['rule']} [{info['action']}] norma {info['norm']}: {info['detail']}")
            lines.append(f"  {info['reply']}")
        return "\n".join(lines)


def _describe(verdict: Verdict) -> dict[str, str]:
    module = REGISTRY.get(verdict.rule)
    return {
        "rule": verdict.rule,
        "action": verdict.action.name.lower(),
        "norm": str(getattr(module, "NORM", "")),
        "detail": verdict.detail,
        "reply": _reply(verdict),
    }


def _reply(verdict: Verdict) -> str:
    """What the sender would read because of this rule: its refusal, the held notice, or the
    advice that comes with an acceptance (rcpt.visible)."""
    if verdict.action >= Action.TEMPFAIL:
        return replies.render(verdict)
    if verdict.action == Action.HOLD:
        return replies.HELD.line(detail="(se asigna al recibirlo)")
    return replies.accepted("check", (verdict.rule,))


def _addresses(raw: bytes, names: tuple[str, ...]) -> tuple[str, ...]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    parsed = email.message_from_string(head + "\n\n")
    values = [v for name in names for v in parsed.get_all(name, [])]
    return tuple(addr for _, addr in email.utils.getaddresses(values) if addr)


async def check(
    config: Config,
    raw: bytes,
    sender: str | None,
    rcpts: tuple[str, ...],
    directory: Directory | None = None,
    source: str = "",
) -> CheckResult:
    """The verdict; ``directory`` (from ``source``) as the gateway's checks would see it."""
    result = await _check(config, raw, sender, rcpts, directory or Directory())
    return replace(result, directory=source if directory is not None else "")


async def _check(
    config: Config, raw: bytes, sender: str | None, rcpts: tuple[str, ...], directory: Directory
) -> CheckResult:
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # files on disk often use LF
    mail_from = sender if sender is not None else next(iter(_addresses(raw, ("from",))), "")
    rcpt_tos = rcpts or _addresses(raw, ("to", "cc"))
    env = pipeline.Environment(config, SystemClock(), directory)
    msg = Message(secrets.token_hex(6).upper(), Envelope(mail_from, declared_size=len(raw)))
    decision = await pipeline.evaluate(Stage.MAIL, msg, env)
    if decision.action >= Action.TEMPFAIL:
        return _result(decision, Stage.MAIL, msg.envelope)
    for count in range(1, len(rcpt_tos) + 1):
        msg = replace(msg, envelope=replace(msg.envelope, rcpt_tos=rcpt_tos[:count]))
        decision = await pipeline.evaluate(Stage.RCPT, msg, env)
        if decision.action >= Action.TEMPFAIL:
            return _result(decision, Stage.RCPT, msg.envelope)
    msg = pipeline.parse(replace(msg, raw=raw))
    decision = await pipeline.evaluate(Stage.DATA, msg, env)
    return _result(decision, Stage.DATA, msg.envelope)


def _result(decision: Decision, stage: Stage, envelope: Envelope) -> CheckResult:
    verdict = decision.deciding
    if decision.action >= Action.TEMPFAIL and verdict is not None:
        reply = replies.render(verdict)
    elif decision.action == Action.HOLD:
        reply = replies.HELD.line(detail="(se asigna al recibirlo)")
    else:
        reply = replies.accepted("check", decision.rules)
    return CheckResult(decision.action, stage, decision.verdicts, reply, envelope)
