"""Events: edge ingest, search, one event, acknowledge, stats."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from psycopg import AsyncConnection
from fastapi.responses import JSONResponse
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ioc.api.deps import CurrentEdge, CurrentUser, Db
from ioc.api.roles import Acknowledger
from ioc.broker import LiveMessage
from contract.envelope import Event
from ioc.exceptions import InvalidInput, MalformedBody, PermissionDenied, TooLarge
from ioc.services import alarms, audit, events, evidence_arrival, units
from ioc.services.edges import Edge
from ioc.services.events import EventFilter, IngestResult

router = APIRouter(prefix="/api/v1", tags=["events"])


class EventBatch(BaseModel):
    """`{"events": [envelope, ...]}`, at most 1,000. Items are validated one by one, so
    one bad event is rejected with its reason and the others are still stored."""

    model_config = ConfigDict(extra="forbid")

    events: list[Any]


class EventPage(BaseModel):
    """A page of events, newest first; pass `next_cursor` as `cursor` for the next one."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class AckResponse(BaseModel):
    id: str
    by: str
    at: datetime
    changed: bool


def _csv(value: str | None, *, max_items: int = 50) -> list[str]:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    if len(items) > max_items:
        raise InvalidInput(f"at most {max_items} values in a list filter")
    return items


async def build_filter(
    db: AsyncConnection,
    scope: str,
    *,
    unit: str | None,
    types: str | None,
    camera: str | None,
    severity: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: str | None = None,
    plate: str | None = None,
    acknowledged: bool | None = None,
) -> EventFilter:
    """An EventFilter from query parameters; 403 when `unit` lies outside the caller's scope."""
    if unit is not None and not await units.in_scope(db, scope, unit):
        raise PermissionDenied(f"unit {unit!r} is outside your unit {scope!r}")
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} must carry a time zone, e.g. 2026-11-22T00:00:00Z")
    severities = _csv(severity)
    bad = [s for s in severities if s not in ("info", "warning", "critical")]
    if bad:
        raise InvalidInput(f"severity must be info, warning or critical (got {bad[0]!r})")
    return EventFilter(
        scope=scope, unit=unit, types=_csv(types), cameras=_csv(camera), severities=severities,
        since=since, until=until, text=q, plate=plate, acknowledged=acknowledged,
    )


class _ValidBatch(BaseModel):
    """The common case, validated in one pass by pydantic's JSON parser."""

    model_config = ConfigDict(extra="forbid")

    events: list[Event] = Field(max_length=events.MAX_BATCH)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 once it passes `limit` bytes (declared or sent)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request body of {declared} bytes exceeds {limit}; send smaller batches")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"request body exceeds {limit} bytes; send smaller batches")
        chunks.append(chunk)
    return b"".join(chunks)


async def _parse_batch(request: Request, edge: Edge) -> tuple[list[tuple[int, Event]], IngestResult]:
    body = await _read_body(request, events.MAX_BODY_BYTES)
    try:
        batch = _ValidBatch.model_validate_json(body)
    except ValidationError:
        pass  # something is wrong: find out what, event by event
    else:
        result = IngestResult()
        return events.check_batch(edge, list(enumerate(batch.events)), result), result
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBody(f"malformed JSON: {exc}") from exc
    try:
        raw = EventBatch.model_validate(data).events
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    if len(raw) > events.MAX_BATCH:
        raise TooLarge(f"a batch holds at most {events.MAX_BATCH} events (got {len(raw)}); split it")
    return events.validate_batch(edge, raw)


@router.post(
    "/events",
    response_model=IngestResult,
    summary="Ingest a batch of events (edge bearer token)",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "additionalProperties": False, "required": ["events"],
        "properties": {"events": {"type": "array", "maxItems": events.MAX_BATCH,
                                  "items": {"$ref": "#/components/schemas/Event"}}}}}}}},
    responses={
        400: {"description": "malformed JSON"},
        413: {"description": "more than 1,000 events, or a body over 32 MiB"},
        422: {"description": "every event was rejected (same body, plus `detail`), or the body is malformed"},
    },
)
async def post_events(request: Request, edge: CurrentEdge, db: Db) -> Response:
    state = request.app.state
    started = time.perf_counter()
    good, result = await _parse_batch(request, edge)
    result = await events.store(db, edge, good, result, publish=state.broker.publish)
    # Signed evidence manifests (review area): verify those whose file is already here.
    # Only events whose payload names an `evidence_manifest` can have one (the review
    # area's query selects exactly those); most batches carry none and skip the query.
    signed = {str(e.id) for _, e in good if "evidence_manifest" in e.payload}
    if signed:
        accepted = [i for i in result.accepted if i in signed]
        await evidence_arrival.after_events(db, state.settings.data_dir, edge.id, accepted)
    state.metrics.ingest_seconds.observe(time.perf_counter() - started)
    for name, items in (("accepted", result.accepted), ("duplicate", result.duplicates), ("rejected", result.rejected)):
        if items:
            state.metrics.ingested.labels(result=name).inc(len(items))
    if result.rejected and not result.accepted and not result.duplicates:
        # Nothing usable in the batch: a client error, with the per-event reasons.
        detail = f"every event was rejected; first: #{result.rejected[0].index}: {result.rejected[0].reason}"
        return JSONResponse(result.model_dump() | {"detail": detail}, status_code=422)
    # Serialised directly: up to 1,000 ids need no second validation against response_model.
    return Response(result.model_dump_json(), media_type="application/json")


