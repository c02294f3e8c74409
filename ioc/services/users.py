"""People who log in: argon2id password hashes, a role and a unit.

Example::

    user = await create(conn, username="op1", password="s3cret-pass", role="operator", unit="01")
    same = await authenticate(conn, "op1", "s3cret-pass")        # User(...) or None
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from psycopg import AsyncConnection
from pydantic import BaseModel, Field

from ioc.exceptions import Conflict, InvalidInput, NotFound

Role = Literal["admin", "operator", "police", "official", "viewer"]
ROLES: tuple[str, ...] = get_args(Role)
USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]{3,64}$"

_hasher = PasswordHasher()
# Verifying against this keeps "no such user" as slow as "wrong password" (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class User(BaseModel):
    """The logged-in person as every router and page sees it (`ioc.api.deps.CurrentUser`).

    Example::

        User(id=1, username="op1", role="operator", unit="01")
    """

    id: int
    username: str = Field(pattern=USERNAME_PATTERN)
    role: Role
    unit: str


COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent.parent / "seed" / "common_passwords.txt"
PASSWORD_MIN_LENGTH = 8


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower case (ioc/seed/common_passwords.txt)."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def check_password(password: str, username: str | None = None) -> None:
    """InvalidInput unless `password` meets the policy: 8 to 1024 characters, not on the
    common list, not the username, and at least 4 different characters."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidInput(f"password must have at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > 1024:
        raise InvalidInput("password must have at most 1024 characters")
    lowered = password.lower()
    if lowered in common_passwords():
        raise InvalidInput("password is on the list of common passwords; choose another")
    if username and lowered == username.lower():
        raise InvalidInput("password must not be the username")
    if len(set(password)) < 4:
        raise InvalidInput("password must have at least 4 different characters")


def hash_password(password: str, username: str | None = None) -> str:
    """argon2id hash of a password that meets the policy (`check_password`)."""
    check_password(password, username)
    return _hasher.hash(password)


async def create(conn: AsyncConnection, *, username: str, password: str, role: str, unit: str) -> User:
    """Create a user; InvalidInput for a bad role/unit/password, Conflict for a taken name."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)} (got {role!r})")
    password_hash = hash_password(password, username)
    try:
        cur = await conn.execute(
            "INSERT INTO users (username, password_hash, role, unit) VALUES (%s, %s, %s, %s)"
            " RETURNING id, username, role, unit",
            (username, password_hash, role, unit),
        )
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"user {username!r} already exists") from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        raise InvalidInput(f"unit {unit!r} does not exist") from exc
    except psycopg.errors.CheckViolation as exc:
        raise InvalidInput(f"username must match {USERNAME_PATTERN} (got {username!r})") from exc
    row = await cur.fetchone()
    assert row is not None
    return User.model_validate(row)


async def get(conn: AsyncConnection, user_id: int) -> User | None:
    """An enabled user by id, or None."""
    cur = await conn.execute(
        "SELECT id, username, role, unit FROM users WHERE id = %s AND NOT disabled", (user_id,)
    )
    row = await cur.fetchone()
    return User.model_validate(row) if row else None


async def get_for_token(conn: AsyncConnection, user_id: int) -> tuple[User, int] | None:
    """An enabled user by id with their token version (tokens of older versions are revoked)."""
    cur = await conn.execute(
        "SELECT id, username, role, unit, token_version FROM users WHERE id = %s AND NOT disabled", (user_id,)
    )
    row: dict[str, Any] | None = await cur.fetchone()
    if row is None:
        return None
    version = int(row.pop("token_version"))
    return User.model_validate(row), version


async def token_version(conn: AsyncConnection, user_id: int) -> int:
    """The current token version of a user (0 for a user never logged out)."""
    cur = await conn.execute("SELECT token_version FROM users WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    return int(row["token_version"]) if row else 0


async def revoke_tokens(conn: AsyncConnection, user_id: int) -> None:
    """Revoke every login token issued to the user so far (logout)."""
    await conn.execute("UPDATE users SET token_version = token_version + 1 WHERE id = %s", (user_id,))


async def get_by_username(conn: AsyncConnection, username: str) -> User:
    """An enabled user by name; NotFound otherwise."""
    cur = await conn.execute(
        "SELECT id, username, role, unit FROM users WHERE username = %s AND NOT disabled", (username,)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"user {username!r} does not exist")
    return User.model_validate(row)


async def authenticate(conn: AsyncConnection, username: str, password: str) -> User | None:
    """The user when the password matches, else None (same cost either way)."""
    cur = await conn.execute(
        "SELECT id, username, role, unit, password_hash FROM users WHERE username = %s AND NOT disabled",
        (username,),
    )
    row = await cur.fetchone()
    try:
        _hasher.verify(row["password_hash"] if row else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _hasher.check_needs_rehash(row["password_hash"]):
        await conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (_hasher.hash(password), row["id"]))
    return User.model_validate(row)


async def list_in_scope(conn: AsyncConnection, unit: str) -> list[User]:
    """Enabled users whose unit lies in the subtree of `unit`."""
    cur = await conn.execute(
        "SELECT u.id, u.username, u.role, u.unit FROM users u JOIN units n ON n.code = u.unit"
        " WHERE %s = ANY(n.ancestors) AND NOT u.disabled ORDER BY u.username",
        (unit,),
    )
    return [User.model_validate(row) for row in await cur.fetchall()]


async def set_role(conn: AsyncConnection, user_id: int, role: str, unit: str) -> User:
    """Change a user's role and unit."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)} (got {role!r})")
    try:
        cur = await conn.execute(
            "UPDATE users SET role = %s, unit = %s, updated_at = now() WHERE id = %s"
            " RETURNING id, username, role, unit",
            (role, unit, user_id),
        )
    except psycopg.errors.ForeignKeyViolation as exc:
        raise InvalidInput(f"unit {unit!r} does not exist") from exc
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"user {user_id} does not exist")
    return User.model_validate(row)
