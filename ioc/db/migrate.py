"""Apply numbered SQL migrations (`ioc/db/migrations/NNN_name.sql`) in numeric order.

Every area's files live in the one folder (hub 001-019, review 020-039, meetings
040-049); the runner applies all of them. Each file runs in its own transaction and is
recorded in `schema_migrations`, so a re-run applies nothing, and a failing file leaves
no trace. A session advisory lock makes hub replicas that start together take turns.

Example::

    applied = await upgrade("postgresql://postgres@127.0.0.1/ioc")   # [1, 2, ...] or []
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from ioc.exceptions import DatabaseError, MigrationError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same in every hub process.
_LOCK_KEY = 0x10C_D8_01


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All migration files in numeric order; refuses duplicate numbers and odd names."""
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file {path.name!r} is not named NNN_lower_case.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations numbered {version:03d}: {found[version].name}, {path.name}")
        found[version] = Migration(version, path.name, path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def upgrade(database_url: str, folder: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply every pending migration; returns the versions applied in this call."""
    migrations = discover(folder)
    try:
        conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to the database: {exc}") from exc
    applied: list[int] = []
    async with conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT version, checksum FROM schema_migrations")
            done = {row[0]: row[1] for row in await cur.fetchall()}
            for migration in migrations:
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        log.warning("migration %s changed after it was applied; not re-run", migration.name)
                    continue
                await _apply(conn, migration)
                applied.append(migration.version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


async def _apply(conn: psycopg.AsyncConnection, migration: Migration) -> None:
    log.info("applying migration %s", migration.name)
    try:
        async with conn.transaction():
            # Files hold several statements and DO blocks: send them as one simple query.
            await conn.execute(migration.sql.encode(), prepare=False)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
    except psycopg.Error as exc:
        raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
