"""Read a directory file (CSV or TOML) into DirectoryData for `compuerta directory import`.

Trusts nothing in the file: every row and key is checked, and an error names the row, the key,
the value and what is allowed. Pure apart from reading the file; hands DirectoryData to the
store, which refuses retired addresses (000 norma 22) in the same transaction as the write.

TOML: arrays of tables ``[[account]]``, ``[[list]]``, ``[[dependency]]``, ``[[peer]]`` and
``[[retired]]``. CSV: a header row; with a ``kind`` column each row says what it is (account,
list, dependency, peer, retired), without one every row is an account. Lists of addresses
(members, administrators) are separated by spaces or ";" in CSV.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from pathlib import Path

from gateway.model import Account, AccountState, Dependency, DistributionList, PeerDomain
from gateway.store.directory import DirectoryData

GRACE_DAYS = 15  # 000 norma 8: the account stays usable 15 days after the baja
_ADDRESS = re.compile(r"[^@\s<>\"(),;:\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")
# Spanish words the account offices use (004 PSDT-08: alta, baja) next to the English states
STATES = {
    **{s.value: s for s in AccountState},
    "activa": AccountState.ACTIVE, "suspendida": AccountState.SUSPENDED,
    "deshabilitada": AccountState.DISABLED, "inhabilitada": AccountState.DISABLED,
    "temporal": AccountState.TEMPORARY, "baja": AccountState.GRACE,
}  # fmt: skip
_TRUE = {"true", "yes", "si", "sí", "1", "y", "s"}
_FALSE = {"false", "no", "0", "n", ""}
FIELDS = {
    "account": (
        "address",
        "dependency",
        "state",
        "expires",
        "baja",
        "internet",
        "mass_mailing",
        "name",
        "send_as",
    ),
    "list": ("address", "members", "all_staff", "dependency"),
    "dependency": ("code", "name"),
    "peer": ("domain", "administrators", "name"),
    "retired": ("address",),
}


class DirectoryFileError(Exception):
    """A bad directory file: names the row, the key, the value and what is allowed."""


Row = Mapping[str, object]


def _fail(where: str, key: str, value: object, allowed: str) -> DirectoryFileError:
    return DirectoryFileError(f"{where}: {key} = {value!r}: {allowed}")


def _text(row: Row, key: str, where: str) -> str:
    value = row.get(key, "")
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        raise _fail(where, key, value, "text")
    return value.strip()


def address(value: str, where: str, key: str = "address") -> str:
    if not _ADDRESS.fullmatch(value):
        raise _fail(where, key, value, "an e-mail address like ana@gto.gob.mx")
    return value.lower()


def _addresses(row: Row, key: str, where: str) -> tuple[str, ...]:
    value = row.get(key, ())
    items = value if isinstance(value, list) else re.split(r"[\s;]+", _text(row, key, where))
    return tuple(address(str(item).strip(), where, key) for item in items if str(item).strip())


def flag(row: Row, key: str, where: str, default: bool) -> bool:
    value = row.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    word = _text(row, key, where).casefold()
    if word in _TRUE | _FALSE:
        return word in _TRUE
    raise _fail(where, key, value, "yes or no (sí/no, true/false, 1/0)")


def day(row: Row, key: str, where: str) -> date | None:
    text = _text(row, key, where)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _fail(where, key, text, "a date YYYY-MM-DD") from None


def state(text: str, where: str) -> AccountState:
    found = STATES.get(text.casefold() or "active")
    if found is None:
        raise _fail(where, "state", text, "one of " + ", ".join(STATES))
    return found


def account(row: Row, where: str) -> Account:
    kind = state(_text(row, "state", where), where)
    expires, baja = day(row, "expires", where), day(row, "baja", where)
    if kind == AccountState.GRACE and expires is None and baja is not None:
        expires = baja + timedelta(days=GRACE_DAYS)
    if kind in (AccountState.TEMPORARY, AccountState.GRACE) and expires is None:
        raise _fail(where, "expires", "", f"a date: a {kind.value} account needs its last day (or baja)")
    return Account(
        address(_text(row, "address", where), where), _text(row, "dependency", where), kind, expires,
        flag(row, "internet", where, True), flag(row, "mass_mailing", where, False), _text(row, "name", where),
        _addresses(row, "send_as", where),
    )  # fmt: skip


def _list(row: Row, where: str) -> DistributionList:
    return DistributionList(
        address(_text(row, "address", where), where), _addresses(row, "members", where),
        flag(row, "all_staff", where, False), _text(row, "dependency", where),
    )  # fmt: skip


def _peer(row: Row, where: str) -> PeerDomain:
    domain = _text(row, "domain", where).lower()
    if not _DOMAIN.fullmatch(domain):
        raise _fail(where, "domain", domain, "a domain like cofoce.gob.mx")
    admins = _addresses(row, "administrators", where)
    if not admins:
        raise _fail(where, "administrators", "", "at least one administrator's address")
    return PeerDomain(domain, admins, _text(row, "name", where))


def _dependency(row: Row, where: str) -> Dependency:
    code = _text(row, "code", where)
    if not code:
        raise _fail(where, "code", code, "a short code like SFIA")
    return Dependency(code, _text(row, "name", where))


_BUILD: dict[str, Callable[[Row, str], object]] = {
    "account": account, "list": _list, "dependency": _dependency, "peer": _peer,
    "retired": lambda row, where: address(_text(row, "address", where), where),
}  # fmt: skip


def _rows(pairs: list[tuple[str, Row, str]]) -> DirectoryData:
    found: dict[str, list[object]] = {kind: [] for kind in FIELDS}
    for kind, row, where in pairs:
        if kind not in FIELDS:
            raise _fail(where, "kind", kind, "one of " + ", ".join(FIELDS))
        unknown = sorted(k for k in row if k not in (*FIELDS[kind], "kind") and row[k] not in ("", None))
        if unknown:
            raise _fail(where, unknown[0], row[unknown[0]], f"a known {kind} key: " + ", ".join(FIELDS[kind]))
        found[kind].append(_BUILD[kind](row, where))
    data = DirectoryData(
        tuple(found["account"]), tuple(found["list"]), tuple(found["dependency"]),  # type: ignore[arg-type]
        tuple(found["peer"]), tuple(found["retired"]),  # type: ignore[arg-type]
    )  # fmt: skip
    _unique(data)
    return data


def _unique(data: DirectoryData) -> None:
    seen: set[str] = set()
    for item in (*(a.address for a in data.accounts), *(g.address for g in data.lists)):
        if item in seen:
            raise DirectoryFileError(f"{item}: listed twice (an account or list appears once)")
        seen.add(item)


def parse_toml(text: str, name: str = "<toml>") -> DirectoryData:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DirectoryFileError(f"{name}: not valid TOML ({error})") from error
    pairs: list[tuple[str, Row, str]] = []
    for kind, rows in document.items():
        if kind not in FIELDS or not isinstance(rows, list):
            raise _fail(name, kind, "...", "arrays of tables: " + ", ".join(f"[[{k}]]" for k in FIELDS))
        pairs += [(kind, row, f"{name} [[{kind}]] #{n}") for n, row in enumerate(rows, 1)]
    return _rows(pairs)


def parse_csv(text: str, name: str = "<csv>") -> DirectoryData:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # spreadsheets write a BOM
    headers = [h.strip().lower() for h in reader.fieldnames or ()]
    if "address" not in headers and "domain" not in headers and "code" not in headers:
        raise DirectoryFileError(f"{name}: the first row must name the columns (address, state, ...)")
    pairs: list[tuple[str, Row, str]] = []
    for number, raw in enumerate(reader, 2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        kind = str(row.get("kind", "") or "account").lower()
        pairs.append((kind, row, f"{name} line {number}"))
    return _rows(pairs)


def read(path: Path) -> DirectoryData:
    """Parse ``path`` by its extension (.toml, or .csv/.txt)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DirectoryFileError(f"{path}: cannot read it as UTF-8 text ({error})") from error
    if path.suffix.lower() == ".toml":
        return parse_toml(text, path.name)
    return parse_csv(text, path.name)
