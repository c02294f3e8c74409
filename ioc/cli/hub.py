"""Hub commands: `ioc demo`, `ioc hub`, `ioc db upgrade`, `ioc user create`,
`ioc unit import`, `ioc edge register`, `ioc replay`.

Example::

    ioc db upgrade
    ioc unit import units.csv
    ioc user create --username op1 --password '...' --role operator --unit 26734
    ioc edge register --id edge-hcm-01 --unit 26734     # prints the token once
    ioc hub
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, Optional, TypeVar

import httpx
import psycopg
import typer
import uvicorn
from psycopg.rows import dict_row
from pydantic import ValidationError

from ioc.exceptions import DatabaseError, IocError
from ioc.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

db_app = typer.Typer(name="db", help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(name="user", help="Users who log in.", no_args_is_help=True)
unit_app = typer.Typer(name="unit", help="Administrative units.", no_args_is_help=True)


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        typer.secho(f"bad settings: {exc.errors()[0]['msg']}", fg="red", err=True)
        raise typer.Exit(2) from exc


def _database_url(settings: Settings) -> str:
    if not settings.database_url:
        typer.secho("IOC_DATABASE_URL is not set", fg="red", err=True)
        raise typer.Exit(2)
    return settings.database_url


def _run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine, turning hub errors into a red message and exit code 1."""
    try:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    except IocError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc


async def _connect(url: str) -> psycopg.AsyncConnection:
    try:
        return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to the database: {exc}") from exc


