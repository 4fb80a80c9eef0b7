"""Acceptance (issue 10): a real Postfix with smtpd_milters pointing at a real compuerta process.

Configured with the shipped deploy/postfix/milter snippets. Mail goes into Postfix; compuerta
answers inside Postfix's SMTP session. Checked: clean mail is delivered; an .exe gets
compuerta's 550 in the client's own session; a masivo is held in compuerta (ticket, notice to
the sender) and discarded from Postfix's queue; a SASL-authenticated user sending as someone
else is refused at MAIL (Cyrus SASL with a sasldb inside the instance); compuerta stopped
gives the client a 4xx.
"""

from __future__ import annotations

import asyncio
import shutil
import smtplib
import subprocess
import sys
from collections.abc import Callable

from tests.conftest import Received, Sink, message, send
from tests.gateway.test_smtp import with_attachment
from tests.integration.compuerta import ROOT, Compuerta
from tests.integration.postfix import DEPLOY, Postfix, free_port, require_postfix

SENDER = "ana@gto.gob.mx"
PASSWORD = "Clave-de-prueba-1"
RCPT = "luis@gto.gob.mx"
MILTER = "inet:127.0.0.1:10026"
REINJECT = "127.0.0.1:10025"

SASL = """
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {config}/sasl
smtpd_sasl_security_options = noanonymous
"""
SMTPD_CONF = "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: {db}\n"


async def until(condition: Callable[[], bool], what: str, diagnostics: Callable[[], str]) -> None:
    """Wait for an event (a delivery, a log line) without assuming how long it takes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}{diagnostics()}")
        await asyncio.sleep(0.05)


def snippets(milter_port: int, reinject_port: int) -> tuple[str, str]:
    """deploy/postfix/milter as shipped, with the test's ports in place of 10026 and 10025."""
    main = (DEPLOY / "milter" / "main.cf").read_text()
    master = (DEPLOY / "milter" / "master.cf").read_text()
    assert MILTER in main and REINJECT in master, "the shipped snippets changed their addresses"
    return (main.replace(MILTER, f"inet:127.0.0.1:{milter_port}"),
            master.replace(REINJECT, f"127.0.0.1:{reinject_port}"))  # fmt: skip


def add_sasl_user(instance: Postfix) -> None:
    """A sasldb inside the instance with one user, ana@gto.gob.mx (after ``configure``)."""
    saslpasswd = shutil.which("saslpasswd2", path="/usr/sbin:/usr/bin")
    assert saslpasswd, "saslpasswd2 is missing (scripts/setup --test installs sasl2-bin)"
    db = instance.root / "sasldb2"
    user, _, realm = SENDER.partition("@")
    subprocess.run([saslpasswd, "-p", "-c", "-f", str(db), "-u", realm, user],
                   input=PASSWORD, text=True, check=True, timeout=30)  # fmt: skip
    shutil.chown(db, "postfix")
    # Debian's Postfix reads $config_directory/sasl/smtpd.conf whatever cyrus_sasl_config_path
    # says; smtpd reads it as mail_owner.
    folder = instance.config / "sasl"
    folder.mkdir(mode=0o755)
    (folder / "smtpd.conf").write_text(SMTPD_CONF.format(db=db))
    (folder / "smtpd.conf").chmod(0o644)


async def milter_mode(sink: Sink, postfix: Callable[[], Postfix],
                      compuerta: Callable[[int], Compuerta]) -> tuple[Postfix, Compuerta]:  # fmt: skip
    require_postfix()
    instance = postfix()
    reinject, milter_port = free_port(), free_port()
    gateway = compuerta(reinject)  # compuerta's own mail (notices) re-enters Postfix there
    gateway.write_config(f'[milter]\nlisten = "inet:127.0.0.1:{milter_port}"\n')
    main, master = snippets(milter_port, reinject)
    instance.configure(sink.port, main + SASL.format(config=instance.config), master)
    add_sasl_user(instance)
    await asyncio.to_thread(gateway.start)
    await asyncio.to_thread(instance.launch)
    return instance, gateway


def _submit_as(port: int, login: str, sender: str, data: bytes) -> tuple[int, str]:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.ehlo("pc1.gto.gob.mx")
        client.login(login, PASSWORD)
        code, text = client.mail(sender)
        if code != 250:
            return code, text.decode()
        client.rcpt(RCPT)
        code, text = client.data(data)
        return code, text.decode()


