"""Events: idempotent bulk ingest, search with cursor pagination, resume, acknowledge.

Ingest (DESIGN.md "Storage"): validate each envelope on its own (one bad event does not
reject the others); one `INSERT ... ON CONFLICT DO NOTHING RETURNING` into `event_keys`
(the batch's ids as arrays) decides which ids are new and gives them their receive
sequence; only the new events are then written with COPY, straight into `events` (and
their evidence links into `event_evidence`), so each row is written once. Commit and
publish happen under one advisory lock, so every hub process commits and publishes
events in `rx_seq` order: a websocket client that resumes "after rx_seq N" can never
miss an event that committed late with a smaller number.

Example::

    result = await ingest(conn, edge, [envelope_dict, ...], publish=broker.publish)
    result.accepted, result.duplicates, result.rejected
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

import pydantic_core
from psycopg import AsyncConnection
from psycopg.rows import tuple_row
from pydantic import BaseModel, ValidationError

from ioc.broker import LiveMessage
from contract.envelope import Event
from contract.storable import MAX_PAYLOAD_DEPTH, text_problem, value_problem
from ioc.exceptions import BrokerError, InvalidInput, NotFound, TooLarge
from ioc.services.edges import Edge

log = logging.getLogger(__name__)

MAX_BATCH = 1000
MAX_EVENT_BYTES = 256 * 1024
"""Largest payload (as compact JSON) one event may carry; pictures travel as evidence files."""
MAX_BODY_BYTES = 32 * 2**20
"""Largest `POST /api/v1/events` body (413 above it): 1,000 ordinary events are well under 2 MB."""
MAX_FUTURE = timedelta(minutes=5)
"""How far ahead of the hub's clock an event's `ts` may be (edge clocks drift, a little)."""
MAX_AGE = timedelta(days=400)
"""How old an event's `ts` may be: the events retention window (009_timeseries.sql); older
events would be dropped by retention at once, and a year-1 time heads every oldest-first list."""
# Advisory lock serialising commit+publish of events (and evidence arrival); any
# constant works, it only has to be the same in every hub process.
INGEST_LOCK = 0x10C_E7_01

Publish = Callable[[list[LiveMessage]], Awaitable[None]]


class Rejection(BaseModel):
    """Why one event of a batch was not stored."""

    index: int
    id: str | None
    reason: str


class IngestResult(BaseModel):
    """Answer of `POST /api/v1/events`."""

    accepted: list[str] = []
    duplicates: list[str] = []
    rejected: list[Rejection] = []


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def validate_batch(edge: Edge, raw: list[Any]) -> tuple[list[tuple[int, Event]], IngestResult]:
    """Split a raw batch into valid events (with their index) and rejections/duplicates
    that need no database (malformed, wrong edge, id repeated inside the batch)."""
    result = IngestResult()
    parsed: list[tuple[int, Event]] = []
    for index, item in enumerate(raw):
        raw_id = item.get("id") if isinstance(item, dict) else None
        shown_id = str(raw_id)[:64] if raw_id is not None else None
        if not isinstance(item, dict):
            result.rejected.append(Rejection(index=index, id=None, reason="event must be a JSON object"))
            continue
        try:
            parsed.append((index, Event.model_validate(item)))
        except ValidationError as exc:
            result.rejected.append(Rejection(index=index, id=shown_id, reason=_reason(exc)))
    good = check_batch(edge, parsed, result)
    result.rejected.sort(key=lambda r: r.index)
    return good, result


def check_batch(edge: Edge, parsed: list[tuple[int, Event]], result: IngestResult) -> list[tuple[int, Event]]:
    """Reject events of another edge and mark ids repeated inside the batch as duplicates."""
    good: list[tuple[int, Event]] = []
    seen: set[uuid.UUID] = set()
    for index, event in parsed:
        if event.edge != edge.id:
            reason = f"edge {event.edge!r} does not match the token's edge {edge.id!r}"
            result.rejected.append(Rejection(index=index, id=str(event.id), reason=reason))
        elif event.id in seen:
            result.duplicates.append(str(event.id))
        else:
            seen.add(event.id)
            good.append((index, event))
    return good


async def _camera_checks(
    conn: AsyncConnection, edge: Edge, good: list[tuple[int, Event]], result: IngestResult
) -> tuple[list[tuple[int, Event]], dict[str, list[str]]]:
    cams = sorted({e.camera for _, e in good})
    cur = await conn.execute(
        "SELECT c.id, c.unit, c.edge, u.ancestors FROM cameras c JOIN units u ON u.code = c.unit WHERE c.id = ANY(%s)",
        (cams,),
    )
    known = {row["id"]: row for row in await cur.fetchall()}
    kept: list[tuple[int, Event]] = []
    scopes: dict[str, list[str]] = {}
    for index, event in good:
        cam = known.get(event.camera)
        if cam is None or cam["edge"] != edge.id:
            reason = f"camera {event.camera!r} is not declared by edge {edge.id!r} (PUT /api/v1/edges/self/cameras)"
        elif cam["unit"] != event.unit:
            reason = f"unit {event.unit!r} is not the unit {cam['unit']!r} of camera {event.camera!r}"
        else:
            kept.append((index, event))
            scopes[event.unit] = cam["ancestors"]
            continue
        result.rejected.append(Rejection(index=index, id=str(event.id), reason=reason))
    return kept, scopes


# New ids get their receive sequence here; known ids are skipped (the idempotency check).
_KEYS = (
    "INSERT INTO event_keys (id, ts, rx_seq)"
    " SELECT k.id, k.ts, nextval('event_rx_seq')"
    # Ids and times travel as two comma-joined strings: adapting 500-element Python lists
    # as arrays costs more than the whole insert.
    " FROM unnest(string_to_array(%s, ',')::uuid[], string_to_array(%s, ',')::timestamptz[])"
    " WITH ORDINALITY AS k(id, ts, ord) ORDER BY k.ord"
    " ON CONFLICT (id) DO NOTHING RETURNING id::text, rx_seq"
)
_COPY_EVENTS = (
    "COPY events (rx_seq, id, edge, seq, camera, unit, type, severity, ts, payload, evidence, complete) FROM STDIN"
)
_COPY_EVIDENCE = "COPY event_evidence (event_id, event_ts, sha256, kind, unit) FROM STDIN"


def _to_json(value: Any) -> str:
    # Compact JSON, non-ASCII kept as is; pydantic-core's serialiser is ~5x faster than
    # the stdlib encoder for a small payload. NaN/Infinity come out as bare constants,
    # which `_storable` looks for (they never reach the database: jsonb refuses them).
    return pydantic_core.to_json(value, inf_nan_mode="constants").decode()


def _storable(
    good: list[tuple[int, Event]], result: IngestResult
) -> tuple[list[tuple[int, Event]], dict[int, str]]:
    """Reject, one by one, events PostgreSQL could not store; the payload JSON of the others.

    The common case costs a few scans of the payload's JSON text: only a text that holds
    an escaped NUL, a NaN/Infinity constant or many brackets is walked in full (a string
    that merely contains "NaN" is walked, found fine and kept)."""
    kept: list[tuple[int, Event]] = []
    texts: dict[int, str] = {}
    now = datetime.now(timezone.utc)
    for index, event in good:
        problem = _time_problem(event.ts, now)
        if problem:
            result.rejected.append(Rejection(index=index, id=str(event.id), reason=problem))
            continue
        try:
            text = _to_json(event.payload)
        except pydantic_core.PydanticSerializationError:
            text = ""
            problem = value_problem(event.payload) or "payload cannot be written as JSON"
        else:
            if ("\\u0000" in text or "NaN" in text or "Infinity" in text
                    or text.count("{") + text.count("[") > MAX_PAYLOAD_DEPTH):
                problem = value_problem(event.payload)
        if problem:
            problem = f"payload.{problem}"
        elif len(text) > MAX_EVENT_BYTES // 4 and len(text.encode()) > MAX_EVENT_BYTES:
            problem = (f"payload: {len(text.encode())} bytes of JSON, more than the {MAX_EVENT_BYTES} an event may"
                       " carry (send pictures and clips as evidence files)")
        else:
            for n, ref in enumerate(event.evidence):
                for name in ("kind", "mime"):
                    bad = text_problem(getattr(ref, name))
                    if bad:
                        problem = f"evidence.{n}.{name}: {bad}"
                        break
                if problem:
                    break
        if problem:
            result.rejected.append(Rejection(index=index, id=str(event.id), reason=problem))
        else:
            kept.append((index, event))
            texts[index] = text
    return kept, texts


def _time_problem(ts: datetime, now: datetime) -> str | None:
    """Why an event time is out of bounds (issue 8, item 10), or None."""
    if ts > now + MAX_FUTURE:
        return (f"ts: {ts.isoformat()} is more than {int(MAX_FUTURE.total_seconds() // 60)} minutes ahead of the"
                " hub's clock (check the edge's clock)")
    if ts < now - MAX_AGE:
        return f"ts: {ts.isoformat()} is older than {MAX_AGE.days} days (the events retention window)"
    return None


def _copy_escape(text: str) -> str:
    # COPY text format escapes backslash, tab, newline and CR. JSON text never holds raw
    # tabs or newlines (the encoder escapes them), so only backslashes need doubling.
    return text.replace("\\", "\\\\") if "\\" in text else text


_COPY_FIELD_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(text: str) -> str:
    # A free-text value (an evidence kind) as one COPY text-format field.
    return text.translate(_COPY_FIELD_ESCAPES)


@dataclass(slots=True)
class _Prepared:
    """One event made ready for storage before the ingest lock is taken, so that the
    lock is held only for database work: its id and time as text, its COPY line without
    the receive sequence and the completeness flag (both known only under the lock), its
    evidence link lines and its live frame."""

    index: int
    event: Event
    event_id: str
    ts: str
    copy_middle: str
    evidence_lines: str
    frame: str


def _prepare(good: list[tuple[int, Event]], payloads: dict[int, str]) -> list[_Prepared]:
    # COPY text format: only the JSON columns can hold characters COPY escapes
    # (`_copy_escape`); ids, codes and types are pattern-checked by `contract.Event`,
    # and no value is NULL. Formatted here because psycopg's per-row `write_row` costs
    # more than the database work for a 500-event batch. The live frame is assembled
    # from the same pieces (the pattern-checked strings need no JSON escaping): a second
    # serialisation through `model_dump_json` cost more than validating the event.
    prepared = []
    for index, e in good:
        event_id, ts = str(e.id), e.ts.isoformat()
        payload_json = payloads[index]
        if e.evidence:
            evidence_json = _to_json([{"sha256": r.sha256, "kind": r.kind, "mime": r.mime} for r in e.evidence])
            links = "".join(
                f"{event_id}\t{ts}\t{sha}\t{_copy_field(kind)}\t{e.unit}\n"
                for sha, kind in {r.sha256: r.kind for r in e.evidence}.items()  # one row per file per event
            )
        else:  # most events: nothing to serialise
            evidence_json, links = "[]", ""
        middle = "\t".join((event_id, e.edge, str(e.seq), e.camera, e.unit, e.type, e.severity, ts,
                            _copy_escape(payload_json), _copy_escape(evidence_json)))
        frame = (
            f'{{"id":"{event_id}","edge":"{e.edge}","seq":{e.seq},"camera":"{e.camera}","unit":"{e.unit}",'
            f'"type":"{e.type}","severity":"{e.severity}","ts":"{ts.replace("+00:00", "Z")}",'
            f'"payload":{payload_json},"evidence":{evidence_json}}}'
        )
        prepared.append(_Prepared(index, e, event_id, ts, middle, links, frame))
    return prepared


# Evidence files an edge may not name: stored, but whose bytes neither it nor an edge of
# its units uploaded (050_evidence_uploads.sql), and named by no event of its units.
# Naming such a file would put another unit's evidence into this edge's units' scope
# (GET /api/v1/evidence is scoped by the units of the events that name a file).
_FOREIGN_EVIDENCE = (
    "SELECT f.sha256 FROM evidence_files f"
    " WHERE f.sha256 = ANY(string_to_array(%(wanted)s, ','))"
    " AND NOT EXISTS (SELECT 1 FROM evidence_uploads up JOIN edges o ON o.id = up.edge"
    "                 JOIN units u ON u.code = o.unit WHERE up.sha256 = f.sha256 AND %(unit)s = ANY(u.ancestors))"
    " AND NOT EXISTS (SELECT 1 FROM event_evidence x JOIN units u ON u.code = x.unit"
    "                 WHERE x.sha256 = f.sha256 AND %(unit)s = ANY(u.ancestors))"
)


async def _refuse_foreign_evidence(
    conn: AsyncConnection, edge: Edge, batch: list["_Prepared"], wanted: str, result: IngestResult
) -> list["_Prepared"]:
    cur = await conn.execute(_FOREIGN_EVIDENCE, {"wanted": wanted, "edge": edge.id, "unit": edge.unit})
    foreign = {row["sha256"] for row in await cur.fetchall()}
    if not foreign:
        return batch
    kept = []
    for p in batch:
        named = sorted({r.sha256 for r in p.event.evidence} & foreign)
        if named:
            reason = (f"evidence {named[0]} was not uploaded by this edge (nor by an edge of its units):"
                      " an event may name only evidence its edge uploaded (PUT /api/v1/evidence first)")
            result.rejected.append(Rejection(index=p.index, id=p.event_id, reason=reason))
        else:
            kept.append(p)
    return kept


async def ingest(conn: AsyncConnection, edge: Edge, raw: list[Any], *, publish: Publish) -> IngestResult:
    """Validate and store a raw batch from `edge`; publish the new events in receive order."""
    if len(raw) > MAX_BATCH:
        raise TooLarge(f"a batch holds at most {MAX_BATCH} events (got {len(raw)}); split it")
    good, result = validate_batch(edge, raw)
    return await store(conn, edge, good, result, publish=publish)


async def store(
    conn: AsyncConnection, edge: Edge, good: list[tuple[int, Event]], result: IngestResult, *, publish: Publish
) -> IngestResult:
    """Store already validated events (index in the batch, event) and publish the new ones."""
    if len(good) > MAX_BATCH:
        raise TooLarge(f"a batch holds at most {MAX_BATCH} events (got {len(good)}); split it")
    payloads: dict[int, str] = {}
    if good:
        good, payloads = _storable(good, result)
    if good:
        good, scopes = await _camera_checks(conn, edge, good, result)
    if not good:
        result.rejected.sort(key=lambda r: r.index)
        return result
    batch = _prepare(good, payloads)
    wanted = ",".join(sorted({r.sha256 for _, e in good for r in e.evidence}))
    await conn.execute("SELECT pg_advisory_lock(%s)", (INGEST_LOCK,))
    try:
        async with conn.transaction():
            if wanted:
                # Under the lock, before any id is taken: an event may name only evidence
                # of its own edge's units (a refused event keeps its id unused).
                batch = await _refuse_foreign_evidence(conn, edge, batch, wanted, result)
            stored: dict[str, int] = {}
            if batch:
                ids = ",".join(p.event_id for p in batch)
                times = ",".join(p.ts for p in batch)
                # Plain tuples with the id as text: a dict row and a uuid.UUID per returned
                # row cost more than the insert itself.
                async with conn.cursor(row_factory=tuple_row) as keys_cur:
                    await keys_cur.execute(_KEYS, (ids, times))
                    stored = dict(await keys_cur.fetchall())
            new = [p for p in batch if p.event_id in stored]
            if new:
                present: set[str] = set()
                if wanted:  # under the lock: evidence arrival takes it too
                    cur = await conn.execute(
                        "SELECT sha256 FROM evidence_files WHERE sha256 = ANY(string_to_array(%s, ','))", (wanted,)
                    )
                    present = {row["sha256"] for row in await cur.fetchall()}
                lines = "".join(
                    f"{stored[p.event_id]}\t{p.copy_middle}\t"
                    f"{'t' if not p.event.evidence or all(r.sha256 in present for r in p.event.evidence) else 'f'}\n"
                    for p in new
                )
                links = "".join(p.evidence_lines for p in new)
                async with conn.cursor() as copy_cur:
                    async with copy_cur.copy(_COPY_EVENTS) as copy:
                        await copy.write(lines.encode())
                    if links:
                        async with copy_cur.copy(_COPY_EVIDENCE) as copy:
                            await copy.write(links.encode())
        unit_scopes = {unit: tuple(ancestors) for unit, ancestors in scopes.items()}
        messages = [
            LiveMessage(stored[p.event_id], p.event.type, p.event.camera, unit_scopes[p.event.unit], p.frame)
            for p in sorted(new, key=lambda p: stored[p.event_id])
        ]
        try:
            await publish(messages)
        except BrokerError as exc:
            # Stored is what matters to the edge; live clients catch up from the
            # database when they reconnect with their last id.
            log.error("stored %d events but could not publish them live: %s", len(messages), exc)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (INGEST_LOCK,))
    for p in batch:
        (result.accepted if p.event_id in stored else result.duplicates).append(p.event_id)
    result.rejected.sort(key=lambda r: r.index)
    return result


# ---------------------------------------------------------------- reading


_COLUMNS = (
    "e.id, e.edge, e.seq, e.camera, e.unit, e.type, e.severity, e.ts, e.payload, e.evidence,"
    " e.complete, e.received_at, e.ack_by, e.ack_at, e.rx_seq"
)


def _iso(ts: datetime | None) -> str | None:
    return ts.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if ts else None


def envelope(row: dict[str, Any]) -> dict[str, Any]:
    """The wire-form envelope of a stored event (exactly the fields of `contract.Event`)."""
    return {
        "id": str(row["id"]),
        "edge": row["edge"],
        "seq": row["seq"],
        "camera": row["camera"],
        "unit": row["unit"],
        "type": row["type"],
        "severity": row["severity"],
        "ts": _iso(row["ts"]),
        "payload": row["payload"],
        "evidence": row["evidence"],
    }


def item(row: dict[str, Any]) -> dict[str, Any]:
    """An event as `GET /api/v1/events` lists it: the envelope plus hub-side state."""
    return envelope(row) | {
        "complete": row["complete"],
        "received_at": _iso(row["received_at"]),
        "ack_by": row["ack_by"],
        "ack_at": _iso(row["ack_at"]),
    }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_prefix(prefix: str) -> str:
    return _escape_like(prefix) + "%"


@dataclass
class EventFilter:
    """What a search or a live subscription selects. `scope` is the caller's unit (always
    enforced); `unit` narrows to a subtree inside it.

    Example::

        EventFilter(scope="01", types=["traffic."], text="59-X1")
    """

    scope: str
    unit: str | None = None
    types: list[str] = field(default_factory=list)
    cameras: list[str] = field(default_factory=list)
    severities: list[str] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    plate: str | None = None
    acknowledged: bool | None = None

    def where(self) -> tuple[str, dict[str, Any]]:
        """SQL conditions (over alias `e`) and their parameters."""
        clauses = ["e.unit IN (SELECT code FROM units WHERE %(scope)s = ANY(ancestors))"]
        params: dict[str, Any] = {"scope": self.scope}
        if self.unit:
            clauses.append("e.unit IN (SELECT code FROM units WHERE %(unit)s = ANY(ancestors))")
            params["unit"] = self.unit
        if self.types:
            clauses.append("e.type LIKE ANY(%(types)s)")
            params["types"] = [_like_prefix(t) for t in self.types]
        if self.cameras:
            clauses.append("e.camera = ANY(%(cameras)s)")
            params["cameras"] = self.cameras
        if self.severities:
            clauses.append("e.severity = ANY(%(severities)s)")
            params["severities"] = self.severities
        if self.since:
            clauses.append("e.ts >= %(since)s")
            params["since"] = self.since
        if self.until:
            clauses.append("e.ts < %(until)s")
            params["until"] = self.until
        if self.text:
            # Parameters, never string building: SQL-looking text is just text here.
            clauses.append("e.payload::text ILIKE %(text)s")
            params["text"] = "%" + _escape_like(self.text) + "%"
        if self.plate:
            # Matches the partial trigram index of migration 010.
            clauses.append("e.payload ? 'plate' AND e.payload->>'plate' ILIKE %(plate)s")
            params["plate"] = "%" + _escape_like(self.plate) + "%"
        if self.acknowledged is not None:
            clauses.append("(e.ack_by IS NOT NULL) = %(acked)s")
            params["acked"] = self.acknowledged
        return " AND ".join(clauses), params


def encode_cursor(ts: datetime, event_id: uuid.UUID) -> str:
    """An opaque cursor for keyset pagination over (ts, id) descending."""
    return base64.urlsafe_b64encode(f"{ts.isoformat()}|{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Inverse of `encode_cursor`; InvalidInput for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, event_id = raw.split("|")
        return datetime.fromisoformat(ts), uuid.UUID(event_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this API returned") from exc


async def search(
    conn: AsyncConnection, flt: EventFilter, *, limit: int = 100, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; returns the page and the cursor of the next page (None at the end)."""
    where, params = flt.where()
    if cursor:
        params["cts"], params["cid"] = decode_cursor(cursor)
        where += " AND (e.ts, e.id) < (%(cts)s, %(cid)s)"
    params["limit"] = limit + 1
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM events e WHERE {where} ORDER BY e.ts DESC, e.id DESC LIMIT %(limit)s", params
    )
    rows = await cur.fetchall()
    next_cursor = encode_cursor(rows[limit - 1]["ts"], rows[limit - 1]["id"]) if len(rows) > limit else None
    return [item(r) for r in rows[:limit]], next_cursor


