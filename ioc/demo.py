"""`ioc demo`: an embedded PostgreSQL, a seeded demo province, the hub, and (when their
areas have shipped them) a demo edge worker and demo meeting relays.

The embedded database comes from the pip package `pgserver` (PostgreSQL binaries in a
wheel, no system packages). It listens on a Unix socket under `IOC_DATA_DIR/pg` only.
As root, pgserver runs the server as a system user `pgserver` it creates with `useradd`
(PostgreSQL refuses to run as root) and opens read/traverse permissions on the path to
the data folder; as a normal user it runs as that user and needs nothing else.

Example::

    server, url = start_embedded_postgres(Path("var"))
    await seed_demo(url)        # -> DemoSeed(admin_password=..., operator_password=..., ...)
    server.cleanup()
"""

from __future__ import annotations

import importlib
import inspect
import logging
import secrets
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ioc.exceptions import ConfigError, DatabaseError, NotFound
from ioc.services import audit, cameras, edges, metrics, units, users
from ioc.services.cameras import CameraDecl
from ioc.services.metrics import Sample
from ioc.services.units import Unit

log = logging.getLogger(__name__)

PROVINCE = "demo"
EDGE_ID = "edge-demo"
# province -> 2 districts -> 4 communes; fictional codes, Vietnamese names.
UNITS: list[tuple[str, str, str, str | None]] = [
    (PROVINCE, "Tỉnh Demo", "province", None),
    ("demo-01", "Thành phố Bình An", "district", PROVINCE),
    ("demo-02", "Huyện Hòa Lạc", "district", PROVINCE),
    ("demo-01-01", "Phường Bến Thành", "commune", "demo-01"),
    ("demo-01-02", "Phường Tân Định", "commune", "demo-01"),
    ("demo-02-01", "Xã Phú Hòa", "commune", "demo-02"),
    ("demo-02-02", "Xã Tân Phú", "commune", "demo-02"),
]
CAMERAS: list[tuple[str, str, str, float, float]] = [
    ("cam-demo-01", "Ngã tư Lê Lợi – Nguyễn Huệ", "demo-01-01", 10.7731, 106.7030),
    ("cam-demo-02", "Cầu Kiệu", "demo-01-02", 10.7904, 106.6887),
    ("cam-demo-03", "Chợ Phú Hòa", "demo-02-01", 10.9803, 106.6602),
    ("cam-demo-04", "Quốc lộ 13 – Km 21", "demo-02-02", 11.0142, 106.6521),
]


@dataclass
class DemoSeed:
    """What `seed_demo` created; the passwords and token exist nowhere else."""

    admin_password: str
    operator_password: str
    police_password: str
    edge_token: str
    units: list[str] = field(default_factory=list)