def sendmail(instance: Postfix, data: bytes) -> None:
    """Submit as a local program does: Postfix's sendmail(1) with this instance's config."""
    binary = shutil.which("sendmail", path="/usr/sbin:/usr/lib") or "/usr/sbin/sendmail"
    subprocess.run([binary, "-C", str(instance.config), "-f", SENDER, "-i", RCPT],
                   input=data.replace(b"\r\n", b"\n"), check=True, timeout=60)  # fmt: skip


def bounces_to(sink: Sink, address: str, mentioning: bytes) -> list[Received]:
    # RFC 5321 §4.5.5: the null sender (compuerta's own notices use it too, hence ``mentioning``)
    return [r for r in addressed_to(sink, address) if r.mail_from in ("", "<>") and mentioning in r.data]


def addressed_to(sink: Sink, address: str) -> list[Received]:
    return [r for r in sink.handler.received if address in r.rcpt_tos]


async def test_postfix_with_compuerta_as_milter(
    sink: Sink, postfix: Callable[[], Postfix], compuerta: Callable[[int], Compuerta]
) -> None:
    instance, gateway = await milter_mode(sink, postfix, compuerta)

    def why() -> str:
        return instance.log() + gateway.log()

    # A clean mail is delivered, with nothing added.
    code, _ = await send(instance.port, SENDER, [RCPT], message(subject="Limpio"))
    assert code == 250, why()
    await until(lambda: bool(addressed_to(sink, RCPT)), "the clean mail at the sink", why)
    assert b"Subject: Limpio" in addressed_to(sink, RCPT)[0].data
    assert "action=accept" in gateway.log()

    # An .exe gets compuerta's 550 with its reason, in the client's own session.
    code, text = await send(instance.port, SENDER, [RCPT], with_attachment("Factura.exe"))
    assert code == 550, why()
    assert text.startswith("5.7.1 Mensaje rechazado por la regla attach.dangerous"), text
    assert "factura.exe" in text.lower() and "000 norma 18" in text

    # A masivo (own dependency and 25 outside, 50 recipients) is held, not delivered.
    rcpts = [f"p{i}@gto.gob.mx" for i in range(25)] + [f"x{i}@example.org" for i in range(25)]
    code, _ = await send(instance.port, SENDER, rcpts, message(subject="Convocatoria"))
    assert code == 250, why()  # Postfix's own 250 once compuerta committed the hold
    await until(lambda: "milter-discard" in instance.log(), "the discard in Postfix's log", why)
    await until(lambda: bool(addressed_to(sink, SENDER)), "the sender's notice", why)
    notice = addressed_to(sink, SENDER)[0].data.decode(errors="replace")
    assert "C-000001" in notice, notice
    assert not addressed_to(sink, "p0@gto.gob.mx") and not addressed_to(sink, "x0@example.org")
    assert await asyncio.to_thread(instance.queue) == [], "nothing left in Postfix's queue"
    held = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "gateway", "held", "list", "--config", str(gateway.config)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "C-000001" in held.stdout, held.stdout + held.stderr

    # SASL: ana may send as herself, not as the director (003 5.6.7), refused at MAIL.
    code, _ = await asyncio.to_thread(_submit_as, instance.port, SENDER, SENDER, message(subject="Propio"))
    assert code == 250, why()
    code, text = await asyncio.to_thread(
        _submit_as, instance.port, SENDER, "director@gto.gob.mx", message(sender="director@gto.gob.mx")
    )
    assert code == 550, why()
    assert text.startswith("5.7.1 Mensaje rechazado por la regla sender.login"), text
    assert "login=ana@gto.gob.mx" in gateway.log()

    # Local submission (sendmail(1), then pickup) passes the same policy: non_smtpd_milters.
    local = with_attachment("local.exe").replace(b"Subject: adjunto", b"Subject: Local")
    await asyncio.to_thread(sendmail, instance, local)
    await until(lambda: bool(bounces_to(sink, SENDER, b"local.exe")), "the bounce of the local .exe", why)
    assert (
        b"Mensaje rechazado por la regla attach.dangerous" in bounces_to(sink, SENDER, b"local.exe")[0].data
    )
    assert not [r for r in sink.handler.received if b"Subject: Local" in r.data and RCPT in r.rcpt_tos]

    # compuerta stopped: milter_default_action = tempfail, the client gets a 4xx and retries.
    assert await asyncio.to_thread(gateway.stop) == 0
    code, text = await send(instance.port, SENDER, [RCPT], message(subject="Despues"))
    assert 400 <= code < 500, (code, text, why())
