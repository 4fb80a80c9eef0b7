"""The sender, recipient and rate rules end to end: a real client, the real gateway, a sink."""

from __future__ import annotations

import asyncio
from datetime import date

import aiosmtplib
import pytest

from gateway.model import Account, AccountState, Directory, DistributionList
from tests.conftest import GatewayFactory, Sink, load, message, send

ACCOUNTS = (
    Account("ana@gto.gob.mx", "SFIA"),
    Account("luis@gto.gob.mx", "SFIA"),
    Account("investigada@gto.gob.mx", "SFIA", AccountState.SUSPENDED),
    Account("becario@gto.gob.mx", "SFIA", AccountState.TEMPORARY, date(2026, 11, 1)),
    Account("capturista@gto.gob.mx", "SEG", internet=False),
)
TEAM = DistributionList(
    "equipo@gto.gob.mx", ("p1@gto.gob.mx", "p2@gto.gob.mx", "p3@gto.gob.mx", "luis@gto.gob.mx")
)
DIRECTORY = Directory({a.address: a for a in ACCOUNTS}, {TEAM.address: TEAM})


async def test_sender_account_suspended_refused_at_mail(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gateway = await gateway_factory(sink.port, directory=DIRECTORY)
    raw = load("sender.account", "suspended")
    code, text = await send(gateway.port, "investigada@gto.gob.mx", ["luis@gto.gob.mx"], raw)
    assert code == 550 and text.startswith("5.7.1 Remitente rechazado por la regla sender.account")
    assert "cuenta suspendida" in text
    code, text = await send(gateway.port, "becario@gto.gob.mx", ["luis@gto.gob.mx"], raw)
    assert code == 550 and "vencida" in text
    code, text = await send(gateway.port, "nadie@gto.gob.mx", ["luis@gto.gob.mx"], raw)
    assert code == 550 and "cuenta desconocida" in text
    assert sink.handler.received == []


async def test_sender_external_refuses_only_the_internet_recipient(
    gateway_factory: GatewayFactory, sink: Sink
) -> None:
    gateway = await gateway_factory(sink.port, directory=DIRECTORY)
    raw = load("sender.external", "not-authorised-to-internet")
    code, _ = await send(gateway.port, "capturista@gto.gob.mx", ["contacto@empresa.com.mx"], raw)
    assert code == 550
    code, _ = await send(
        gateway.port,
        "capturista@gto.gob.mx",
        ["luis@gto.gob.mx"],
        load("sender.external", "not-authorised-internal"),
    )
    assert code == 250
    assert [r.rcpt_tos for r in sink.handler.received] == [["luis@gto.gob.mx"]]


async def test_sender_domain_refuses_impersonation(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gateway = await gateway_factory(sink.port, directory=DIRECTORY)
    raw = load("sender.domain", "display-unquoted-address")
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], raw)
    assert code == 550 and text.startswith("5.7.1 Mensaje rechazado por la regla sender.domain")
    raw = load("sender.domain", "display-impersonates-colleague")
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], raw)
    assert code == 550 and "director@gto.gob.mx" in text
    assert sink.handler.received == []


async def test_rcpt_visible_tags_and_advises(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gateway = await gateway_factory(sink.port, directory=DIRECTORY)
    raw = load("rcpt.visible", "six-in-to")
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], raw)
    assert code == 250 and "Aviso rcpt.visible (001 VI): con más de 5 destinatarios use el campo CCO" in text
    assert sink.handler.received[0].data == b"X-Compuerta-Rules: rcpt.visible\r\n" + raw


async def test_rate_messages_refused_at_mail(gateway_factory: GatewayFactory, sink: Sink) -> None:
    overrides = {"profile": {"rate.messages": {"max_per_minute": 3}}}
    gateway = await gateway_factory(sink.port, overrides, directory=DIRECTORY)
    raw = load("rate.messages", "one-recipient")
    codes = [(await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], raw))[0] for _ in range(4)]
    assert codes == [250, 250, 250, 451]
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], raw)
    assert code == 451 and text.startswith("4.7.1 Límite de envío alcanzado, regla rate.messages")
    assert len(sink.handler.received) == 3


async def test_concurrent_messages_consume_exactly_the_limit(
    gateway_factory: GatewayFactory, sink: Sink
) -> None:
    # All ten pass the MAIL-time snapshot at once; the atomic consume at acceptance lets 5 through
    overrides = {"profile": {"rate.messages": {"max_per_minute": 5}}}
    gateway = await gateway_factory(sink.port, overrides, directory=DIRECTORY)
    raw = load("rate.messages", "one-recipient")
    results = await asyncio.gather(
        *(send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], raw) for _ in range(10))
    )
    assert sorted(code for code, _ in results) == [250] * 5 + [451] * 5
    assert len(sink.handler.received) == 5