# ------------------------------------------------------------------ db / user / unit / edge


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (all numbered files in ioc/db/migrations)."""
    from ioc.db import upgrade

    url = _database_url(_settings(demo=True))

    def warn(text: str) -> None:
        # Fallbacks (no TimescaleDB, no pg_trgm) and conversions: the operator must see them.
        typer.secho(f"warning: {text}", fg="yellow", err=True)

    applied = _run(lambda: upgrade(url, on_warning=warn))
    typer.echo(f"applied migrations: {', '.join(f'{v:03d}' for v in applied)}" if applied else "database is up to date")


@user_app.command("create")
def user_create(
    username: str = typer.Option(..., help="login name"),
    password: str = typer.Option(..., help="at least 8 characters", prompt=True, hide_input=True),
    role: str = typer.Option(..., help="admin, operator, police, official or viewer"),
    unit: str = typer.Option(..., help="unit code; the user sees this unit's subtree"),
) -> None:
    """Create a user (audited as actor `cli`)."""
    from ioc.services import audit, users

    url = _database_url(_settings(demo=True))

    async def go() -> users.User:
        async with await _connect(url) as conn:
            user = await users.create(conn, username=username, password=password, role=role, unit=unit)
            await audit.record(conn, "cli", "user.create", f"user:{username}", {"role": role, "unit": unit})
            return user

    user = _run(go)
    typer.echo(f"created user {user.username} (id {user.id}, {user.role}, unit {user.unit})")


@unit_app.command("import")
def unit_import(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV: code,name,level,parent_code")) -> None:
    """Create or rename units from a CSV file, all or nothing."""
    from ioc.services import units

    url = _database_url(_settings(demo=True))

    async def go() -> tuple[int, int]:
        parsed = units.parse_csv(file.read_text(encoding="utf-8-sig"))
        async with await _connect(url) as conn:
            return await units.import_units(conn, parsed)

    created, updated = _run(go)
    typer.echo(f"units: {created} created, {updated} updated")


def edge_register(
    edge_id: str = typer.Option(..., "--id", help="edge id, e.g. edge-hcm-01"),
    unit: str = typer.Option(..., help="the edge may declare cameras in this unit's subtree"),
    rotate: bool = typer.Option(False, help="give an existing edge a new token (the old one stops working)"),
) -> None:
    """Register an edge worker and print its bearer token (shown once; only its hash is stored)."""
    from ioc.services import audit, edges

    url = _database_url(_settings(demo=True))

    async def go() -> str:
        async with await _connect(url) as conn:
            token = await edges.register(conn, edge_id, unit, rotate=rotate)
            await audit.record(conn, "cli", "edge.register", f"edge:{edge_id}", {"unit": unit, "rotate": rotate})
            return token

    token = _run(go)
    typer.echo(f"edge {edge_id} registered in unit {unit}. Its token (shown once, keep it secret):")
    typer.echo(token)


# ------------------------------------------------------------------ replay


def _read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    yield line_no, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise typer.BadParameter(f"{path}:{line_no}: not JSON ({exc})") from exc


def replay(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="one event envelope per line"),
    hub: str = typer.Option("http://127.0.0.1:8000", help="hub base URL"),
    token: str = typer.Option(..., help="edge bearer token", envvar="IOC_EDGE_TOKEN"),
    batch: int = typer.Option(500, min=1, max=1000, help="events per POST"),
    declare_cameras: bool = typer.Option(False, help="first declare the cameras named in the file for this edge"),
) -> None:
    """Post recorded events to a hub (testing, load). Re-running is safe: ids deduplicate."""
    events = [event for _, event in _read_jsonl(file)]
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=hub, headers=headers, timeout=60) as client:
        if declare_cameras:
            cams = {(e.get("camera"), e.get("unit")) for e in events if isinstance(e, dict)}
            body = {"cameras": [{"id": c, "name": c, "unit": u} for c, u in sorted(cams) if c and u]}
            r = client.put("/api/v1/edges/self/cameras", json=body)
            if r.status_code != 200:
                typer.secho(f"declaring cameras failed: {r.status_code} {r.text}", fg="red", err=True)
                raise typer.Exit(1)
        for start in range(0, len(events), batch):
            r = client.post("/api/v1/events", json={"events": events[start : start + batch]})
            if r.status_code != 200:
                typer.secho(f"batch at line {start + 1}: {r.status_code} {r.text}", fg="red", err=True)
                raise typer.Exit(1)
            result = r.json()
            for key in totals:
                totals[key] += len(result[key])
            for rej in result["rejected"][:5]:
                typer.secho(f"rejected #{start + rej['index']}: {rej['reason']}", fg="yellow", err=True)
    typer.echo(f"{len(events)} events: {totals['accepted']} accepted, {totals['duplicates']} duplicates, "
               f"{totals['rejected']} rejected")
    if totals["rejected"]:
        raise typer.Exit(1)


# ------------------------------------------------------------------ hub / demo


def hub(
    host: Optional[str] = typer.Option(None, help="bind address (IOC_HOST)"),
    port: Optional[int] = typer.Option(None, help="port (IOC_PORT)"),
) -> None:
    """Run the hub (migrates first). Needs IOC_DATABASE_URL and IOC_SECRET_KEY."""
    from ioc.api.app import create_app
    from ioc.api.slow_clients import BodyTimeout, server_limits

    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = _settings(**overrides)
    _database_url(settings)
    # No per-message deflate: events are small, and compressing each frame once per
    # client is most of the fan-out's CPU with a thousand walls.
    # No uvicorn proxy headers (it trusts 127.0.0.1 by default): create_app believes
    # X-Forwarded-For only from IOC_TRUSTED_PROXIES.
    # Slow clients are bounded: headers, body chunks and idle keep-alive (issue 8, item 14).
    uvicorn.run(BodyTimeout(create_app(settings)), host=settings.host, port=settings.port, log_level="info",
                timeout_graceful_shutdown=5, proxy_headers=False, ws_per_message_deflate=False, **server_limits())


class _DemoServer(uvicorn.Server):
    # Signals are handled by the demo, which also stops the edge and the relays.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def demo(
    port: int = typer.Option(8000, help="hub port"),
    data_dir: Optional[Path] = typer.Option(None, help="IOC_DATA_DIR: database, evidence, models"),
    source: Optional[str] = typer.Option(None, help="video file or rtsp:// URL for the demo camera"),
) -> None:
    """Run everything on this machine: embedded PostgreSQL (unless IOC_DATABASE_URL is
    set), a seeded demo province, the hub on 127.0.0.1, a demo edge and relays when
    available. Ctrl-C stops everything."""
    from ioc import demo as demo_mod
    from ioc.api.app import create_app
    from ioc.db import upgrade

    base = _settings(demo=True)
    data = (data_dir or base.data_dir).resolve()
    pg_server = None
    url = base.database_url
    try:
        if not url:
            typer.echo(f"starting embedded PostgreSQL under {data / 'pg'} ...")
            try:
                pg_server, url = demo_mod.start_embedded_postgres(data)
            except IocError as exc:
                typer.secho(str(exc), fg="red", err=True)
                raise typer.Exit(1) from exc
        # A fresh signing key per run: demo sessions end with the demo.
        settings = _settings(demo=True, database_url=url, data_dir=data, host="127.0.0.1", port=port,
                             secret_key=secrets.token_hex(32), migrate_on_start=False)
        _run(lambda: upgrade(url))  # type: ignore[arg-type]
        seed = _run(lambda: demo_mod.seed_demo(url))  # type: ignore[arg-type]
        asyncio.run(_serve_demo(create_app(settings), settings, seed, source))
    finally:
        if pg_server is not None:
            pg_server.cleanup()
            typer.echo("embedded PostgreSQL stopped")


async def _serve_demo(app: Any, settings: Settings, seed: Any, source: str | None) -> None:
    from ioc import demo as demo_mod
    from ioc.api.slow_clients import BodyTimeout, server_limits

    server = _DemoServer(uvicorn.Config(BodyTimeout(app), host=settings.host, port=settings.port, log_level="warning",
                                        timeout_graceful_shutdown=3, ws_per_message_deflate=False, proxy_headers=False,
                                        **server_limits()))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    if task.done():
        await task
        return
    hub_url = f"http://{settings.host}:{settings.port}"
    handles = await asyncio.to_thread(
        demo_mod.start_hooks, hub_url, settings.data_dir, seed, source, settings.database_url
    )
    meetings = "".join(f"  meeting:  {url}\n" for url in demo_mod.meeting_urls(hub_url, handles))
    typer.echo(
        "\nIOC demo is running (Ctrl-C stops everything)\n"
        f"  wall:     {hub_url}/wall/1\n"
        f"  console:  {hub_url}/console\n"
        f"  review:   {hub_url}/review   (traffic police desk)\n"
        f"{meetings}"
        f"  API docs: {hub_url}/docs\n"
        f"  admin    / {seed.admin_password}\n"
        f"  operator / {seed.operator_password}\n"
        f"  police   / {seed.police_password}\n"
        "  (passwords are new on every start and shown only here)\n"
    )
    try:
        await task
    finally:
        typer.echo("stopping ...")
        await asyncio.to_thread(demo_mod.stop_hooks, handles)


# ------------------------------------------------------------------ registration


def _edge_group(app: typer.Typer) -> typer.Typer:
    """The `edge` group ioc/cli/edge.py defines, or a new one when that module is absent."""
    for info in app.registered_groups:
        if info.name == "edge" and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(name="edge", help="Edge workers.", no_args_is_help=True)
    app.add_typer(group, name="edge")
    return group


def register(app: typer.Typer) -> None:
    """Add the hub's commands to the `ioc` app."""
    app.command("demo")(demo)
    app.command("hub")(hub)
    app.command("replay")(replay)
    app.add_typer(db_app, name="db")
    app.add_typer(user_app, name="user")
    app.add_typer(unit_app, name="unit")
    _edge_group(app).command("register")(edge_register)

