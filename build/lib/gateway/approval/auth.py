"""Who is asking: argon2 password hashes, session and API tokens, CSRF tokens, role checks.

Trusts the store for users and sessions; stores only hashes of secrets (argon2 for passwords,
SHA-256 for random tokens, which are long enough that a fast hash is safe). Hands back the
User behind a request, or None.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.model import User

_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verifying against this keeps the time of an unknown user's login like a known one's.
_DUMMY = _HASHER.hash("compuerta-dummy-password")

ADMINISTRATOR = "administrator"
AUDITOR = "auditor"


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise ValueError("la contraseña debe tener al menos 10 caracteres")
    return _HASHER.hash(password)


def check_password(user: User | None, password: str) -> bool:
    try:
        ok = _HASHER.verify(user.password_hash if user else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and user is not None and user.active


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def may_decide(user: User) -> bool:
    return any(role != AUDITOR for role in user.roles)


def known_roles(approver_roles: tuple[str, ...]) -> tuple[str, ...]:
    return (ADMINISTRATOR, *approver_roles, AUDITOR)