async def test_rate_recipients_counts_list_members_and_not_refused_mail(
    gateway_factory: GatewayFactory, sink: Sink
) -> None:
    overrides = {"profile": {"rate.recipients": {"max_per_day": 6}}}
    gateway = await gateway_factory(sink.port, overrides, directory=DIRECTORY)
    raw = load("rate.recipients", "list-and-member")
    # equipo@ has 4 people, luis among them: 4 recipients, not 5
    code, _ = await send(gateway.port, "ana@gto.gob.mx", ["equipo@gto.gob.mx", "luis@gto.gob.mx"], raw)
    assert code == 250
    code, text = await send(
        gateway.port, "ana@gto.gob.mx", ["a@gto.gob.mx", "b@gto.gob.mx", "c@gto.gob.mx"], raw
    )
    assert code == 451 and "usó 4 de 6 destinatarios en las últimas 24 h, este mensaje suma 3" in text
    # the refused message consumed nothing: two more still fit
    code, _ = await send(gateway.port, "ana@gto.gob.mx", ["a@gto.gob.mx", "b@gto.gob.mx"], raw)
    assert code == 250
    usage = await gateway.store.usage("ana@gto.gob.mx", gateway.services.env.clock.now())
    assert usage.recipients_last_day == 6


async def test_rate_abuse_suspends_and_notifies(gateway_factory: GatewayFactory, sink: Sink) -> None:
    overrides = {"profile": {"rate.messages": {"max_per_minute": 1},
                             "rate.abuse": {"hits_per_hour": 2, "notify": ["soporte@gto.gob.mx"]}}}  # fmt: skip
    gateway = await gateway_factory(sink.port, overrides, directory=DIRECTORY)
    raw = load("rate.abuse", "ordinary")
    codes = [(await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], raw))[0] for _ in range(4)]
    assert codes == [250, 451, 451, 550]  # two hits, then suspended
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], raw)
    assert code == 550 and text.startswith("5.7.1 Cuenta suspendida por la regla rate.abuse")
    _delivered, notice = sink.handler.received
    assert notice.rcpt_tos == ["soporte@gto.gob.mx"] and notice.mail_from == "postmaster@gto.gob.mx"
    assert "La cuenta ana@gto.gob.mx fue suspendida" in notice.data.decode()
    # Another sender is not affected
    code, _ = await send(
        gateway.port, "luis@gto.gob.mx", ["ana@gto.gob.mx"], message(sender="luis@gto.gob.mx")
    )
    assert code == 250


async def test_unlimited_sender_still_refused_once_suspended(
    gateway_factory: GatewayFactory, sink: Sink
) -> None:
    # limits of 0 are counted, not read; the suspension is still read at MAIL (gateway.pipeline.windows)
    overrides = {"profile": {"rate.messages": {"max_per_minute": 0}, "rate.recipients": {"max_per_day": 0}}}
    gateway = await gateway_factory(sink.port, overrides, directory=DIRECTORY)
    raw = load("rate.abuse", "ordinary")
    for _ in range(40):
        assert (await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], raw))[0] == 250
    await gateway.store.suspend("ana@gto.gob.mx", "10 hits", gateway.services.env.clock.now())
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], raw)
    assert code == 550 and text.startswith("5.7.1 Cuenta suspendida por la regla rate.abuse")
    usage = await gateway.store.usage("ana@gto.gob.mx", gateway.services.env.clock.now())
    assert usage.messages_last_minute == 40 and usage.recipients_last_day == 40  # still counted


async def test_sender_suspended_after_mail_is_refused_at_data(
    gateway_factory: GatewayFactory, sink: Sink
) -> None:
    # MAIL read the usage snapshot before another session got the sender suspended: the atomic
    # consume at acceptance still refuses, and nothing reaches upstream
    gateway = await gateway_factory(sink.port, directory=DIRECTORY)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gateway.port)
    await client.connect()
    await client.mail("ana@gto.gob.mx")
    await client.rcpt("luis@gto.gob.mx")
    await gateway.store.suspend("ana@gto.gob.mx", "10 hits", gateway.services.env.clock.now())
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await client.data(load("rate.abuse", "ordinary"))
    assert refused.value.code == 550 and "rate.abuse" in refused.value.message
    await client.quit()
    assert sink.handler.received == []


async def test_chain_letter_held_with_ticket(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gateway = await gateway_factory(sink.port, directory=DIRECTORY)
    raw = load("content.chain", "chain-es-oracion-san-judas")
    code, text = await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], raw)
    assert code == 250 and "folio C-" in text
    ticket = text.split("folio ")[1].split(";")[0].split()[0]
    held = await gateway.store.held(ticket)
    assert held is not None and [v.rule for v in held.reasons] == ["content.chain"]
    # held mail is not sent and does not consume the sender's allowance until released (001 VI)
    assert [r.rcpt_tos for r in sink.handler.received] == [["ana@gto.gob.mx"]]  # only the notice
    usage = await gateway.store.usage("ana@gto.gob.mx", gateway.services.env.clock.now())
    assert usage.recipients_last_day == 0
    ordinary = load("content.chain", "ok-es-circular-personal")
    assert (await send(gateway.port, "ana@gto.gob.mx", ["luis@gto.gob.mx"], ordinary))[0] == 250
