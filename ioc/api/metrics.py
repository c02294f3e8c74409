"""KPI samples: `POST /api/v1/metrics` from other departments' systems, `GET` for walls."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from ioc.api.deps import CurrentUser, Db
from ioc.api.roles import MetricsWriter
from ioc.exceptions import PermissionDenied
from ioc.services import metrics, units
from ioc.services.metrics import Sample

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])


class SampleBatch(BaseModel):
    """`{"samples": [{"series", "ts", "value", "unit", "uom", "tags"}, ...]}`."""

    model_config = ConfigDict(extra="forbid")
    samples: list[Sample] = Field(min_length=1, max_length=1000)


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()][:50]


@router.post("", summary="Store KPI samples (admin, operator); units must be inside yours")
async def post_metrics(body: SampleBatch, user: MetricsWriter, db: Db) -> dict[str, int]:
    return {"stored": await metrics.add(db, body.samples, user.unit)}


@router.get("", summary="KPI samples in your units, newest first")
async def get_metrics(
    user: CurrentUser,
    db: Db,
    series: Annotated[str | None, Query(max_length=1000, description="series names, comma-separated")] = None,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> dict[str, list[dict[str, Any]]]:
    if unit is not None and not await units.in_scope(db, user.unit, unit):
        raise PermissionDenied(f"unit {unit!r} is outside your unit {user.unit!r}")
    items = await metrics.query(db, user.unit, series=_csv(series), unit=unit, since=since, until=until, limit=limit)
    return {"items": items}


@router.get("/latest", summary="Newest sample of every series and unit in your units (KPI tiles)")
async def latest_metrics(
    user: CurrentUser, db: Db, series: Annotated[str | None, Query(max_length=1000)] = None
) -> dict[str, list[dict[str, Any]]]:
    return {"items": await metrics.latest(db, user.unit, series=_csv(series) or None)}
