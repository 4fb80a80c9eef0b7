"""What `compuerta directory list` and `directory inactive` print: text (Spanish first) or JSON.

Trusts the store's dataclasses; formatting only.
"""

from __future__ import annotations

import json

from gateway.model import Directory
from gateway.store import Inactive, Store

KINDS = ("accounts", "lists", "peers", "dependencies", "retired")


def _rows(directory: Directory, what: str) -> list[dict[str, object]]:
    if what == "accounts":
        return [
            {"address": a.address, "state": a.state.value, "expires": a.expires.isoformat() if a.expires else "",
             "internet": a.internet, "dependency": a.dependency, "mass_mailing": a.mass_mailing, "name": a.name,
             "send_as": list(a.send_as)}
            for a in sorted(directory.accounts.values(), key=lambda a: a.address)
        ]  # fmt: skip
    if what == "lists":
        return [
            {"address": g.address, "all_staff": g.all_staff, "dependency": g.dependency, "members": list(g.members)}
            for g in sorted(directory.lists.values(), key=lambda g: g.address)
        ]  # fmt: skip
    if what == "peers":
        return [{"domain": p.domain, "administrators": list(p.administrators), "name": p.name}
                for p in sorted(directory.peers.values(), key=lambda p: p.domain)]  # fmt: skip
    return [
        {"code": d.code, "name": d.name}
        for d in sorted(directory.dependencies.values(), key=lambda d: d.code)
    ]


def _text(row: dict[str, object]) -> str:
    parts = []
    for key, value in row.items():
        if isinstance(value, list):
            value = (
                f"{len(value)}: " + " ".join(str(v) for v in value[:10]) + (" …" if len(value) > 10 else "")
            )
        parts.append(str(value) if key in ("address", "domain", "code") else f"{key}={value}")
    return "  ".join(parts)


async def listing(store: Store, what: str, as_json: bool) -> int:
    if what == "retired":
        rows: list[dict[str, object]] = [
            {"address": a, "retired_at": at.isoformat()} for a, at in await store.retired()
        ]
    else:
        rows = _rows(await store.directory(), what)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        print(f"{len(rows)} {what}")
        for row in rows:
            print(_text(row))
    return 0


def inactive(found: list[Inactive], days: int, as_json: bool) -> int:
    """003 8.3: the periodic report of accounts without activity."""
    if as_json:
        rows = [{"address": i.address, "last_activity": i.last_activity.isoformat() if i.last_activity else None}
                for i in found]  # fmt: skip
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    print(
        f"{len(found)} cuentas sin correo enviado en {days} días / accounts with no outbound mail in {days} days"
    )
    for item in found:
        last = item.last_activity.date().isoformat() if item.last_activity else "nunca / never"
        print(f"{item.address}  última actividad / last activity: {last}")
    return 0