def start_embedded_postgres(data_dir: Path) -> tuple[Any, str]:
    """Start (or reuse) the embedded PostgreSQL under `data_dir/pg`; returns (server, url)."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, containers); harmless here.
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:
        raise ConfigError("the embedded database needs the pip package pgserver (pip install pgserver)") from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "pg").resolve()
    if len(str(pgdata)) > 90:  # the Unix socket path lives in pgdata; the OS limit is ~107 bytes
        raise ConfigError(f"IOC_DATA_DIR is too deep for a Unix socket ({pgdata}); use a shorter path")
    try:
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # pgserver raises bare Exceptions and subprocess errors
        raise DatabaseError(f"embedded PostgreSQL did not start under {pgdata}: {exc}") from exc
    return server, server.get_uri()


async def seed_demo(database_url: str) -> DemoSeed:
    """Create the demo province, cameras, KPI samples, `admin`, `operator` and `police` users and
    the demo edge. Idempotent: existing rows are kept, passwords and the edge token are
    renewed (so this run can print them)."""
    admin_pw, operator_pw, police_pw = (secrets.token_urlsafe(9) for _ in range(3))
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row)
    async with conn:
        await units.import_units(conn, [Unit(code=c, name=n, level=lv, parent_code=p) for c, n, lv, p in UNITS])
        demo_users = (("admin", "admin", admin_pw), ("operator", "operator", operator_pw), ("police", "police", police_pw))
        for username, role, password in demo_users:
            try:
                await users.get_by_username(conn, username)
                await conn.execute(
                    "UPDATE users SET password_hash = %s, role = %s, unit = %s WHERE username = %s",
                    (users.hash_password(password), role, PROVINCE, username),
                )
            except NotFound:  # first run
                await users.create(conn, username=username, password=password, role=role, unit=PROVINCE)
        await audit.record(conn, "ioc-demo", "user.demo_seed", "user:admin,operator,police", {"unit": PROVINCE})
        exists = await (await conn.execute("SELECT 1 FROM edges WHERE id = %s", (EDGE_ID,))).fetchone()
        token = await edges.register(conn, EDGE_ID, PROVINCE, rotate=exists is not None)
        edge = await edges.get(conn, EDGE_ID)
        await cameras.declare(conn, edge, [CameraDecl(id=i, name=n, unit=u, lat=la, lon=lo) for i, n, u, la, lo in CAMERAS])
        await metrics.add(conn, _kpi_samples(), PROVINCE)
    return DemoSeed(admin_password=admin_pw, operator_password=operator_pw, police_password=police_pw,
                    edge_token=token, units=[u[0] for u in UNITS])


def _kpi_samples() -> list[Sample]:
    """A week of daily KPI values like a provincial IOC shows beside its cameras."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = secrets.SystemRandom()
    samples = []
    for day in range(7):
        ts = today - timedelta(days=day)
        samples += [
            Sample(series="dvc.on_time_rate", ts=ts, value=round(rng.uniform(94, 99.5), 1), unit=PROVINCE, uom="%",
                   tags={"label": "Hồ sơ TTHC đúng hạn"}),
            Sample(series="dvc.online_applications", ts=ts, value=rng.randint(800, 1500), unit=PROVINCE,
                   uom="hồ sơ", tags={"label": "Hồ sơ trực tuyến"}),
            Sample(series="feedback.open", ts=ts, value=rng.randint(5, 40), unit=PROVINCE, uom="phản ánh",
                   tags={"label": "Phản ánh chưa xử lý"}),
        ]
    return samples


def _known_kwargs(func: Any, **extra: Any) -> dict[str, Any]:
    # Optional keyword arguments of another area's hook, passed only if it takes them.
    accepted = inspect.signature(func).parameters
    return {k: v for k, v in extra.items() if k in accepted}


def start_hooks(hub_url: str, data_dir: Path, seed: DemoSeed, source: str | None, database_url: str) -> list[Any]:
    """Start the demo edge and relays when their modules exist; returns handles to stop.
    A hook that fails is logged and left out: the hub demo works without it."""
    handles: list[Any] = []
    edge_demo = _optional("edge.demo")
    if edge_demo is not None:
        start = edge_demo.start_demo_edge
        kwargs = _known_kwargs(start, edge_id=EDGE_ID, camera_id=CAMERAS[0][0], unit=CAMERAS[0][2],
                               camera_name=CAMERAS[0][1], lat=CAMERAS[0][3], lon=CAMERAS[0][4])
        try:
            handles.append(start(hub_url, seed.edge_token, data_dir, source, **kwargs))
        except Exception as exc:
            log.error("demo edge did not start: %s", exc)
    relays = _optional("ioc.demo_relays")
    if relays is not None:
        start = relays.start_demo_relays
        try:
            handles.append(start(hub_url, data_dir, **_known_kwargs(start, database_url=database_url)))
        except Exception as exc:
            log.error("demo relays did not start: %s", exc)
    return handles


def meeting_urls(hub_url: str, handles: list[Any]) -> list[str]:
    """Addresses of demo meeting pages, from handles that expose a `meeting` id."""
    return [f"{hub_url}/meet/{h.meeting}" for h in handles if getattr(h, "meeting", None)]


def stop_hooks(handles: list[Any]) -> None:
    """Stop in reverse start order; one failure does not keep the others running."""
    for handle in reversed(handles):
        try:
            handle.stop()
        except Exception as exc:
            log.error("stopping %r failed: %s", handle, exc)


def _optional(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            return None  # that area has not shipped its demo yet
        log.error("%s is present but cannot be imported: %s", name, exc)
        return None
