"""SQL of the web app's people and their sessions: users, roles, API tokens, login sessions.

Trusts its callers for hashing (argon2 in gateway.approval.auth; tokens are stored only as
SHA-256). Hands back User dataclasses and session tuples.
"""

from __future__ import annotations

from datetime import datetime

from gateway.model import User
from gateway.store.database import Executor, Row

_COLUMNS = "username, roles, email, active, password_hash"


def _user(row: Row) -> User:
    username, roles, email, active, password_hash = row
    return User(str(username), tuple(r for r in str(roles).split(",") if r), str(email),
                bool(int(str(active))), str(password_hash))  # fmt: skip


async def add(db: Executor, user: User, at: datetime) -> None:
    await db.execute(
        "INSERT INTO users (username, password_hash, roles, email, active, created_at)"
        " VALUES (?,?,?,?,?,?)",
        user.username, user.password_hash, ",".join(user.roles), user.email, int(user.active),
        at.isoformat(),
    )  # fmt: skip


async def get(db: Executor, username: str) -> User | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM users WHERE username = ?", username)
    return None if row is None else _user(row)


async def by_token(db: Executor, token_hash: str) -> User | None:
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM users WHERE api_token_hash = ? AND api_token_hash != ''", token_hash
    )
    return None if row is None else _user(row)


async def listing(db: Executor) -> list[User]:
    return [_user(row) for row in await db.fetchall(f"SELECT {_COLUMNS} FROM users ORDER BY username")]


async def with_role(db: Executor, role: str) -> list[User]:
    return [u for u in await listing(db) if role in u.roles and u.active]


async def update(db: Executor, username: str, column: str, value: object) -> bool:
    assert column in ("password_hash", "roles", "email", "active", "api_token_hash")
    row = await db.fetchone(f"UPDATE users SET {column} = ? WHERE username = ? RETURNING username",
                            value, username)  # fmt: skip
    return row is not None


async def open_session(db: Executor, token_hash: str, username: str, csrf: str, expires: datetime) -> None:
    await db.execute(
        "INSERT INTO sessions (token_hash, username, csrf, expires_at) VALUES (?,?,?,?)",
        token_hash, username, csrf, expires.isoformat(),
    )  # fmt: skip


async def session(db: Executor, token_hash: str, now: datetime) -> tuple[User, str] | None:
    """The user and CSRF token of a live session."""
    row = await db.fetchone(
        f"SELECT {', '.join('u.' + c for c in _COLUMNS.split(', '))}, s.csrf FROM sessions s"
        " JOIN users u ON u.username = s.username WHERE s.token_hash = ? AND s.expires_at > ?",
        token_hash, now.isoformat(),
    )  # fmt: skip
    if row is None:
        return None
    user = _user(row[:5])
    return (user, str(row[5])) if user.active else None


async def close_session(db: Executor, token_hash: str) -> None:
    await db.execute("DELETE FROM sessions WHERE token_hash = ?", token_hash)
