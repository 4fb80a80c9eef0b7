"""The directory's SQL: accounts, lists, dependencies, peer domains, retired addresses, activity.

Trusts its callers' dataclasses (validated by gateway.directory_file or the CLI). Every change
bumps one directory version in the same transaction, so a running gateway notices it and
reloads the whole snapshot (gateway.directory). A retired address is never given to a new
account (000 norm 22): writes that would do so are refused before anything is changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from gateway.model import Account, AccountState, Dependency, Directory, DistributionList, PeerDomain
from gateway.store import audit
from gateway.store.audit import AuditEntry
from gateway.store.database import Database, Executor, Row
from gateway.store.times import parse, stamp


class RetiredAddress(Exception):
    """An account was asked for an address that was retired (000 norma 22)."""

    def __init__(self, addresses: Iterable[str]) -> None:
        self.addresses = tuple(sorted(addresses))
        super().__init__(
            "dirección dada de baja, no se reasigna (000 norma 22) / retired address, never reassigned: "
            + ", ".join(self.addresses)
        )


@dataclass(frozen=True)
class DirectoryData:
    """What one import (or one edit) writes; absent kinds are left as they are."""

    accounts: tuple[Account, ...] = ()
    lists: tuple[DistributionList, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    peers: tuple[PeerDomain, ...] = ()
    retired: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inactive:
    address: str
    last_activity: datetime | None  # None: never sent anything through the gateway


@dataclass(frozen=True)
class Change:
    """An administrative action (directory edits, usage look-ups, unblocks) for the audit chain."""

    actor: str
    action: str
    subject: str
    detail: str = ""
    at: datetime | None = None


async def _refuse_retired(tx: Executor, data: DirectoryData) -> None:
    wanted = {a.address.lower() for a in data.accounts}
    clash = wanted & {r.lower() for r in data.retired}
    for address in wanted:
        if await tx.fetchone("SELECT 1 FROM retired WHERE address = ?", address):
            clash.add(address)
    if clash:
        raise RetiredAddress(clash)


async def write(db: Database, data: DirectoryData, change: Change, now: datetime) -> int:
    """Upsert ``data`` in one transaction; returns the new directory version."""
    async with db.transaction() as tx:
        await _refuse_retired(tx, data)
        await tx.executemany(
            "INSERT INTO dependencies (code, name) VALUES (?, ?)"
            " ON CONFLICT (code) DO UPDATE SET name = excluded.name",
            [(d.code, d.name) for d in data.dependencies],
        )
        await tx.executemany(
            "INSERT INTO accounts (address, dependency, state, expires, internet, mass_mailing, name, send_as)"
            " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (address) DO UPDATE SET dependency = excluded.dependency,"
            " state = excluded.state, expires = excluded.expires, internet = excluded.internet,"
            " mass_mailing = excluded.mass_mailing, name = excluded.name, send_as = excluded.send_as",
            [_account_row(a) for a in data.accounts],
        )
        await _write_lists(tx, data.lists)
        await tx.executemany(
            "INSERT INTO peers (domain, name, administrators) VALUES (?,?,?) ON CONFLICT (domain)"
            " DO UPDATE SET name = excluded.name, administrators = excluded.administrators",
            [(p.domain.lower(), p.name, " ".join(p.administrators)) for p in data.peers],
        )
        await _retire(tx, data.retired, now)
        await log_change(tx, db.dialect, change, now)
        return await _bump(tx)


async def _write_lists(tx: Executor, lists: tuple[DistributionList, ...]) -> None:
    await tx.executemany(
        "INSERT INTO lists (address, all_staff, dependency) VALUES (?,?,?) ON CONFLICT (address)"
        " DO UPDATE SET all_staff = excluded.all_staff, dependency = excluded.dependency",
        [(g.address.lower(), int(g.all_staff), g.dependency) for g in lists],
    )
    for group in lists:
        # A list's members are replaced as a whole: the file is the list
        await tx.execute("DELETE FROM list_members WHERE list = ?", group.address.lower())
        await tx.executemany(
            "INSERT INTO list_members (list, member) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(group.address.lower(), m.lower()) for m in group.members],
        )


async def _retire(tx: Executor, addresses: tuple[str, ...], now: datetime) -> None:
    for address in addresses:
        await tx.execute("DELETE FROM accounts WHERE address = ?", address.lower())
        await tx.execute(
            "INSERT INTO retired (address, retired_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            address.lower(),
            stamp(now),
        )


async def _bump(tx: Executor) -> int:
    row = await tx.fetchone(
        "UPDATE directory_version SET version = version + 1 WHERE id = 1 RETURNING version"
    )
    assert row is not None
    return int(str(row[0]))


async def log_change(tx: Executor, dialect: str, change: Change, now: datetime) -> None:
    """Append ``change`` to the audit chain (gateway.store.audit), inside the caller's transaction."""
    entry = AuditEntry(change.at or now, change.actor, "admin", change.action, change.subject, change.detail)
    await audit.append(tx, dialect, entry)


