"""The TimescaleDB path on a real TimescaleDB 2.28 (../shared/timescaledb/start.sh,
`IOC_TEST_TIMESCALE_URL`): stats against a plain GROUP BY after the refresh job and after
late events, retention that keeps violations under review or confirmed, a server with the
extension installed but not preloaded, and a plain database converted when TimescaleDB
is added later.

The scheduler's background jobs fail on this build ("cannot drop portal"), so policies are
run with `CALL run_job(id)`, as the server's own scheduler would run them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import AsyncIterator, Iterator

import psycopg
import pytest
from psycopg.rows import dict_row

from ioc.db import upgrade
from ioc.services import events as event_service
from ioc.services import units
from ioc.services.units import Unit
from tests.conftest import free_port, server_url
from tests.ioc.conftest import with_database

DAY = timedelta(days=1)


async def _fresh(admin: str) -> str:
    name = f"ioc_t_tsdb_{secrets.token_hex(4)}"
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(admin, name)


async def _drop(admin: str, url: str) -> None:
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@pytest.fixture
async def tsdb() -> AsyncIterator[psycopg.AsyncConnection]:
    """An owner connection to a fresh database on TimescaleDB, migrated."""
    admin = server_url("timescaledb")
    url = await _fresh(admin)
    try:
        await upgrade(url)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
            await _pause_scheduler(conn)
            yield conn
    finally:
        await _drop(admin, url)


async def _job(conn: psycopg.AsyncConnection, proc: str, table: str | None = None) -> int:
    q = "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = %s"
    params: list[str] = [proc]
    if table:
        q += " AND hypertable_name = %s"
        params.append(table)
    rows = await (await conn.execute(q, params)).fetchall()
    assert len(rows) == 1, (proc, table, rows)
    return rows[0]["job_id"]


async def _pause_scheduler(conn: psycopg.AsyncConnection) -> None:
    """Take the database's jobs off the server's scheduler, so that a test decides when a
    policy runs (a background run between two statements of a test would race it)."""
    await conn.execute("SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
                       " WHERE job_id >= 1000 AND scheduled")


async def _run_job(conn: psycopg.AsyncConnection, job: int) -> None:
    """`CALL run_job`, as the scheduler would; waits out a background run of the same
    policy that started before `_pause_scheduler`."""
    await _pause_scheduler(conn)
    for _ in range(100):
        try:
            await conn.execute("CALL run_job(%s)", (job,))
            return
        except psycopg.errors.LockNotAvailable:
            await asyncio.sleep(0.1)
    raise AssertionError(f"job {job} stayed locked by a concurrent refresh for 10 s")


async def _tree(conn: psycopg.AsyncConnection) -> tuple[str, list[str]]:
    tag = secrets.token_hex(3)
    province = f"p{tag}"
    await units.create(conn, Unit(code=province, name=f"Tỉnh {tag}", level="province"))
    communes = []
    for i in range(2):
        code = f"{province}-c{i}"
        await units.create(conn, Unit(code=code, name=f"Xã {i}", level="commune", parent_code=province))
        communes.append(code)
    return province, communes


async def _insert(conn: psycopg.AsyncConnection, communes: list[str], oldest: timedelta, newest: timedelta,
                  n: int, *, type_: str = "count.vehicle", payload: str = "{}") -> None:
    """`n` events spread evenly between now-oldest and now-newest, over 2 units x 2 cameras x 2 types."""
    await conn.execute(
        "INSERT INTO event_keys (id, ts, rx_seq)"
        " SELECT gen_random_uuid(), now() - %(oldest)s + (%(oldest)s - %(newest)s) * (i::float8 / %(n)s),"
        "        nextval('event_rx_seq')"
        " FROM generate_series(0, %(n)s - 1) i",
        {"oldest": oldest, "newest": newest, "n": n},
    )
    await conn.execute(
        "INSERT INTO events (rx_seq, id, edge, seq, camera, unit, type, severity, ts, payload)"
        " SELECT k.rx_seq, k.id, 'edge-t', k.rx_seq, 'cam-' || (k.rx_seq %% 2), (%(units)s::text[])[1 + k.rx_seq %% 2],"
        "        CASE WHEN k.rx_seq %% 3 = 0 THEN %(type)s ELSE 'security.intrusion' END, 'info', k.ts, %(payload)s::jsonb"
        " FROM event_keys k WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = k.id)",
        {"units": communes, "type": type_, "payload": payload},
    )


async def _check_stats(conn: psycopg.AsyncConnection, province: str) -> dict[int, int]:
    """Stats for 1, 7 and 30 days equal a plain GROUP BY on the raw table; returns totals."""
    now = datetime.now(timezone.utc)
    until = now.replace(second=0, microsecond=0) + timedelta(minutes=10 - now.minute % 5)
    totals = {}
    for days in (1, 7, 30):
        since = until - days * DAY
        got = await event_service.stats(conn, province, since, until)
        rows = await (await conn.execute(
            "SELECT type AS k, count(*) AS n FROM events WHERE ts >= %s AND ts < %s"
            " AND unit IN (SELECT code FROM units WHERE %s = ANY(ancestors)) GROUP BY 1",
            (since, until, province),
        )).fetchall()
        cams = await (await conn.execute(
            "SELECT camera AS k, count(*) AS n FROM events WHERE ts >= %s AND ts < %s"
            " AND unit IN (SELECT code FROM units WHERE %s = ANY(ancestors)) GROUP BY 1",
            (since, until, province),
        )).fetchall()
        assert got["by_type"] == {r["k"]: r["n"] for r in rows}, days
        assert got["by_camera"] == {r["k"]: r["n"] for r in cams}, days
        totals[days] = got["total"]
    return totals


async def test_layout(tsdb: psycopg.AsyncConnection) -> None:
    hyper = await (await tsdb.execute(
        "SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables ORDER BY 1")).fetchall()
    assert [(r["hypertable_name"], r["compression_enabled"]) for r in hyper] == [("events", True), ("metrics", True)]
    caggs = await (await tsdb.execute("SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates")).fetchall()
    assert caggs == [{"view_name": "event_counts_5m", "materialized_only": False}]
    jobs = await (await tsdb.execute(
        "SELECT proc_name, hypertable_name, config FROM timescaledb_information.jobs WHERE job_id >= 1000 ORDER BY 1, 2")).fetchall()
    by = {(j["proc_name"], j["hypertable_name"]): j["config"] for j in jobs}
    refresh = by[("policy_refresh_continuous_aggregate", "event_counts_5m")]
    assert refresh["start_offset"] is None and refresh["buckets_per_batch"] == 288
    assert by[("ioc_events_retention", None)] == {"drop_after": "400 days"}
    assert ("policy_retention", "events") not in by  # the stock one drops held violations
    assert ("policy_retention", "metrics") in by
    # timescale.sql runs on every upgrade; a second run changes nothing.
    before = sorted(by)
    await upgrade(with_database(server_url("timescaledb"), (await (await tsdb.execute("SELECT current_database() AS d")).fetchone())["d"]))
    jobs = await (await tsdb.execute("SELECT proc_name, hypertable_name FROM timescaledb_information.jobs WHERE job_id >= 1000 ORDER BY 1, 2")).fetchall()
    assert sorted((j["proc_name"], j["hypertable_name"]) for j in jobs) == before


async def test_stats_equal_group_by_after_refresh_and_late_events(tsdb: psycopg.AsyncConnection) -> None:
    province, communes = await _tree(tsdb)
    await _insert(tsdb, communes, 29 * DAY, timedelta(minutes=1), 3000)
    refresh = await _job(tsdb, "policy_refresh_continuous_aggregate", "event_counts_5m")
    before = await _check_stats(tsdb, province)           # real time: all from the raw table
    await _run_job(tsdb, refresh)
    after = await _check_stats(tsdb, province)            # materialised (was 957 / 957 for 7 / 30 days)
    assert after == before and before[30] == 3000
    # An edge replays its outbox after an outage: events 3 days old arrive now.
    await _insert(tsdb, communes, 3 * DAY + timedelta(hours=1), 3 * DAY, 200)
    await _run_job(tsdb, refresh)
    late = await _check_stats(tsdb, province)
    assert late[7] == after[7] + 200 and late[30] == 3200 and late[1] == after[1]
    # And events newer than the watermark are counted at once, before any refresh.
    await _insert(tsdb, communes, timedelta(seconds=30), timedelta(seconds=1), 10)
    assert (await _check_stats(tsdb, province))[1] == after[1] + 10


async def test_database_with_the_old_two_day_policy_is_repaired_by_upgrade(tsdb: psycopg.AsyncConnection) -> None:
    """Databases that 009 set up before the fix (refresh window of 2 days): the loss is
    reproduced, then `upgrade` replaces the policy and the next run counts everything."""
    province, communes = await _tree(tsdb)
    await _insert(tsdb, communes, 29 * DAY, timedelta(minutes=1), 3000)
    await tsdb.execute("SELECT remove_continuous_aggregate_policy('event_counts_5m')")
    await tsdb.execute("SELECT add_continuous_aggregate_policy('event_counts_5m', start_offset => INTERVAL '2 days',"
                       " end_offset => INTERVAL '5 minutes', schedule_interval => INTERVAL '5 minutes')")
    await _run_job(tsdb, await _job(tsdb, "policy_refresh_continuous_aggregate", "event_counts_5m"))
    with pytest.raises(AssertionError):
        await _check_stats(tsdb, province)                # the fault of issue 13: old days vanish
    got = await event_service.stats(tsdb, province, datetime.now(timezone.utc) - 30 * DAY, datetime.now(timezone.utc))
    assert got["total"] < 3000 * 3 / 29                  # about two days' worth of 29
    name = (await (await tsdb.execute("SELECT current_database() AS d")).fetchone())["d"]
    await upgrade(with_database(server_url("timescaledb"), name))
    await _run_job(tsdb, await _job(tsdb, "policy_refresh_continuous_aggregate", "event_counts_5m"))
    assert (await _check_stats(tsdb, province))[30] == 3000


async def test_retention_keeps_violations_under_review_or_confirmed(tsdb: psycopg.AsyncConnection) -> None:
    province, communes = await _tree(tsdb)
    # Two old days: one with violations in every state, one with plain events only.
    await _insert(tsdb, communes, 420 * DAY, 420 * DAY - timedelta(hours=6), 30,
                  type_="traffic.red_light", payload='{"violation": true}')
    await _insert(tsdb, communes, 410 * DAY, 410 * DAY - timedelta(hours=6), 30)
    await _insert(tsdb, communes, 2 * DAY, DAY, 30)                     # recent: never touched
    await tsdb.execute(
        "INSERT INTO event_evidence (event_id, event_ts, sha256, kind, unit)"
        " SELECT id, ts, encode(sha256(id::text::bytea), 'hex'), 'overview', unit FROM events")
    old = await (await tsdb.execute(
        "SELECT event_id FROM violations WHERE event_ts < now() - INTERVAL '415 days' ORDER BY event_ts")).fetchall()
    assert len(old) == 10
    ids = [r["event_id"] for r in old]
    confirmed, rejected, proposed = ids[0:3], ids[3:6], ids[6:]
    await tsdb.execute("UPDATE violations SET state = 'confirmed', decided_by = 'police', decided_at = now()"
                       " WHERE event_id = ANY(%s)", (confirmed,))
    await tsdb.execute("UPDATE violations SET state = 'rejected', decided_by = 'police', decided_at = now(),"
                       " reason = 'not a violation' WHERE event_id = ANY(%s)", (rejected,))
    # Old chunks are compressed by then: the retention job deletes inside a compressed chunk.
    await tsdb.execute("SELECT compress_chunk(c) FROM show_chunks('events', older_than => INTERVAL '300 days') c")
    plain_day = ("SELECT count(*) AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'events'"
                 " AND range_end > now() - INTERVAL '410 days' AND range_start < now() - INTERVAL '410 days' + INTERVAL '6 hours'")
    assert (await (await tsdb.execute(plain_day)).fetchone())["n"] >= 1

    await _run_job(tsdb, await _job(tsdb, "ioc_events_retention"))

    kept = {r["id"] for r in await (await tsdb.execute(
        "SELECT id FROM events WHERE ts < now() - INTERVAL '400 days'")).fetchall()}
    assert kept == set(confirmed) | set(proposed)
    assert (await (await tsdb.execute("SELECT count(*) AS n FROM events WHERE ts > now() - INTERVAL '3 days'")).fetchone())["n"] == 30
    # The old day of plain events went as whole chunks.
    assert (await (await tsdb.execute(plain_day)).fetchone())["n"] == 0
    # Payloads of held violations are intact; keys and evidence links of removed events went too.
    rows = await (await tsdb.execute(
        "SELECT v.state, e.payload FROM violations v JOIN events e ON e.id = v.event_id AND e.ts = v.event_ts"
        " WHERE v.event_id = ANY(%s)", (confirmed + proposed,))).fetchall()
    assert len(rows) == 7 and all(r["payload"] == {"violation": True} for r in rows)
    for table, ts in (("event_keys", "ts"), ("event_evidence", "event_ts")):
        n = await (await tsdb.execute(f"SELECT count(*) AS n FROM {table} WHERE {ts} < now() - INTERVAL '400 days'")).fetchone()
        assert n["n"] == 7, table


# ---- a server with TimescaleDB installed but not preloaded, then preloaded ----------------------


class PrivateServer:
    """A PostgreSQL 15 server of its own, from the TimescaleDB test install's binaries."""

    def __init__(self, bindir: Path) -> None:
        self.bin = bindir
        self.data = Path(tempfile.mkdtemp(prefix="ioc-tsdb-", dir="/var/tmp")) / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.getuid() == 0:  # initdb and postgres refuse to run as root
            shutil.chown(self.data.parent, "postgres")
            cmd = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{c}'" for c in cmd)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        self.configure(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.data}'\ntimescaledb.telemetry_level = off\n")

    def configure(self, lines: str) -> None:
        if os.getuid() == 0:
            subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", f"cat >> '{self.data}/postgresql.conf'"],
                           input=lines.encode(), check=True)
        else:
            with open(self.data / "postgresql.conf", "a") as conf:
                conf.write(lines)

    def start(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def private_server() -> Iterator[PrivateServer]:
    admin = server_url("timescaledb")
    with psycopg.connect(admin) as conn:
        data_dir = Path(conn.execute("SHOW data_directory").fetchone()[0])  # type: ignore[index]
    bindir = data_dir.parent / "usr/lib/postgresql/15/bin"
    assert (bindir / "initdb").exists(), f"TimescaleDB test install not found beside {data_dir}"
    server = PrivateServer(bindir)
    server.init()
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(server.data.parent, ignore_errors=True)


async def test_not_preloaded_falls_back_then_converts_when_preloaded(private_server: PrivateServer) -> None:
    from typer.testing import CliRunner
    import typer

    from ioc.cli import hub as hub_cli

    url = await _fresh(private_server.url)
    warnings: list[str] = []
    await upgrade(url, on_warning=warnings.append)        # used to die: FATAL ... must be preloaded
    assert any("not in shared_preload_libraries" in w for w in warnings), warnings
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        assert await (await conn.execute("SELECT extname FROM pg_extension WHERE extname = 'timescaledb'")).fetchall() == []
        kind = await (await conn.execute("SELECT relkind FROM pg_class WHERE relname = 'event_counts_5m'")).fetchone()
        assert kind == {"relkind": "r"}
        province, communes = await _tree(conn)
        await _insert(conn, communes, 20 * DAY, timedelta(minutes=1), 600)
        await _check_stats(conn, province)

    # The operator sees it in `ioc db upgrade`.
    app = typer.Typer()
    hub_cli.register(app)
    result = await asyncio.to_thread(CliRunner().invoke, app, ["db", "upgrade"], env={"IOC_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert "warning: timescaledb is installed but not in shared_preload_libraries" in result.output

    # TimescaleDB added later: preload, restart, upgrade converts the database in place.
    private_server.stop()
    private_server.configure("shared_preload_libraries = 'timescaledb'\n")
    private_server.start()
    warnings.clear()
    assert await upgrade(url, on_warning=warnings.append) == []
    assert any("converting events and metrics" in w for w in warnings), warnings
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        await _pause_scheduler(conn)
        hyper = await (await conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1")).fetchall()
        assert [r["hypertable_name"] for r in hyper] == ["events", "metrics"]
        assert (await (await conn.execute("SELECT count(*) AS n FROM events")).fetchone())["n"] == 600
        totals = await _check_stats(conn, province)
        await _run_job(conn, await _job(conn, "policy_refresh_continuous_aggregate", "event_counts_5m"))
        assert await _check_stats(conn, province) == totals and totals[30] == 600
        # Ingest still makes violations on the hypertable (the row trigger survived).
        await _insert(conn, communes, DAY, DAY - timedelta(minutes=5), 9, type_="traffic.red_light",
                      payload='{"violation": true}')
        assert (await (await conn.execute("SELECT count(*) AS n FROM violations")).fetchone())["n"] == 3
