"""SIGHUP reloads the configuration of a running `compuerta serve` without dropping sessions.

A real process with a real file: an SMTP session opened before the signal finishes after it;
sessions opened after it get the new policy; a bad file is refused, logged and counted, and
the running configuration stays.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Callable

from tests.conftest import Sink, message, send
from tests.integration.compuerta import Compuerta, sample

ONE_RECIPIENT = '[profile."rcpt.max"]\nmax_recipients = 1\n'
BAD = '[profile."rcpt.max"]\nmax_recipients = "uno"\n'
RCPTS = ["luis@gto.gob.mx", "eva@gto.gob.mx"]


def _open_session(port: int) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", port, timeout=30)
    client.ehlo("client.test")
    assert client.mail("ana@gto.gob.mx")[0] == 250
    for rcpt in RCPTS:
        assert client.rcpt(rcpt)[0] == 250
    return client


def _finish(client: smtplib.SMTP) -> tuple[int, bytes]:
    with client:
        return client.data(message(subject="Sesion abierta"))


async def test_sighup_applies_new_policy_and_keeps_open_sessions(
    sink: Sink, compuerta: Callable[[int], Compuerta]
) -> None:
    gateway = compuerta(sink.port)
    await asyncio.to_thread(gateway.start)
    assert (await send(gateway.smtp_port, "ana@gto.gob.mx", RCPTS, message()))[0] == 250
    session = await asyncio.to_thread(_open_session, gateway.smtp_port)

    gateway.write_config(ONE_RECIPIENT)
    gateway.hangup()
    await asyncio.to_thread(gateway.wait_log, "configuration reloaded")

    code, _ = await asyncio.to_thread(_finish, session)
    assert code == 250  # the session from before the reload was not dropped
    assert len(sink.handler.received) == 2
    code, text = await send(gateway.smtp_port, "ana@gto.gob.mx", RCPTS, message())
    assert code in (452, 550) and "rcpt.max" in text  # new sessions run the new policy


async def test_sighup_with_a_bad_file_keeps_the_running_configuration(
    sink: Sink, compuerta: Callable[[int], Compuerta]
) -> None:
    gateway = compuerta(sink.port)
    gateway.write_config(ONE_RECIPIENT)
    await asyncio.to_thread(gateway.start)

    gateway.write_config(BAD)
    gateway.hangup()
    await asyncio.to_thread(gateway.wait_log, "reload refused")
    assert "profile.rcpt.max.max_recipients = 'uno'" in gateway.log()

    assert gateway.process is not None and gateway.process.poll() is None
    code, text = await send(gateway.smtp_port, "ana@gto.gob.mx", RCPTS, message())
    assert code in (452, 550) and "rcpt.max" in text  # still the policy it started with
    assert (await send(gateway.smtp_port, "ana@gto.gob.mx", RCPTS[:1], message()))[0] == 250

    families = await asyncio.to_thread(gateway.scrape)
    assert sample(families, "compuerta_config_reloads_total", result="refused") == 1
    assert sample(families, "compuerta_config_reloads_total", result="ok") == 0
    assert await asyncio.to_thread(gateway.stop) == 0
