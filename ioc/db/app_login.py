"""The hub's pool opened with its own login role (`IOC_APP_DATABASE_URL`), never the owner.

`IOC_DB_ROLE=ioc_app` is a `SET ROLE`: any statement on the connection can `RESET ROLE`
and act as the owner again, who may disable the audit log's triggers (issue 8, defect 8).
A login role that is only a member of ioc_app has nothing to reset to. With
`app_database_url` set, the pool logs in with it (migrations keep `database_url`, the
owner), after checking that the role neither owns the audit log, nor is a member of its
owner, nor is a superuser. Without it the hub runs as before (the embedded demo).

Example::

    # once, as the owner:  CREATE ROLE ioc_hub LOGIN PASSWORD '...' IN ROLE ioc_app;
    settings = Settings(database_url="postgresql://owner@db/ioc", app_database_url="postgresql://ioc_hub:...@db/ioc")
    pool = await open_app_pool(settings)
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg_pool import AsyncConnectionPool

from ioc.db.pool import open_pool
from ioc.exceptions import ConfigError, DatabaseError
from ioc.settings import Settings


async def open_app_pool(settings: Settings) -> AsyncConnectionPool:
    """`open_pool` with the app's own login when `settings.app_database_url` is set."""
    if not settings.app_database_url:
        return await open_pool(settings)
    await refuse_owner(settings.app_database_url)
    return await open_pool(settings.model_copy(update={"database_url": settings.app_database_url}))


async def refuse_owner(url: str) -> None:
    """ConfigError when the login of `url` owns the audit log, can become its owner, or is a superuser."""
    try:
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=15)
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect with IOC_APP_DATABASE_URL {safe_url(url)!r}: {exc}") from exc
    async with conn:
        cur = await conn.execute(
            "SELECT pg_has_role(session_user, c.relowner, 'MEMBER') OR r.rolsuper FROM pg_class c, pg_roles r"
            " WHERE c.oid = to_regclass('public.audit_log') AND r.rolname = session_user"
        )
        row = await cur.fetchone()
    if row is not None and row[0]:
        raise ConfigError(
            "IOC_APP_DATABASE_URL logs in as the owner of the audit log, a member of the owner or a superuser;"
            " use a login role that is only a member of ioc_app: CREATE ROLE ioc_hub LOGIN PASSWORD '...' IN ROLE ioc_app"
        )


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
