"""The directory: files imported (CSV and TOML), retired addresses never reused, live reload,
the inactive-accounts report; over real SQLite files and the real `compuerta` process."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from gateway import reload
from gateway.directory import LiveDirectory
from gateway.directory_file import DirectoryFileError, parse_csv, parse_toml
from gateway.model import Account, AccountState
from gateway.store import Change, DirectoryData, RetiredAddress, open_store
from tests.conftest import GatewayFactory, Sink, load, send

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TOML = """
[[dependency]]
code = "SFIA"
name = "Secretaría de Finanzas, Inversión y Administración"

[[account]]
address = "Ana@gto.gob.mx"
dependency = "SFIA"

[[account]]
address = "becario@gto.gob.mx"
state = "temporal"
expires = 2026-12-31
internet = false

[[account]]
address = "renuncia@gto.gob.mx"
state = "baja"
baja = 2026-11-20

[[list]]
address = "todos@gto.gob.mx"
members = ["ana@gto.gob.mx", "becario@gto.gob.mx"]
all_staff = true

[[peer]]
domain = "cofoce.gob.mx"
administrators = ["admin@cofoce.gob.mx"]
name = "COFOCE"

[[retired]]
address = "jubilado@gto.gob.mx"
"""
CSV = (
    "address,name,dependency,state,expires,internet\n"
    "luis@gto.gob.mx,Luis Pérez,SEG,activa,,sí\n"
    "capturista@gto.gob.mx,,SEG,active,,no\n"
)


def compuerta(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


def test_toml_file_parsed() -> None:
    data = parse_toml(TOML)
    assert data.accounts[0] == Account("ana@gto.gob.mx", "SFIA")
    assert data.accounts[1] == Account(
        "becario@gto.gob.mx", "", AccountState.TEMPORARY, date(2026, 12, 31), internet=False
    )
    # 000 norma 8: 15 days of grace after the baja
    assert data.accounts[2].state == AccountState.GRACE and data.accounts[2].expires == date(2026, 12, 5)
    assert data.lists[0].all_staff and data.lists[0].members == ("ana@gto.gob.mx", "becario@gto.gob.mx")
    assert data.peers[0].administrators == ("admin@cofoce.gob.mx",)
    assert data.retired == ("jubilado@gto.gob.mx",)


def test_csv_file_parsed() -> None:
    data = parse_csv(CSV)
    assert [(a.address, a.state, a.internet, a.name) for a in data.accounts] == [
        ("luis@gto.gob.mx", AccountState.ACTIVE, True, "Luis Pérez"),
        ("capturista@gto.gob.mx", AccountState.ACTIVE, False, ""),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("address,colour\nana@gto.gob.mx,red\n", "<csv> line 2: colour = 'red': a known account key"),
        ("address,state\nana@gto.gob.mx,vacaciones\n", "<csv> line 2: state = 'vacaciones': one of active"),
        ("address,state\nana@gto.gob.mx,temporal\n", "<csv> line 2: expires = '': a date"),
        ("address\nana@@gto.gob.mx\n", "<csv> line 2: address = 'ana@@gto.gob.mx': an e-mail address"),
        ("address,internet\nana@gto.gob.mx,quizá\n", "<csv> line 2: internet = 'quizá': yes or no"),
        ("address\nana@gto.gob.mx\nANA@gto.gob.mx\n", "ana@gto.gob.mx: listed twice"),
    ],
)
def test_bad_rows_named(text: str, message: str) -> None:
    with pytest.raises(DirectoryFileError) as error:
        parse_csv(text)
    assert str(error.value).startswith(message)


async def test_retired_address_never_reassigned(store_url: str) -> None:
    store = await open_store(store_url)
    change = Change("root", "directory.import", "test")
    assert await store.write_directory(parse_toml(TOML), change, NOW) == 1
    with pytest.raises(RetiredAddress) as error:
        await store.write_directory(DirectoryData((Account("JUBILADO@gto.gob.mx"),)), change, NOW)
    assert error.value.addresses == ("jubilado@gto.gob.mx",)
    # Retiring an existing account removes it; asking for it again is refused too
    await store.write_directory(DirectoryData(retired=("ana@gto.gob.mx",)), change, NOW)
    with pytest.raises(RetiredAddress):
        await store.write_directory(DirectoryData((Account("ana@gto.gob.mx"),)), change, NOW)
    directory = await store.directory()
    assert directory.version == 2 and "ana@gto.gob.mx" not in directory.accounts
    assert [e.action for e in await store.audit_entries()] == ["directory.import"] * 2
    await store.close()


async def test_inactive_accounts_report(store_url: str) -> None:
    store = await open_store(store_url)
    await store.write_directory(parse_toml(TOML), Change("root", "directory.import", "t"), NOW)
    await store.touch("ana@gto.gob.mx", NOW - timedelta(days=10))
    await store.touch("becario@gto.gob.mx", NOW - timedelta(days=200))
    found = await store.inactive(NOW - timedelta(days=120))
    assert [(i.address, i.last_activity) for i in found] == [
        ("renuncia@gto.gob.mx", None),
        ("becario@gto.gob.mx", NOW - timedelta(days=200)),
    ]
    await store.close()


async def test_running_gateway_reloads_directory(gateway_factory: GatewayFactory, sink: Sink) -> None:
    gateway = await gateway_factory(sink.port, live=True)
    live = gateway.services.env.directories
    assert isinstance(live, LiveDirectory)
    raw = load("sender.account", "suspended")
    # The directory knows nobody yet: sender.account has no opinion
    code, _ = await send(gateway.port, "investigada@gto.gob.mx", ["luis@gto.gob.mx"], raw)
    assert code == 250
    accounts = (Account("investigada@gto.gob.mx", state=AccountState.SUSPENDED), Account("luis@gto.gob.mx"))
    await gateway.store.write_directory(DirectoryData(accounts), Change("root", "directory.set", "x"), NOW)
    # What the watcher task and SIGHUP call: reads the whole directory once its version moved
    assert await live.reload() is True and await live.reload() is False
    code, text = await send(gateway.port, "investigada@gto.gob.mx", ["luis@gto.gob.mx"], raw)
    assert code == 550 and "sender.account" in text


def test_cli_import_list_set_retire_inactive(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n[organization]\nhome_domains = ["gto.gob.mx"]\n'
    )
    (tmp_path / "d.toml").write_text(TOML)
    (tmp_path / "d.csv").write_text(CSV)
    result = compuerta("directory", "import", str(tmp_path / "d.toml"), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "d.toml: 3 cuentas, 1 listas, 1 dependencias, 1 dominios, 1 bajas" in result.stdout
    assert compuerta("directory", "import", str(tmp_path / "d.csv"), "--config", str(config)).returncode == 0
    result = compuerta("directory", "set", "luis@gto.gob.mx", "--state", "suspended", "--config", str(config))
    assert result.returncode == 0, result.stderr
    listed = json.loads(compuerta("directory", "list", "--json", "--config", str(config)).stdout)
    assert {a["address"]: a["state"] for a in listed}["luis@gto.gob.mx"] == "suspended"
    assert {a["address"]: a["name"] for a in listed}["luis@gto.gob.mx"] == "Luis Pérez"  # kept
    assert compuerta("directory", "retire", "luis@gto.gob.mx", "--config", str(config)).returncode == 0
    again = compuerta("directory", "import", str(tmp_path / "d.csv"), "--config", str(config))
    assert again.returncode == 2 and "luis@gto.gob.mx" in again.stderr and "000 norma 22" in again.stderr
    peers = compuerta("directory", "list", "peers", "--config", str(config))
    assert "cofoce.gob.mx" in peers.stdout and "admin@cofoce.gob.mx" in peers.stdout
    report = compuerta("directory", "inactive", "--days", "120", "--config", str(config))
    assert report.returncode == 0 and "cuentas sin correo enviado en 120 días" in report.stdout
    assert "ana@gto.gob.mx  última actividad / last activity: nunca / never" in report.stdout


async def test_sighup_rereads_the_directory(
    gateway_factory: GatewayFactory, sink: Sink, tmp_path: Path
) -> None:
    gateway = await gateway_factory(sink.port, live=True)
    path = tmp_path / "compuerta.toml"
    path.write_text('[organization]\nhome_domains = ["gto.gob.mx"]\n')
    env = gateway.services.env
    gateway.services.env = dataclasses.replace(env, config=dataclasses.replace(env.config, source=str(path)))
    accounts = (Account("baja@gto.gob.mx", state=AccountState.DISABLED), Account("luis@gto.gob.mx"))
    await gateway.store.write_directory(DirectoryData(accounts), Change("root", "directory.set", "x"), NOW)
    assert await reload.reload(gateway.services, gateway.handler, str(path)) is True
    code, text = await send(
        gateway.port, "baja@gto.gob.mx", ["luis@gto.gob.mx"], load("sender.account", "disabled")
    )
    assert code == 550 and "cuenta deshabilitada" in text


def test_check_prints_rule_norm_and_reply_for_tags_and_holds(tmp_path: Path) -> None:
    eml = tmp_path / "m.eml"
    eml.write_bytes(load("content.chain", "chain-es-amigas").replace(b"To: luis@gto.gob.mx", b"To: " + b", ".join(
        f"p{i}@gto.gob.mx".encode() for i in range(7))))  # fmt: skip
    result = compuerta("check", str(eml), "--json")
    out = json.loads(result.stdout)
    assert out["action"] == "hold" and out["rules"] == ["content.chain", "rcpt.visible"]
    chain, visible = out["verdicts"]
    assert chain["norm"] == "000 norma 10; 001 VI" and chain["reply"].startswith("250 2.6.0 Mensaje retenido")
    assert visible["norm"] == "001 VI" and "Aviso rcpt.visible (001 VI)" in visible["reply"]