async def rx_of(conn: AsyncConnection, event_id: uuid.UUID) -> int | None:
    """The receive sequence of an event id, or None when the hub never stored it."""
    cur = await conn.execute("SELECT rx_seq FROM event_keys WHERE id = %s", (event_id,))
    row = await cur.fetchone()
    return int(row["rx_seq"]) if row else None


async def after(conn: AsyncConnection, flt: EventFilter, rx: int, *, limit: int = 500) -> list[tuple[int, str]]:
    """Events received after `rx_seq` that match, in receive order: (rx_seq, JSON frame)."""
    where, params = flt.where()
    params |= {"rx": rx, "limit": limit}
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM events e WHERE e.rx_seq > %(rx)s AND {where} ORDER BY e.rx_seq LIMIT %(limit)s",
        params,
    )
    return [(r["rx_seq"], json.dumps(envelope(r), separators=(",", ":"), ensure_ascii=False)) for r in await cur.fetchall()]


async def get_in_scope(conn: AsyncConnection, event_id: uuid.UUID, scope: str) -> dict[str, Any]:
    """One event the caller may see; NotFound otherwise (no existence leak)."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM events e JOIN event_keys k ON k.id = e.id AND k.ts = e.ts"
        " WHERE e.id = %(id)s AND e.unit IN (SELECT code FROM units WHERE %(scope)s = ANY(ancestors))",
        {"id": event_id, "scope": scope},
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"event {event_id} not found")
    return row


async def acknowledge(conn: AsyncConnection, event_id: uuid.UUID, scope: str, by: str) -> tuple[dict[str, Any], bool]:
    """Mark an event acknowledged once; returns (event row, changed now)."""
    row = await get_in_scope(conn, event_id, scope)
    if row["ack_by"] is not None:
        return row, False
    cur = await conn.execute(
        f"UPDATE events e SET ack_by = %(by)s, ack_at = now() WHERE e.id = %(id)s AND e.ts = %(ts)s"
        f" AND e.ack_by IS NULL RETURNING {_COLUMNS}",
        {"by": by, "id": event_id, "ts": row["ts"]},
    )
    updated = await cur.fetchone()
    if updated is None:  # someone else acknowledged it in between
        return await get_in_scope(conn, event_id, scope), False
    return updated, True


async def stats(conn: AsyncConnection, scope: str, since: datetime, until: datetime) -> dict[str, Any]:
    """Event counts per type and per camera over [since, until), in 5-minute buckets."""
    params = {"scope": scope, "since": since, "until": until}
    base = (
        " FROM event_counts_5m c WHERE c.bucket >= date_bin(INTERVAL '5 minutes', %(since)s::timestamptz,"
        " TIMESTAMPTZ '2000-01-01') AND c.bucket < %(until)s"
        " AND c.unit IN (SELECT code FROM units WHERE %(scope)s = ANY(ancestors))"
    )
    by_type = await (await conn.execute(f"SELECT c.type AS k, sum(c.n)::bigint AS n {base} GROUP BY 1", params)).fetchall()
    by_cam = await (await conn.execute(f"SELECT c.camera AS k, sum(c.n)::bigint AS n {base} GROUP BY 1", params)).fetchall()
    return {
        "since": _iso(since),
        "until": _iso(until),
        "total": sum(r["n"] for r in by_type),
        "by_type": {r["k"]: r["n"] for r in sorted(by_type, key=lambda r: -r["n"])},
        "by_camera": {r["k"]: r["n"] for r in sorted(by_cam, key=lambda r: -r["n"])},
    }
