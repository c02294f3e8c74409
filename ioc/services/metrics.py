"""KPI samples from other departments' systems, shown beside the cameras on the wall.

Example::

    await add(conn, [Sample(series="dvc.on_time_rate", ts=now, value=97.5, unit="01", uom="%")])
    await latest(conn, scope="01")
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, field_validator

from contract.envelope import CODE_PATTERN
from ioc.exceptions import InvalidInput

SERIES_PATTERN = r"^[a-z0-9_.:-]{1,100}$"


class Sample(BaseModel):
    """One KPI sample.

    Example::

        Sample(series="dvc.on_time_rate", ts="2026-11-22T00:00:00Z", value=97.5, unit="01", uom="%")
    """

    model_config = ConfigDict(extra="forbid")

    series: str = Field(pattern=SERIES_PATTERN, description="dotted series name, e.g. dvc.on_time_rate")
    ts: datetime = Field(description="UTC time the value refers to")
    value: float = Field(allow_inf_nan=False)
    unit: str = Field(pattern=CODE_PATTERN, description="administrative unit the value is about")
    uom: str | None = Field(None, max_length=20, description="unit of measure shown on the tile, e.g. %")
    tags: dict[str, str] = Field(default_factory=dict, max_length=20)

    @field_validator("ts")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("ts must carry a time zone")
        return value.astimezone(timezone.utc)


async def add(conn: AsyncConnection, samples: list[Sample], scope: str) -> int:
    """Store samples (a re-sent sample replaces its value), all or nothing; every unit
    must lie inside `scope`."""
    units = sorted({s.unit for s in samples})
    cur = await conn.execute("SELECT code FROM units WHERE code = ANY(%s) AND %s = ANY(ancestors)", (units, scope))
    allowed = {row["code"] for row in await cur.fetchall()}
    outside = [u for u in units if u not in allowed]
    if outside:
        raise InvalidInput(f"unit {outside[0]!r} does not exist or is outside your unit {scope!r}")
    async with conn.transaction():
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO metrics (series, unit, ts, value, uom, tags) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (series, unit, ts) DO UPDATE SET value = EXCLUDED.value, uom = EXCLUDED.uom,"
                " tags = EXCLUDED.tags, received_at = now()",
                [(s.series, s.unit, s.ts, s.value, s.uom, Jsonb(s.tags)) for s in samples],
            )
    return len(samples)


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "series": row["series"],
        "unit": row["unit"],
        "ts": row["ts"].astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
        "value": row["value"],
        "uom": row["uom"],
        "tags": row["tags"],
    }


async def query(
    conn: AsyncConnection,
    scope: str,
    *,
    series: list[str],
    unit: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Samples inside `scope`, newest first."""
    clauses = ["m.unit IN (SELECT code FROM units WHERE %(scope)s = ANY(ancestors))"]
    params: dict[str, Any] = {"scope": scope, "limit": limit}
    if series:
        clauses.append("m.series = ANY(%(series)s)")
        params["series"] = series
    if unit:
        clauses.append("m.unit IN (SELECT code FROM units WHERE %(unit)s = ANY(ancestors))")
        params["unit"] = unit
    if since:
        clauses.append("m.ts >= %(since)s")
        params["since"] = since
    if until:
        clauses.append("m.ts < %(until)s")
        params["until"] = until
    cur = await conn.execute(
        f"SELECT m.series, m.unit, m.ts, m.value, m.uom, m.tags FROM metrics m WHERE {' AND '.join(clauses)}"
        " ORDER BY m.ts DESC LIMIT %(limit)s",
        params,
    )
    return [_row(r) for r in await cur.fetchall()]


async def latest(conn: AsyncConnection, scope: str, *, series: list[str] | None = None) -> list[dict[str, Any]]:
    """The newest sample of every (series, unit) inside `scope` — what KPI tiles show."""
    cur = await conn.execute(
        "SELECT DISTINCT ON (m.series, m.unit) m.series, m.unit, m.ts, m.value, m.uom, m.tags FROM metrics m"
        " WHERE m.unit IN (SELECT code FROM units WHERE %(scope)s = ANY(ancestors))"
        " AND (%(series)s::text[] IS NULL OR m.series = ANY(%(series)s))"
        " ORDER BY m.series, m.unit, m.ts DESC",
        {"scope": scope, "series": series or None},
    )
    return [_row(r) for r in await cur.fetchall()]
