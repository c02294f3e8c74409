"""The async connection pool, opened once in the FastAPI lifespan (DESIGN.md convention 6).

Example::

    pool = await open_pool(settings)
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT 1 AS one")).fetchone()   # {"one": 1}
    await pool.close()
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ioc.exceptions import ConfigError, DatabaseError
from ioc.settings import Settings

POOL_WAIT_S = 3.0
"""Seconds a request waits for a pooled connection before the hub answers 503."""
RETRY_AFTER_S = 5
"""What a 503 for an unreachable database tells the client to wait (Retry-After)."""
CONNECT_TIMEOUT_S = 5
"""Seconds one new database connection may take before the attempt is abandoned."""


async def open_pool(settings: Settings) -> AsyncConnectionPool:
    """Open a pool of autocommit connections returning dict rows.

    With `db_role` set every connection runs `SET ROLE` first, so the hub holds only that
    role's privileges (migrations use their own connection as the owner).
    """
    if not settings.database_url:
        raise ConfigError("IOC_DATABASE_URL is not set (or run `ioc demo` for an embedded database)")
    role = settings.db_role

    async def configure(conn: psycopg.AsyncConnection) -> None:
        if role:
            await conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))

    pool = AsyncConnectionPool(
        settings.database_url,
        min_size=settings.pool_min,
        max_size=max(settings.pool_min, settings.pool_max),
        # connect_timeout: a reconnect attempt to a blocked database gives up and is
        # retried, instead of hanging the pool's workers (the hub would never recover).
        kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT_S},
        configure=configure,
        open=False,
        name="ioc",
        # A request waits this long for a connection, then the API answers 503 with
        # Retry-After (errors.py) instead of a 500 after psycopg_pool's default 30 s
        # (issue 8, item 11).
        timeout=POOL_WAIT_S,
    )
    try:
        await pool.open(wait=True, timeout=15)
    except PoolTimeout as exc:
        await pool.close()
        raise DatabaseError(f"cannot open database connections to {settings.database_url!r}: {exc}") from exc
    return pool
