"""Per-domain profiles for the sender, rate and content rules: overrides apply to their domain
only, and a bad key or value is refused at load naming it."""

from __future__ import annotations

import pytest

from filters.sender_domain import Agreement
from gateway.config import ConfigError, build
from gateway.model import Action
from tests.conftest import GatewayFactory, Sink, load, send

SEG = {"rate.messages": {"max_per_minute": 1}, "sender.domain": {"agreement": "address"},
       "content.chain": {"action": "reject"}, "rcpt.visible": {"max_visible": 10}}  # fmt: skip


def test_domain_profile_overrides_only_its_domain() -> None:
    config = build(
        {"organization": {"home_domains": ["gto.gob.mx", "seg.gob.mx"]}, "profiles": {"seg.gob.mx": SEG}}
    )
    seg, gto = config.profile_for("ana@SEG.gob.mx"), config.profile_for("ana@gto.gob.mx")
    assert (seg.rate_messages.max_per_minute, gto.rate_messages.max_per_minute) == (1, 30)
    assert (seg.sender_domain.agreement, gto.sender_domain.agreement) == (Agreement.ADDRESS, Agreement.DOMAIN)
    assert (seg.content_chain.action, gto.content_chain.action) == (Action.REJECT, Action.HOLD)
    assert seg.rcpt_visible.max_visible == 10 and seg.rate_recipients.max_per_day == 10_000


@pytest.mark.parametrize(
    ("table", "key", "allowed"),
    [
        (
            {"rate.messages": {"per_minute": 5}},
            "profiles.seg.gob.mx.rate.messages.per_minute",
            "max_per_minute",
        ),
        (
            {"sender.domain": {"agreement": "both"}},
            "profiles.seg.gob.mx.sender.domain.agreement",
            "domain, address",
        ),
        (
            {"sender.account": {"timezone": "Mars/Olympus"}},
            "profiles.seg.gob.mx.sender.account.timezone",
            "IANA",
        ),
        ({"rate.recipients": {"max_per_day": -1}}, "profiles.seg.gob.mx.rate.recipients.max_per_day", ">= 0"),
        ({"content.chain": {"action": "accept"}}, "profiles.seg.gob.mx.content.chain.action", "tag, hold"),
        ({"rate.abuse": {"notify": "admin@gto.gob.mx"}}, "profiles.seg.gob.mx.rate.abuse.notify", "a list"),
    ],
)
def test_bad_domain_profile_refused_naming_the_key(table: dict[str, object], key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as error:
        build({"profiles": {"seg.gob.mx": table}})
    assert error.value.key == key and allowed in error.value.allowed


async def test_domain_profile_applies_over_smtp(gateway_factory: GatewayFactory, sink: Sink) -> None:
    overrides = {"organization": {"home_domains": ["gto.gob.mx", "seg.gob.mx"]}}
    gateway = await gateway_factory(sink.port, overrides | {"profiles": {"seg.gob.mx": SEG}})
    raw = load("content.chain", "chain-en-bad-luck")
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], raw)
    assert code == 250 and "folio C-" in text  # the default profile holds chain letters
    seg = raw.replace(b"From: ana@gto.gob.mx", b"From: eva@seg.gob.mx")
    code, text = await send(gateway.port, "eva@seg.gob.mx", ["luis@gto.gob.mx"], seg)
    assert code == 550 and text.startswith("5.7.1 Mensaje detenido por la regla content.chain")


@pytest.mark.parametrize("helo", ["mx1 gto.gob.mx", "mx1.gto.gob.mx\r\nRSET", "", "-mx1", "mx1.gto.gob.mx."])
def test_upstream_helo_must_be_a_host_name(helo: str) -> None:
    # RFC 5321 §4.1.1.1: it goes on the wire as the argument of EHLO
    with pytest.raises(ConfigError) as error:
        build({"upstream": {"helo": helo}})
    assert error.value.key == "upstream.helo"


@pytest.mark.parametrize(
    "helo", ["compuerta.localhost", "mx1.gto.gob.mx", "[192.0.2.1]", "[IPv6:2001:db8::1]"]
)
def test_upstream_helo_host_names_and_literals_pass(helo: str) -> None:
    assert build({"upstream": {"helo": helo}}).upstream.helo == helo
