"""Database: the async connection pool and the numbered SQL migrations.

    from ioc.db import open_pool, upgrade
    applied = await upgrade("postgresql://postgres@127.0.0.1/ioc")
    pool = await open_pool(settings)
"""

from ioc.db.migrate import MIGRATIONS_DIR, Migration, discover, upgrade
from ioc.db.pool import open_pool

__all__ = ["MIGRATIONS_DIR", "Migration", "discover", "open_pool", "upgrade"]
