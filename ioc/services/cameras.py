"""Cameras: declared by their edge, status from edge heartbeats, listed by unit scope.

Example::

    await declare(conn, edge, [CameraDecl(id="cam-01", name="Ngã tư A", unit="26734", lat=10.77, lon=106.70)])
    cams = await list_in_scope(conn, "01", offline_after_s=60)
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from contract.envelope import CODE_PATTERN
from ioc.exceptions import Conflict, InvalidInput, NotFound
from ioc.services.edges import Edge
from ioc.services.outbound import AllowList, check_preview_url

log = logging.getLogger(__name__)


class CameraDecl(BaseModel):
    """A camera as its edge declares it (`PUT /api/v1/edges/self/cameras`)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    unit: str = Field(pattern=CODE_PATTERN)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    enabled: bool = Field(True, description="false: declared but not opened (shown as disabled on the wall)")


class CameraStatus(BaseModel):
    """One camera's part of an edge heartbeat."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=CODE_PATTERN)
    status: Literal["online", "offline"]
    fps: float | None = Field(None, ge=0, le=1000)
    dropped: int | None = Field(None, ge=0)
    latency_ms: float | None = Field(None, ge=0, le=3_600_000)


class Camera(BaseModel):
    """A camera as API clients see it."""

    id: str
    name: str
    unit: str
    lat: float | None
    lon: float | None
    edge: str | None
    enabled: bool = True
    status: Literal["unknown", "online", "offline"]
    last_seen: datetime | None
    stats: dict[str, Any]


_COLUMNS = "c.id, c.name, c.unit, c.lat, c.lon, c.edge, c.enabled, c.status, c.last_seen, c.stats"
# A camera whose edge stopped sending heartbeats is offline, whatever it last reported.
_STATUS = (
    "CASE WHEN c.status = 'online' AND (c.last_seen IS NULL OR c.last_seen < now() - make_interval(secs => %(stale)s))"
    " THEN 'offline' ELSE c.status END AS status"
)


async def declare(conn: AsyncConnection, edge: Edge, cameras: list[CameraDecl]) -> list[str]:
    """Create or update the edge's cameras, all or nothing. Each camera's unit must be in
    the edge's subtree and its id must not belong to another edge."""
    ids = [c.id for c in cameras]
    if len(set(ids)) != len(ids):
        raise InvalidInput("camera ids repeat in the declaration")
    async with conn.transaction():
        units = {c.unit for c in cameras}
        cur = await conn.execute(
            "SELECT code FROM units WHERE code = ANY(%s) AND %s = ANY(ancestors)", (list(units), edge.unit)
        )
        allowed = {row["code"] for row in await cur.fetchall()}
        for cam in cameras:
            if cam.unit not in allowed:
                raise InvalidInput(f"camera {cam.id!r}: unit {cam.unit!r} is not inside edge unit {edge.unit!r}")
        cur = await conn.execute(
            "SELECT id, edge FROM cameras WHERE id = ANY(%s) AND edge IS DISTINCT FROM %s", (ids, edge.id)
        )
        taken = await cur.fetchall()
        if taken:
            raise Conflict(f"camera {taken[0]['id']!r} belongs to edge {taken[0]['edge']!r}")
        for cam in cameras:
            await conn.execute(
                "INSERT INTO cameras (id, name, unit, lat, lon, edge, enabled) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, unit = EXCLUDED.unit,"
                " lat = EXCLUDED.lat, lon = EXCLUDED.lon, edge = EXCLUDED.edge, enabled = EXCLUDED.enabled,"
                " updated_at = now()",
                (cam.id, cam.name, cam.unit, cam.lat, cam.lon, edge.id, cam.enabled),
            )
    return ids


async def heartbeat(conn: AsyncConnection, edge: Edge, statuses: list[CameraStatus]) -> list[dict[str, Any]]:
    """Apply camera statuses from an edge heartbeat; returns the changed cameras
    (`id`, `unit`, `status`, `last_seen`, `stats`) for the live stream. Cameras of other
    edges are ignored."""
    changed: list[dict[str, Any]] = []
    for st in statuses:
        stats = {"fps": st.fps, "dropped": st.dropped, "latency_ms": st.latency_ms}
        cur = await conn.execute(
            "UPDATE cameras SET status = %s, last_seen = now(), stats = %s WHERE id = %s AND edge = %s"
            " RETURNING id, unit, status, last_seen, stats",
            (st.status, Jsonb(stats), st.id, edge.id),
        )
        row = await cur.fetchone()
        if row is not None:
            changed.append(row)
    return changed


async def list_in_scope(conn: AsyncConnection, unit: str, *, offline_after_s: int) -> list[Camera]:
    """Cameras whose unit lies in the subtree of `unit`."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS.replace('c.status', _STATUS)} FROM cameras c JOIN units u ON u.code = c.unit"
        " WHERE %(unit)s = ANY(u.ancestors) ORDER BY c.unit, c.id",
        {"unit": unit, "stale": offline_after_s},
    )
    return [Camera.model_validate(row) for row in await cur.fetchall()]


async def get_in_scope(conn: AsyncConnection, camera_id: str, unit: str, *, offline_after_s: int) -> Camera:
    """One camera if it lies in the subtree of `unit`; NotFound otherwise (no existence leak)."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS.replace('c.status', _STATUS)} FROM cameras c JOIN units u ON u.code = c.unit"
        " WHERE c.id = %(id)s AND %(unit)s = ANY(u.ancestors)",
        {"id": camera_id, "unit": unit, "stale": offline_after_s},
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"camera {camera_id!r} not found")
    return Camera.model_validate(row)


async def preview_url(conn: AsyncConnection, camera_id: str, *, allow: AllowList) -> str | None:
    """Where the camera's edge serves its MJPEG preview, or None (none announced, or one
    that is not on the edge's own address nor allow-listed: the hub never fetches that)."""
    cur = await conn.execute(
        "SELECT e.id AS edge, e.preview_url, e.preview_from FROM cameras c JOIN edges e ON e.id = c.edge"
        " WHERE c.id = %s", (camera_id,)
    )
    row = await cur.fetchone()
    if row is None or not row["preview_url"]:
        return None
    try:
        check_preview_url(row["preview_url"], peer=row["preview_from"], allow=allow)
    except InvalidInput as exc:
        log.warning("edge %s: preview_url not followed: %s", row["edge"], exc)
        return None
    return f"{row['preview_url'].rstrip('/')}/{camera_id}.mjpg"


async def require(conn: AsyncConnection, camera_id: str) -> None:
    """NotFound unless the camera exists."""
    cur = await conn.execute("SELECT 1 FROM cameras WHERE id = %s", (camera_id,))
    if await cur.fetchone() is None:
        raise NotFound(f"camera {camera_id!r} not found")