@router.get("/events", response_model=EventPage, summary="Search events in your units, newest first")
async def get_events(
    user: CurrentUser,
    db: Db,
    types: Annotated[str | None, Query(max_length=1000, description="type prefixes, comma-separated")] = None,
    camera: Annotated[str | None, Query(max_length=2000, description="camera ids, comma-separated")] = None,
    unit: Annotated[str | None, Query(max_length=64, description="only this unit's subtree")] = None,
    severity: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[datetime | None, Query(description="ts >= since")] = None,
    until: Annotated[datetime | None, Query(description="ts < until")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="text anywhere in the payload")] = None,
    plate: Annotated[str | None, Query(min_length=1, max_length=20, description="part of payload.plate (indexed)")] = None,
    acknowledged: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> EventPage:
    flt = await build_filter(
        db, user.unit, unit=unit, types=types, camera=camera, severity=severity,
        since=since, until=until, q=q, plate=plate, acknowledged=acknowledged,
    )
    items, next_cursor = await events.search(db, flt, limit=limit, cursor=cursor)
    return EventPage(items=await alarms.attach(db, items), next_cursor=next_cursor)


@router.get("/events/{event_id}", summary="One event in your units")
async def get_event(event_id: uuid.UUID, user: CurrentUser, db: Db) -> dict[str, Any]:
    return (await alarms.attach(db, [events.item(await events.get_in_scope(db, event_id, user.unit))]))[0]


@router.post("/events/{event_id}/ack", response_model=AckResponse, summary="Acknowledge an event (pushed to every wall)")
async def acknowledge(event_id: uuid.UUID, request: Request, user: Acknowledger, db: Db) -> AckResponse:
    row, changed = await events.acknowledge(db, event_id, user.unit, user.username)
    if changed:
        await _acknowledged(request, db, user.username, row)
    return AckResponse(id=str(event_id), by=row["ack_by"], at=row["ack_at"], changed=changed)


async def _acknowledged(request: Request, db: AsyncConnection, by: str, row: dict[str, Any]) -> None:
    await audit.record(db, by, "event.ack", f"event:{row['id']}", {"type": row["type"], "unit": row["unit"]})
    scope = await units.ancestors(db, row["unit"])
    at = row["ack_at"].astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    message = {"type": "system.acknowledged", "id": str(row["id"]), "by": by, "at": at}
    await request.app.state.broker.publish([LiveMessage.system(message, scope=scope)])


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: str = Field(min_length=1, max_length=64, description="a username from GET .../assignees")


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=2000, description="what was done")


class AlarmResponse(BaseModel):
    id: str
    changed: bool
    alarm: dict[str, Any]


async def _alarm_changed(request: Request, db: AsyncConnection, by: str, action: str, row: dict[str, Any],
                         alarm: dict[str, Any], acked_now: bool) -> None:
    if acked_now:
        await _acknowledged(request, db, by, row)
    details = {"type": row["type"], "unit": row["unit"], "severity": row["severity"]}
    details |= {"assignee": alarm["assignee"]} if action == "event.assign" else {"note": alarm["note"]}
    await audit.record(db, by, action, f"event:{row['id']}", details)
    scope = await units.ancestors(db, row["unit"])
    message = {"type": "system.alarm", "id": str(row["id"]), "by": by, **alarm}
    await request.app.state.broker.publish([LiveMessage.system(message, scope=scope)])


@router.get("/events/{event_id}/assignees", summary="Who in your units may be assigned this alarm")
async def get_assignees(event_id: uuid.UUID, user: Acknowledger, db: Db) -> list[dict[str, Any]]:
    return await alarms.assignees(db, event_id, user.unit)


@router.post("/events/{event_id}/assign", response_model=AlarmResponse,
             summary="Assign a warning/critical event to a user (audited, pushed to every wall)")
async def assign(event_id: uuid.UUID, body: AssignRequest, request: Request, user: Acknowledger, db: Db) -> AlarmResponse:
    row, alarm, changed, acked_now = await alarms.assign(db, event_id, user.unit, user.username, body.assignee)
    if changed:
        await _alarm_changed(request, db, user.username, "event.assign", row, alarm, acked_now)
    return AlarmResponse(id=str(event_id), changed=changed, alarm=alarm)


@router.post("/events/{event_id}/resolve", response_model=AlarmResponse,
             summary="Resolve a warning/critical event with a note (audited, pushed to every wall)")
async def resolve(event_id: uuid.UUID, body: ResolveRequest, request: Request, user: Acknowledger, db: Db) -> AlarmResponse:
    row, alarm, changed, acked_now = await alarms.resolve(db, event_id, user.unit, user.username, body.note.strip() or body.note)
    if changed:
        await _alarm_changed(request, db, user.username, "event.resolve", row, alarm, acked_now)
    return AlarmResponse(id=str(event_id), changed=changed, alarm=alarm)


@router.get("/stats", summary="Event counts per type and per camera over a window (5-minute buckets)")
async def get_stats(
    user: CurrentUser,
    db: Db,
    since: datetime | None = None,
    until: datetime | None = None,
    window: Annotated[Literal["1h", "24h", "7d", "30d"], Query(description="used when since is absent")] = "24h",
    unit: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    scope = user.unit
    if unit is not None:
        if not await units.in_scope(db, user.unit, unit):
            raise PermissionDenied(f"unit {unit!r} is outside your unit {user.unit!r}")
        scope = unit
    until = until or datetime.now(timezone.utc)
    span = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
    since = since or until - span[window]
    if since.tzinfo is None or until.tzinfo is None:
        raise InvalidInput("since and until must carry a time zone")
    if since >= until:
        raise InvalidInput("since must be before until")
    return await events.stats(db, scope, since, until)
