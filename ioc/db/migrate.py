"""Apply numbered SQL migrations (`ioc/db/migrations/NNN_name.sql`) in numeric order.

Every area's files live in the one folder (hub 001-019, review 020-039, meetings
040-049); the runner applies all of them. Each file runs in its own transaction and is
recorded in `schema_migrations`, so a re-run applies nothing, and a failing file leaves
no trace. A session advisory lock makes hub replicas that start together take turns.

After the numbered files, when the database has the `timescaledb` extension (or the
server offers it preloaded and the database has not created it yet, i.e. TimescaleDB was
added after the database was migrated on plain PostgreSQL), `timescale.sql` runs: an
idempotent script that converts the tables and keeps the policies right. Every WARNING
the server raises on the way (a fallback to plain PostgreSQL, a conversion) goes to
`on_warning`, by default this module's logger, and `ioc db upgrade` prints them.

Example::

    applied = await upgrade("postgresql://postgres@127.0.0.1/ioc")   # [1, 2, ...] or []
    await upgrade(url, on_warning=print)                           # see the fallbacks
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psycopg

from ioc.exceptions import DatabaseError, MigrationError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same in every hub process.
_LOCK_KEY = 0x10C_D8_01
TIMESCALE_SQL = Path(__file__).parent / "timescale.sql"
# Files corrected after release whose earlier text is known and harmless to have applied
# (002 before it checked shared_preload_libraries): no "changed" warning for them.
_EARLIER = {2: {"0c7c982875e66f08c92056bb204f3560f6d426cba1bfb9324252eac43f9e9aed"}}
# The preload check of 002, for the conversion of an already migrated database.
_PRELOADED = r"current_setting('shared_preload_libraries') ~ '(^|[\s,/])timescaledb([\s,-]|$)'"


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


async def upgrade(
    database_url: str, folder: Path = MIGRATIONS_DIR, *, on_warning: Callable[[str], None] | None = None
) -> list[int]:
    """Apply every pending migration; returns the versions applied in this call."""
    migrations = discover(folder)
    try:
        conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to the database: {exc}") from exc
    warn = on_warning or (lambda text: log.warning("%s", text))

    def notice(diag: psycopg.errors.Diagnostic) -> None:
        if diag.severity_nonlocalized == "WARNING" and diag.message_primary:
            warn(diag.message_primary)

    conn.add_notice_handler(notice)
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
                    if done[migration.version] != migration.checksum and done[migration.version] not in _EARLIER.get(
                        migration.version, ()
                    ):
                        log.warning("migration %s changed after it was applied; not re-run", migration.name)
                    continue
                await _apply(conn, migration)
                applied.append(migration.version)
            if folder == MIGRATIONS_DIR:
                # 002 warns about a missing preload itself when it runs.
                await _timescale(conn, warn, quiet=2 in applied)
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


async def _timescale(conn: psycopg.AsyncConnection, warn: Callable[[str], None], *, quiet: bool) -> None:
    """Create TimescaleDB when the server now offers it preloaded, then run timescale.sql."""
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS created,"
        " EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available,"
        f" {_PRELOADED} AS preloaded"
    )
    created, available, preloaded = await cur.fetchone()  # type: ignore[misc]
    if not created:
        if not available:
            return
        if not preloaded:
            if not quiet:
                warn("timescaledb is installed but not in shared_preload_libraries; the database stays on plain"
                     " PostgreSQL. Add shared_preload_libraries = 'timescaledb' to postgresql.conf, restart the"
                     " server and run `ioc db upgrade` again to convert")
            return
        try:
            await conn.execute("CREATE EXTENSION timescaledb")
        except psycopg.Error as exc:
            raise MigrationError(f"cannot create the timescaledb extension: {exc}") from exc
    cur = await conn.execute("SELECT relkind::text FROM pg_class WHERE oid = to_regclass('public.event_counts_5m')")
    converting = (await cur.fetchone() or [None])[0] == "r"  # the plain path's table of counts
    log.info("applying timescale.sql")
    try:
        async with conn.transaction():
            await conn.execute(TIMESCALE_SQL.read_text(encoding="utf-8").encode(), prepare=False)
    except psycopg.Error as exc:
        raise MigrationError(f"timescale.sql failed: {exc}") from exc
    if converting:
        # A continuous aggregate created over existing rows reads only rows after them in
        # real time until it is refreshed (measured on 2.28: 2 of 600 counted), and a
        # refresh cannot run inside a transaction: do the first one here, now.
        await _first_refresh(conn, warn)


async def _first_refresh(conn: psycopg.AsyncConnection, warn: Callable[[str], None]) -> None:
    """Materialise the history of a converted database, unless the server's scheduler is
    already doing it (its policy job may start the moment timescale.sql commits)."""
    for _ in range(50):
        try:
            await conn.execute("CALL refresh_continuous_aggregate('event_counts_5m', NULL, now() - INTERVAL '5 minutes')")
            return
        except psycopg.errors.LockNotAvailable:  # a concurrent refresh of the same range
            await asyncio.sleep(0.2)
        except psycopg.Error as exc:
            raise MigrationError(f"first refresh of event_counts_5m failed: {exc}") from exc
    warn("event_counts_5m: the policy job is refreshing it; stats count older events once that run ends")
