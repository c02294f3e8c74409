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
        kwargs={"autocommit": True, "row_factory": dict_row},
        configure=configure,
        open=False,
        name="ioc",
    )
    try:
        await pool.open(wait=True, timeout=15)
    except PoolTimeout as exc:
        await pool.close()
        raise DatabaseError(f"cannot open database connections to {settings.database_url!r}: {exc}") from exc
    return pool
