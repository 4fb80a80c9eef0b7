"""deploy/ stays true to the code: the example configuration documents every key and loads;
the Prometheus rules and the Grafana dashboard only name metrics that gateway.metrics exports."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from prometheus_client import REGISTRY

from gateway import metrics
from gateway.config import Config, DKIMDomain
from tests.conftest import require

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
EXAMPLE = DEPLOY / "compuerta.example.toml"
_HEADER = re.compile(r"^#?\s*\[([^\]]+)\]\s*$")
_KEY = re.compile(r"^#?\s*([a-z_]+) =")


def documented(text: str) -> set[str]:
    """Every "table.key" in the file, whether set or shown as a comment ("# key = ...")."""
    table, keys = "", set()
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            table = header.group(1).replace('"', "")
            continue
        key = _KEY.match(line)
        if key:
            keys.add(f"{table}.{key.group(1)}")
    return keys


def expected(value: object, prefix: str) -> set[str]:
    """Every key a Config file can set, as "table.key" (rule tables by rule id)."""
    keys: set[str] = set()
    for field in dataclasses.fields(value):  # type: ignore[arg-type]
        if field.name in ("source", "profiles", "dkim_keys"):  # dkim_keys: read from dkim.*.key_file
            continue
        if field.name == "dkim":  # a table per signing domain, shown for gto.gob.mx
            keys |= expected(DKIMDomain(), "dkim.gto.gob.mx.")
            continue
        current = getattr(value, field.name)
        if dataclasses.is_dataclass(current):
            # Profile fields hold rules' settings, named by rule id: attach_dangerous -> attach.dangerous
            name = field.name.replace("_", ".", 1) if prefix == "profile." else field.name
            keys |= expected(current, f"{prefix}{name}.")
        else:
            keys.add(prefix + field.name)
    return keys


def test_example_documents_every_key() -> None:
    keys = expected(Config(), "")
    missing = sorted(k for k in keys if k not in documented(EXAMPLE.read_text()))
    assert not missing, f"document these in deploy/compuerta.example.toml: {missing}"


def test_example_passes_config_check() -> None:
    result = subprocess.run([sys.executable, "-m", "gateway", "config", "check", str(EXAMPLE)],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "home domains: gto.gob.mx" in result.stdout


def exported() -> set[str]:
    """Every sample name gateway.metrics registers (counters' _total, histograms' _bucket...)."""
    assert metrics.MESSAGES is not None
    names: set[str] = set()
    for collector in list(REGISTRY._collector_to_names):
        for family in collector.collect():
            names |= {sample.name for sample in family.samples}
            if family.type == "histogram":
                names |= {family.name + suffix for suffix in ("_bucket", "_count", "_sum")}
            if family.type == "counter":
                names.add(family.name + "_total")
            if family.type == "gauge":
                names.add(family.name)
            if family.type == "info":
                names.add(family.name + "_info")
    return {name for name in names if name.startswith("compuerta_")}


def named(text: str) -> set[str]:
    return set(re.findall(r"compuerta_[a-z_]+[a-z]", text))


def test_alert_rules_and_dashboard_use_exported_metrics() -> None:
    known = exported()
    for path in (DEPLOY / "prometheus" / "alerts.yml", DEPLOY / "grafana" / "compuerta.json"):
        unknown = named(path.read_text()) - known
        assert not unknown, f"{path.name} names metrics compuerta does not export: {sorted(unknown)}"
    panels = json.loads((DEPLOY / "grafana" / "compuerta.json").read_text())["panels"]
    assert len(panels) >= 10


def test_every_metric_follows_the_naming_rules() -> None:
    for collector in list(REGISTRY._collector_to_names):
        for family in collector.collect():
            if not family.name.startswith("compuerta_"):
                continue
            assert family.type != "counter" or all(
                s.name.endswith(("_total", "_created")) for s in family.samples
            )
            labels = {key for sample in family.samples for key in sample.labels}
            assert not labels & {"sender", "recipient", "address", "from", "to", "message_id", "domain"}


def test_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        require("promtool", "scripts/setup --test installs Debian's prometheus")
    result = subprocess.run([promtool, "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 9 rules found" in result.stdout


def _require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        require(tool, f"Debian package {package}; scripts/setup --test")
    assert path is not None
    return path


def test_systemd_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    analyze = _require("systemd-analyze", "systemd")
    unit = (DEPLOY / "systemd" / "compuerta.service").read_text()
    # The unit names the installed program; point it at this checkout's for the check.
    program = Path(sys.executable).with_name("compuerta")
    (tmp_path / "compuerta.service").write_text(
        unit.replace("/opt/compuerta/.venv/bin/compuerta", str(program))
    )
    verify = subprocess.run([analyze, "verify", str(tmp_path / "compuerta.service")],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    security = subprocess.run([analyze, "security", "--offline=yes", str(tmp_path / "compuerta.service")],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    level = re.search(r"Overall exposure level for compuerta.service: ([0-9.]+)", security.stdout)
    assert level is not None, security.stdout + security.stderr
    assert float(level.group(1)) < 2.0  # systemd rates 0-10; below 2 is "OK"
