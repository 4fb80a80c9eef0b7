"""`compuerta users`, `held` and `audit` as an administrator runs them: real processes, one store."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from gateway.model import Action, Envelope, HeldMessage, Verdict
from gateway.store import open_store
from tests.conftest import Sink
from tests.gateway.test_cli import compuerta


def config_file(tmp_path: Path, sink: Sink) -> str:
    path = tmp_path / "c.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "c.db"}"\n[upstream]\naddress = "127.0.0.1:{sink.port}"\n'
        '[organization]\nhome_domains = ["gto.gob.mx"]\n'
    )
    return str(path)


async def hold_one(tmp_path: Path) -> str:
    store = await open_store(f"sqlite:///{tmp_path / 'c.db'}")
    reasons = (Verdict(Action.HOLD, "masivo", "all-staff list todos@gto.gob.mx"),)
    held = HeldMessage("M1", Envelope("ana@gto.gob.mx", ("todos@gto.gob.mx",)), b"Subject: Aviso\r\n\r\nHola\r\n",
                       reasons, datetime.now(UTC), "Aviso", required_roles=("dgtit",))  # fmt: skip
    stored = await store.hold(held)
    await store.close()
    return stored.ticket


async def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = await asyncio.to_thread(compuerta, *args, stdin=stdin)
    return result.returncode, result.stdout, result.stderr


async def test_users_held_and_audit_from_the_shell(tmp_path: Path, sink: Sink) -> None:
    config = config_file(tmp_path, sink)
    code, out, _ = await run(
        "users", "add", "lucia", "--role", "dgtit", "--config", config, stdin=b"una clave larga\n"
    )
    assert code == 0
    assert (
        await run("users", "add", "x", "--role", "jefa", "--config", config, stdin=b"otra clave larga\n")
    )[0] == 2
    await run("users", "add", "aud", "--role", "auditor", "--config", config, stdin=b"clave de auditor\n")
    ticket = await hold_one(tmp_path)
    code, out, _ = await run("held", "list", "--config", config)
    assert code == 0 and ticket in out and "ana@gto.gob.mx" in out
    code, out, _ = await run("held", "approve", ticket, "--as", "aud", "--config", config)
    assert code == 1 and "forbidden" in out
    code, out, _ = await run(
        "held", "approve", ticket, "--as", "lucia", "--reason", "ok", "--wait", "--config", config
    )
    assert code == 0 and "enviado" in out and "] 1/1 (100 %)" in out, out
    code, out, _ = await run("held", "show", ticket, "--config", config)
    assert "Entrega: 1 de 1 entregados" in out and "gto.gob.mx (dominio propio): 1/1 entregado" in out, out
    assert sink.handler.received[0].rcpt_tos == ["todos@gto.gob.mx"]
    code, out, _ = await run("audit", "verify", "--config", config)
    assert code == 0 and "íntegra" in out
    with sqlite3.connect(tmp_path / "c.db") as db:
        db.execute("UPDATE audit SET actor = 'otra' WHERE action = 'approve'")
    code, out, _ = await run("audit", "verify", "--config", config)
    assert code == 1 and "rota" in out
