"""The reply table against the registry (style rule 15): every rule answers, codes agree."""

from __future__ import annotations

import pytest

from filters import REGISTRY
from gateway import replies
from gateway.model import Action, Verdict


def test_every_rule_has_a_reply() -> None:
    missing = sorted(set(REGISTRY) - set(replies.RULES))
    assert missing == []


@pytest.mark.parametrize("rule", sorted(replies.RULES))
def test_reply_cites_rule_and_norm_spanish_first(rule: str) -> None:
    reply = replies.RULES[rule]
    assert str(reply.code)[0] == reply.enhanced[0], "RFC 3463: enhanced class matches the code"
    assert rule in reply.es, "the Spanish text names the rule id"
    norm = str(getattr(REGISTRY.get(rule), "NORM", "")).split()[0] if rule in REGISTRY else ""
    assert norm in reply.es, "the Spanish text cites the norm"
    line = replies.render(Verdict(Action.REJECT, rule, "detalle"))
    assert line.index(reply.es.split()[0]) < line.index("/"), "Spanish comes first"


@pytest.mark.parametrize("action", [Action.TEMPFAIL, Action.REJECT])
def test_rendered_code_class_follows_action(action: Action) -> None:
    for rule in replies.RULES:
        line = replies.render(Verdict(action, rule, "x"))
        code, enhanced = line.split()[:2]
        expected = "4" if action == Action.TEMPFAIL else "5"
        assert code[0] == enhanced[0] == expected, line


def test_reply_is_one_printable_line() -> None:
    line = replies.render(Verdict(Action.REJECT, "attach.dangerous", "a\r\nRCPT TO:<x@evil>\x00.exe"))
    assert "\r" not in line and "\n" not in line and "\x00" not in line


def test_advice_joins_the_acceptance() -> None:
    line = replies.accepted("X1", ("rcpt.visible",))
    assert line.startswith("250 2.0.0 Mensaje aceptado (X1). Aviso rcpt.visible (001 VI)")
    assert line.endswith("Message accepted. Advice: with more than 5 recipients use Bcc")
    assert replies.accepted("X1") == replies.ACCEPTED.line(detail="X1")
