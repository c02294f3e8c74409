"""Migrations on the real servers, plain PostgreSQL and TimescaleDB 2.28 (each test runs
on both unless it says otherwise): from an empty database, re-run, failure, concurrency,
and each time-series path. tests/ioc/test_timescale.py has the TimescaleDB behaviour."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import AsyncIterator

import psycopg
import pytest
from psycopg.rows import dict_row

from ioc.db import MIGRATIONS_DIR, discover, upgrade
from ioc.exceptions import MigrationError
from tests.conftest import DATABASE_KINDS, server_url
from tests.ioc.conftest import with_database

HUB_TABLES = {"units", "users", "edges", "cameras", "events", "event_keys", "event_evidence", "evidence_files",
              "metrics", "audit_log", "event_counts_5m", "schema_migrations"}


@pytest.fixture(params=DATABASE_KINDS)
async def empty_db(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    admin = server_url(request.param)
    name = f"ioc_t_hubmig_{secrets.token_hex(4)}"
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin, name)
    finally:
        async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _query(url: str, q: str) -> list[dict]:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        return await (await conn.execute(q)).fetchall()


async def test_from_empty_then_rerun_applies_nothing(empty_db: str) -> None:
    applied = await upgrade(empty_db)
    assert applied == [m.version for m in discover()]  # every area's files, in order
    assert applied[:9] == list(range(1, 10))
    # Tables and views (event_counts_5m is a continuous aggregate on TimescaleDB).
    tables = {r["relname"] for r in await _query(
        empty_db, "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'v', 'p')")}
    assert HUB_TABLES <= tables
    assert await upgrade(empty_db) == []
    recorded = await _query(empty_db, "SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in recorded] == applied


@pytest.mark.parametrize("empty_db", ["postgresql"], indirect=True)
async def test_plain_postgresql_path(empty_db: str) -> None:
    await upgrade(empty_db)
    assert await _query(empty_db, "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'") == []
    kinds = await _query(empty_db, "SELECT relname, relkind FROM pg_class WHERE relname IN ('event_counts_5m', 'events_ts_brin')")
    assert {r["relname"]: r["relkind"] for r in kinds} == {"event_counts_5m": "r", "events_ts_brin": "i"}
    brin = await _query(empty_db, "SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 'events_ts_brin'")
    assert brin == [{"amname": "brin"}]


async def test_failed_migration_leaves_no_trace(empty_db: str, tmp_path: Path) -> None:
    (tmp_path / "001_first.sql").write_text("CREATE TABLE first (id int);")
    (tmp_path / "002_broken.sql").write_text("CREATE TABLE second (id int); SELECT no_such_function();")
    with pytest.raises(MigrationError, match="002_broken.sql"):
        await upgrade(empty_db, tmp_path)
    assert [r["version"] for r in await _query(empty_db, "SELECT version FROM schema_migrations")] == [1]
    assert await _query(empty_db, "SELECT to_regclass('second') AS t") == [{"t": None}]
    (tmp_path / "002_broken.sql").write_text("CREATE TABLE second (id int);")
    assert await upgrade(empty_db, tmp_path) == [2]


async def test_replicas_starting_together_apply_each_file_once(empty_db: str) -> None:
    results = await asyncio.gather(*(upgrade(empty_db) for _ in range(3)))
    assert sorted(len(r) for r in results) == [0, 0, len(discover())]


@pytest.mark.parametrize(("files", "words"), [
    ({"1_short.sql": ""}, "is not named NNN_lower_case.sql"),
    ({"001_a.sql": "", "001_b.sql": ""}, "two migrations numbered 001"),
])
def test_discover_refuses_bad_names(tmp_path: Path, files: dict[str, str], words: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(MigrationError, match=words):
        discover(tmp_path)


@pytest.mark.parametrize("empty_db", ["timescaledb"], indirect=True)
async def test_timescaledb_path(empty_db: str) -> None:
    warnings: list[str] = []
    await upgrade(empty_db, on_warning=warnings.append)
    assert warnings == []  # no fallback taken
    assert await _query(empty_db, "SELECT extname FROM pg_extension WHERE extname = 'timescaledb'") == [{"extname": "timescaledb"}]
    hyper = await _query(empty_db, "SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1")
    assert [r["hypertable_name"] for r in hyper] == ["events", "metrics"]
    caggs = await _query(empty_db, "SELECT view_name FROM timescaledb_information.continuous_aggregates")
    assert caggs == [{"view_name": "event_counts_5m"}]
    assert await _query(empty_db, "SELECT to_regclass('events_ts_brin') AS i") == [{"i": None}]


async def test_the_earlier_002_is_not_reported_as_changed(empty_db: str, caplog: pytest.LogCaptureFixture) -> None:
    """002 gained the preload check after release; databases that ran the old text stay quiet."""
    await upgrade(empty_db)
    async with await psycopg.AsyncConnection.connect(empty_db, autocommit=True) as conn:
        await conn.execute("UPDATE schema_migrations SET checksum = %s WHERE version = 2",
                           ("0c7c982875e66f08c92056bb204f3560f6d426cba1bfb9324252eac43f9e9aed",))
    with caplog.at_level("WARNING", logger="ioc.db.migrate"):
        assert await upgrade(empty_db) == []
    assert "changed after it was applied" not in caplog.text


def test_hub_owns_001_to_019() -> None:
    hub = [m for m in discover(MIGRATIONS_DIR) if m.version < 20]
    assert [m.version for m in hub] == list(range(1, len(hub) + 1))