async def version(db: Executor) -> int:
    row = await db.fetchone("SELECT version FROM directory_version WHERE id = 1")
    return int(str(row[0])) if row else 0


async def load(db: Database) -> Directory:
    """The whole directory as one consistent snapshot."""
    async with db.transaction() as tx:
        number = await version(tx)
        accounts = [_account(row) for row in await tx.fetchall(f"SELECT {_ACCOUNT} FROM accounts")]
        members: dict[str, list[str]] = {}
        for group, member in await tx.fetchall("SELECT list, member FROM list_members ORDER BY list, member"):
            members.setdefault(str(group), []).append(str(member))
        lists = [
            DistributionList(str(a), tuple(members.get(str(a), ())), bool(s), str(d))
            for a, s, d in await tx.fetchall("SELECT address, all_staff, dependency FROM lists")
        ]
        peers = [
            PeerDomain(str(d), tuple(str(admins).split()), str(n))
            for d, n, admins in await tx.fetchall("SELECT domain, name, administrators FROM peers")
        ]
        units = [
            Dependency(str(c), str(n)) for c, n in await tx.fetchall("SELECT code, name FROM dependencies")
        ]
    return Directory(
        {a.address: a for a in accounts}, {g.address: g for g in lists}, {p.domain: p for p in peers},
        {d.code: d for d in units}, number,
    )  # fmt: skip


async def retired(db: Executor) -> list[tuple[str, datetime]]:
    rows = await db.fetchall("SELECT address, retired_at FROM retired ORDER BY address")
    return [(str(a), parse(str(at))) for a, at in rows]


async def touch(db: Executor, address: str, now: datetime) -> None:
    """Record outbound activity of ``address`` (003 8.3: the inactive-accounts report)."""
    await db.execute(
        "INSERT INTO activity (address, last_at) VALUES (?, ?)"
        " ON CONFLICT (address) DO UPDATE SET last_at = excluded.last_at",
        address.lower(), stamp(now),
    )  # fmt: skip


async def inactive(db: Executor, since: datetime) -> list[Inactive]:
    """Accounts with no outbound activity after ``since`` (never active ones included)."""
    rows = await db.fetchall(
        "SELECT a.address, v.last_at FROM accounts a LEFT JOIN activity v ON v.address = a.address"
        " WHERE v.last_at IS NULL OR v.last_at < ? ORDER BY v.last_at NULLS FIRST, a.address",
        stamp(since),
    )
    return [Inactive(str(a), parse(str(at)) if at else None) for a, at in rows]


_ACCOUNT = "address, dependency, state, expires, internet, mass_mailing, name, send_as"


def _account_row(a: Account) -> tuple[object, ...]:
    expires = a.expires.isoformat() if a.expires else None
    send_as = " ".join(x.lower() for x in a.send_as)
    return (a.address.lower(), a.dependency, a.state.value, expires, int(a.internet), int(a.mass_mailing), a.name,
            send_as)  # fmt: skip


def _account(row: Row) -> Account:
    address, dependency, state, expires, internet, mass, name, send_as = row
    return Account(
        str(address), str(dependency), AccountState(str(state)),
        date.fromisoformat(str(expires)) if expires else None, bool(internet), bool(mass), str(name),
        tuple(str(send_as).split()),
    )  # fmt: skip
