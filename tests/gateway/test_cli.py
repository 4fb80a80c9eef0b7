"""The `compuerta` command as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from gateway.model import Account, AccountState
from gateway.store import Change, DirectoryData, open_store
from tests.conftest import FixedClock, message
from tests.gateway.test_smtp import with_attachment


def compuerta(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        input=stdin.decode() if stdin else None, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_config_check_names_the_bad_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[upstream]\naddress = "localhost"\n')
    result = compuerta("config", "check", str(bad))
    assert result.returncode == 2
    assert "upstream.address = 'localhost'" in result.stderr
    assert "host:port" in result.stderr


def test_config_check_unknown_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[profile."size.max"]\nmax_megabytes = 10\n')
    result = compuerta("config", "check", str(bad))
    assert result.returncode == 2
    assert "profile.size.max.max_megabytes" in result.stderr and "max_bytes" in result.stderr


def test_config_check_accepts_example(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        '[smtp]\nlisten = "127.0.0.1:10024"\ntrusted_networks = ["127.0.0.0/8", "10.0.0.0/8"]\n'
        '[upstream]\naddress = "127.0.0.1:10025"\n[web]\nlisten = "127.0.0.1:8024"\n'
        '[store]\nurl = "sqlite:///var/compuerta.db"\n'
        '[organization]\nhome_domains = ["guanajuato.gob.mx"]\n'
        '[profiles."seg.gob.mx"."size.max"]\nmax_bytes = 10485760\n'
    )
    result = compuerta("config", "check", str(good))
    assert result.returncode == 0, result.stderr
    assert "seg.gob.mx" in result.stdout


def test_check_json_for_exe(tmp_path: Path) -> None:
    eml = tmp_path / "m.eml"
    eml.write_bytes(with_attachment("Factura.EXE"))
    result = compuerta("check", str(eml), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["action"] == "reject"
    assert out["rules"] == ["attach.dangerous"]
    assert out["reply"].startswith("550 5.7.1 Mensaje rechazado por la regla attach.dangerous")
    assert out["verdicts"][0]["norm"] == "000 norma 18"


def test_check_json_clean(tmp_path: Path) -> None:
    eml = tmp_path / "m.eml"
    eml.write_bytes(message().replace(b"\r\n", b"\n"))
    result = compuerta("check", str(eml), "--json", "--from", "ana@gto.gob.mx", "--to", "luis@gto.gob.mx")
    out = json.loads(result.stdout)
    assert (out["action"], out["rules"], out["to"]) == ("accept", [], ["luis@gto.gob.mx"])
    assert out["reply"].startswith("250 ")


async def test_check_judges_with_the_stores_directory(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n[organization]\nhome_domains = ["gto.gob.mx"]\n'
    )
    store = await open_store(f"sqlite:///{tmp_path / 's.db'}")
    disabled = Account("baja@gto.gob.mx", state=AccountState.DISABLED)
    await store.write_directory(
        DirectoryData((disabled,)), Change("t", "directory.set", "baja"), FixedClock().now()
    )
    await store.close()
    eml = tmp_path / "m.eml"
    eml.write_bytes(message())
    sender = ("--from", "baja@gto.gob.mx", "--to", "luis@gto.gob.mx", "--config", str(cfg), "--json")
    judged = json.loads((await asyncio.to_thread(compuerta, "check", str(eml), *sender)).stdout)
    blind = json.loads(
        (await asyncio.to_thread(compuerta, "check", str(eml), *sender, "--no-directory")).stdout
    )
    assert (judged["action"], judged["rules"], judged["directory"]) == (
        "reject",
        ["sender.account"],
        "store, version 1",
    )
    assert (blind["action"], blind["directory"]) == ("accept", "")


def test_check_never_creates_a_store(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n')
    eml = tmp_path / "m.eml"
    eml.write_bytes(message())
    result = compuerta("check", str(eml), "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "directory: ninguno / none" in result.stdout
    assert not (tmp_path / "s.db").exists()


def test_db_migrate_reports_version(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n')
    result = compuerta("db", "migrate", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "schema version" in result.stdout and (tmp_path / "s.db").exists()
