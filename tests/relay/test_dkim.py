"""DKIM: keys from `compuerta dkim keygen` sign mail that dkimpy verifies against the printed record."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway import notices
from gateway.cli import main
from gateway.config import ConfigError, build
from gateway.delivery import signer
from relay import dkim
from relay.transport import MemoryTransport

MESSAGE = (
    "From: Ana López <ana@gto.gob.mx>\r\nTo: todos@gto.gob.mx\r\nSubject: Aviso\r\n"
    "Message-ID: <m1@gto.gob.mx>\r\n\r\nCuerpo del aviso, con acentos: áéíóú.\r\n"
).encode()


def keygen(tmp_path: Path, capsys: pytest.CaptureFixture[str], algorithm: str) -> tuple[Path, str, str]:
    """Run the command; returns the key file, the record's DNS name and its TXT value."""
    code = main(
        ["dkim", "keygen", "gto.gob.mx", "s2026", "--algorithm", algorithm, "--directory", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert code == 0
    record = re.search(r"^(\S+)\. IN TXT \( (.*) \)$", out, re.MULTILINE)
    assert record is not None
    value = "".join(re.findall(r'"([^"]*)"', record.group(2)))
    return tmp_path / "gto.gob.mx.s2026.key", record.group(1), value


@pytest.mark.parametrize("algorithm", dkim.ALGORITHMS)
def test_signature_verifies_against_printed_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], algorithm: str
) -> None:
    key_file, name, value = keygen(tmp_path, capsys, algorithm)
    assert name == "s2026._domainkey.gto.gob.mx" and f"k={algorithm.split('-')[0]}" in value
    assert key_file.stat().st_mode & 0o077 == 0
    config = build({"dkim": {"gto.gob.mx": {"selector": "s2026", "key_file": str(key_file)}}})
    signed = signer(config).sign(MESSAGE)
    assert signed.endswith(MESSAGE) and signed.startswith(b"DKIM-Signature: v=1; a=" + algorithm.encode())

    def dns(query: str) -> bytes | None:
        return value.encode() if query == name else None

    assert dkim.verify(signed, dns)
    assert not dkim.verify(signed.replace(b"Cuerpo", b"Cuerpa"), dns)


def test_relayed_mail_is_signed_only_where_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_file, _, _ = keygen(tmp_path, capsys, dkim.ED25519)
    entry = {"selector": "s2026", "key_file": str(key_file)}
    assert signer(build({"dkim": {"gto.gob.mx": entry}})).sign_relayed(MESSAGE) == MESSAGE
    relayed = signer(build({"dkim": {"gto.gob.mx": {**entry, "relayed": True}}}))
    assert relayed.sign_relayed(MESSAGE).startswith(b"DKIM-Signature:")
    other = MESSAGE.replace(b"ana@gto.gob.mx", b"ana@otro.gob.mx")
    assert relayed.sign_relayed(other) == other and relayed.sign(other) == other


def test_bad_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"not a key\n")
    with pytest.raises(ConfigError, match="dkim.gto.gob.mx.key_file"):
        signer(build({"dkim": {"gto.gob.mx": {"selector": "s", "key_file": str(bad)}}}))
    with pytest.raises(ConfigError, match="dkim.gto.gob.mx.key_file"):
        build({"dkim": {"gto.gob.mx": {"selector": "s", "key_file": str(tmp_path / "missing")}}})


def test_keygen_never_overwrites_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keygen(tmp_path, capsys, dkim.ED25519)
    args = [
        "dkim",
        "keygen",
        "gto.gob.mx",
        "s2026",
        "--algorithm",
        "ed25519-sha256",
        "--directory",
        str(tmp_path),
    ]
    assert main(args) == 1


async def test_notices_are_signed_last(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_file, name, value = keygen(tmp_path, capsys, dkim.RSA)
    config = build({"dkim": {"gto.gob.mx": {"selector": "s2026", "key_file": str(key_file)}}})
    transport = MemoryTransport()
    notice = MESSAGE.replace(b"ana@gto.gob.mx", b"postmaster@gto.gob.mx")
    assert await notices.send(transport, ("ana@gto.gob.mx",), notice, signer(config))
    [(_, _, sent)] = transport.sent
    assert sent.endswith(notice) and dkim.verify(
        sent, lambda query: value.encode() if query == name else None
    )
