"""Proposed traffic violations and the police decision on each (the review desk).

A camera only proposes; a named officer decides. Rows are created by a trigger on
`events` (030_violations.sql) for every `traffic.*` event with a signed evidence manifest.
Everything here is scoped to the officer's unit subtree and audited by the caller's name:
a view, a plate edit, a decision, an export and a plate search each leave an audit row.

Deadlines: the owner must be identified within `DEADLINE_DAYS` of detection; the desk
warns from `WARN_AFTER_DAYS` and shows overdue items.

Example::

    page = await queue(conn, officer, QueueFilter(state="proposed"))
    detail = await view(conn, officer, page.items[0].event_id)
    await edit_plate(conn, officer, detail.event_id, "51F-123.45")
    await decide(conn, officer, detail.event_id, Decision(decision="confirm"))
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from psycopg import AsyncConnection
from pydantic import BaseModel, Field, field_validator

from contract.exceptions import PlateFormatError
from contract.plates.grammar import parse_plate
from contract.config import ConfigModel
from ioc.exceptions import Conflict, InvalidInput, NotFound, PermissionDenied
from ioc.services import audit, evidence
from ioc.services.users import User

DEADLINE_DAYS = 10
WARN_AFTER_DAYS = 7
REVIEW_ROLES = frozenset({"admin", "police"})
State = Literal["proposed", "confirmed", "rejected"]
DeadlineStatus = Literal["ok", "warning", "overdue", "closed"]

_SCOPE_SQL = "v.unit IN (SELECT code FROM units WHERE %(scope)s = ANY(ancestors))"
_COLUMNS = (
    "v.event_id, v.event_ts, v.edge, v.camera, v.unit, v.type, v.detected_at, v.deadline, v.state,"
    " v.plate_read, v.plate_confidence, v.plate_candidates, v.plate, v.plate_edited_by, v.plate_edited_at,"
    " v.decided_by, v.decided_at, v.reason, v.exported_at,"
    " c.name AS camera_name, c.lat, c.lon, u.name AS unit_name"
)
_FROM = " FROM violations v LEFT JOIN cameras c ON c.id = v.camera LEFT JOIN units u ON u.code = v.unit"


class QueueFilter(ConfigModel):
    """Filters of the review queue; all optional."""

    state: State | None = Field(default="proposed", description="proposed, confirmed or rejected; None for all")
    camera: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    type: str | None = Field(default=None, max_length=100, pattern=r"^traffic(\.[a-z0-9_]+)*\.?$")
    since: datetime | None = Field(default=None, description="detected at or after")
    until: datetime | None = Field(default=None, description="detected before")
    deadline: DeadlineStatus | None = Field(default=None, description="only items in this deadline status")
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=200, description="from the previous page")


class Decision(ConfigModel):
    """An officer's decision; a rejection needs a reason."""

    decision: Literal["confirm", "reject"] = Field(description="confirm or reject the proposed violation")
    reason: str | None = Field(default=None, max_length=2000, description="required when rejecting")

    @field_validator("reason")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class PlateEdit(ConfigModel):
    """A corrected plate reading (the edge's original reading is kept)."""

    plate: str = Field(min_length=4, max_length=20, description="e.g. 51F-123.45 or 59-X1 123.45")


class Violation(BaseModel):
    """One violation as the desk shows it."""

    event_id: uuid.UUID
    event_ts: datetime
    edge: str
    camera: str
    camera_name: str | None = None
    unit: str
    unit_name: str | None = None
    lat: float | None = None
    lon: float | None = None
    type: str
    detected_at: datetime
    deadline: datetime
    deadline_status: DeadlineStatus
    days_left: float
    state: State
    plate_read: str | None = None
    plate_confidence: float | None = None
    plate_candidates: list[Any] = Field(default_factory=list)
    plate: str | None = None
    plate_edited_by: str | None = None
    plate_edited_at: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    exported_at: datetime | None = None


class QueuePage(BaseModel):
    """One page of the queue."""

    items: list[Violation]
    next_cursor: str | None


def deadline_status(state: str, detected_at: datetime, now: datetime) -> tuple[DeadlineStatus, float]:
    """Where an item stands against the 10-day deadline, and the days left (negative when overdue)."""
    left = (detected_at + timedelta(days=DEADLINE_DAYS) - now).total_seconds() / 86400
    if state != "proposed":
        return "closed", left
    if left <= 0:
        return "overdue", left
    if now - detected_at >= timedelta(days=WARN_AFTER_DAYS):
        return "warning", left
    return "ok", left


def _to_model(row: dict[str, Any], now: datetime) -> Violation:
    status, left = deadline_status(row["state"], row["detected_at"], now)
    return Violation(**row, deadline_status=status, days_left=round(left, 2))


def require_reviewer(user: User) -> None:
    """Only traffic police (and admins) use the desk."""
    if user.role not in REVIEW_ROLES:
        raise PermissionDenied(f"role {user.role!r} may not review violations (police or admin only)")


def _encode_cursor(deadline: datetime, event_id: uuid.UUID) -> str:
    raw = json.dumps([deadline.isoformat(), str(event_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, ident = json.loads(raw)
        return datetime.fromisoformat(when), uuid.UUID(ident)
    except (binascii.Error, ValueError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidInput("cursor is not one this server gave out") from exc


async def queue(conn: AsyncConnection, user: User, flt: QueueFilter, *, now: datetime | None = None) -> QueuePage:
    """Violations in the user's scope, most urgent deadline first."""
    require_reviewer(user)
    now = now or datetime.now(timezone.utc)
    where = [_SCOPE_SQL]
    params: dict[str, Any] = {"scope": user.unit, "limit": flt.limit + 1, "now": now}
    if flt.state:
        where.append("v.state = %(state)s")
        params["state"] = flt.state
    if flt.camera:
        where.append("v.camera = %(camera)s")
        params["camera"] = flt.camera
    if flt.type:
        where.append("v.type LIKE %(type)s")
        params["type"] = flt.type.replace("%", r"\%").replace("_", r"\_") + ("%" if flt.type.endswith(".") else "")
    if flt.since:
        where.append("v.detected_at >= %(since)s")
        params["since"] = flt.since
    if flt.until:
        where.append("v.detected_at < %(until)s")
        params["until"] = flt.until
    if flt.deadline == "overdue":
        where.append("v.state = 'proposed' AND v.deadline <= %(now)s")
    elif flt.deadline == "warning":
        where.append("v.state = 'proposed' AND v.deadline > %(now)s"
                     f" AND v.detected_at <= %(now)s - interval '{WARN_AFTER_DAYS} days'")
    elif flt.deadline == "ok":
        where.append(f"v.state = 'proposed' AND v.detected_at > %(now)s - interval '{WARN_AFTER_DAYS} days'")
    elif flt.deadline == "closed":
        where.append("v.state <> 'proposed'")
    if flt.cursor:
        params["c_deadline"], params["c_id"] = _decode_cursor(flt.cursor)
        where.append("(v.deadline, v.event_id) > (%(c_deadline)s, %(c_id)s)")
    cur = await conn.execute(
        f"SELECT {_COLUMNS}{_FROM} WHERE {' AND '.join(where)} ORDER BY v.deadline, v.event_id LIMIT %(limit)s",
        params,
    )
    rows = await cur.fetchall()
    more = len(rows) > flt.limit
    rows = rows[: flt.limit]
    items = [_to_model(row, now) for row in rows]
    next_cursor = _encode_cursor(rows[-1]["deadline"], rows[-1]["event_id"]) if more and rows else None
    return QueuePage(items=items, next_cursor=next_cursor)


async def _get(conn: AsyncConnection, user: User, event_id: uuid.UUID, *, lock: bool = False) -> dict[str, Any]:
    cur = await conn.execute(
        f"SELECT {_COLUMNS}{_FROM} WHERE v.event_id = %(id)s AND {_SCOPE_SQL}"
        + (" FOR UPDATE OF v" if lock else ""),
        {"id": event_id, "scope": user.unit},
    )
    row = await cur.fetchone()
    if row is None:
        # Out of scope and absent look the same: no existence leak across units.
        raise NotFound(f"violation {event_id} not found")
    return row


async def get(conn: AsyncConnection, user: User, event_id: uuid.UUID) -> Violation:
    """One violation in scope, without auditing (for internal use by exports)."""
    require_reviewer(user)
    return _to_model(await _get(conn, user, event_id), datetime.now(timezone.utc))


async def evidence_of(conn: AsyncConnection, event_id: uuid.UUID) -> list[dict[str, Any]]:
    """The event's evidence list with what the hub holds of each file."""
    cur = await conn.execute(
        "SELECT ee.sha256, ee.kind, f.mime, f.size, f.verified, (f.sha256 IS NOT NULL) AS present"
        " FROM event_evidence ee LEFT JOIN evidence_files f ON f.sha256 = ee.sha256"
        " WHERE ee.event_id = %s ORDER BY ee.kind, ee.sha256",
        (event_id,),
    )
    return list(await cur.fetchall())


async def event_payload(conn: AsyncConnection, event_id: uuid.UUID, event_ts: datetime) -> dict[str, Any]:
    """The payload of the violation's event (rule figures, track, box)."""
    cur = await conn.execute("SELECT payload FROM events WHERE id = %s AND ts = %s", (event_id, event_ts))
    row = await cur.fetchone()
    return dict(row["payload"]) if row else {}


async def view(conn: AsyncConnection, user: User, event_id: uuid.UUID) -> Violation:
    """Open one violation for review: scoped and audited (`violation.view`)."""
    violation = await get(conn, user, event_id)
    await audit.record(conn, user.username, "violation.view", f"violation:{event_id}", {"unit": violation.unit})
    return violation


def normalise_plate(text: str) -> str:
    """The canonical form of a plate an officer typed; InvalidInput saying why it is not a plate."""
    try:
        return parse_plate(text.strip().upper()).text
    except PlateFormatError as exc:
        raise InvalidInput(f"not a valid Vietnamese plate: {exc}") from exc


async def edit_plate(conn: AsyncConnection, user: User, event_id: uuid.UUID, plate: str) -> Violation:
    """Correct the plate of a proposed violation; the edge's reading stays in `plate_read`."""
    require_reviewer(user)
    canonical = normalise_plate(plate)
    async with conn.transaction():
        row = await _get(conn, user, event_id, lock=True)
        if row["state"] != "proposed":
            raise Conflict(f"violation {event_id} is already {row['state']}; its plate can no longer change")
        await conn.execute(
            "UPDATE violations SET plate = %s, plate_edited_by = %s, plate_edited_at = now() WHERE event_id = %s",
            (canonical, user.username, event_id),
        )
        await audit.record(conn, user.username, "violation.plate_edit", f"violation:{event_id}",
                           {"from": row["plate"], "to": canonical, "edge_reading": row["plate_read"]})
    return await get(conn, user, event_id)


async def decide(conn: AsyncConnection, user: User, event_id: uuid.UUID, decision: Decision) -> Violation:
    """Confirm or reject a proposed violation, once. A rejection needs a reason; a
    confirmation needs a plate (read by the edge or entered by the officer)."""
    require_reviewer(user)
    if decision.decision == "reject" and not decision.reason:
        raise InvalidInput("a rejection needs a reason")
    async with conn.transaction():
        row = await _get(conn, user, event_id, lock=True)
        if row["state"] != "proposed":
            raise Conflict(f"violation {event_id} was already {row['state']} by {row['decided_by']}")
        if decision.decision == "confirm" and not row["plate"]:
            raise InvalidInput("the plate is unread: enter it from the evidence before confirming")
        state = "confirmed" if decision.decision == "confirm" else "rejected"
        await conn.execute(
            "UPDATE violations SET state = %s, decided_by = %s, decided_at = now(), reason = %s WHERE event_id = %s",
            (state, user.username, decision.reason, event_id),
        )
        await audit.record(conn, user.username, f"violation.{decision.decision}", f"violation:{event_id}",
                           {"plate": row["plate"], "reason": decision.reason, "unit": row["unit"]})
    return await get(conn, user, event_id)


async def mark_exported(conn: AsyncConnection, user: User, event_id: uuid.UUID, kind: str, sha256: str) -> None:
    """Record an export (PDF or ZIP) of a confirmed violation in the audit log."""
    await conn.execute("UPDATE violations SET exported_at = now() WHERE event_id = %s", (event_id,))
    await audit.record(conn, user.username, "violation.export", f"violation:{event_id}",
                       {"format": kind, "sha256": sha256})


_PLATE_CHARS = re.compile(r"[^A-Z0-9]")


async def search_plate(conn: AsyncConnection, user: User, text: str, *, limit: int = 100) -> list[Violation]:
    """Confirmed violations in scope whose plate contains `text` (separators ignored); audited."""
    require_reviewer(user)
    needle = _PLATE_CHARS.sub("", text.upper())
    if len(needle) < 3:
        raise InvalidInput("type at least 3 letters or digits of the plate")
    cur = await conn.execute(
        f"SELECT {_COLUMNS}{_FROM} WHERE v.state = 'confirmed' AND {_SCOPE_SQL}"
        " AND upper(regexp_replace(coalesce(v.plate, ''), '[^A-Za-z0-9]', '', 'g')) LIKE %(needle)s"
        " ORDER BY v.detected_at DESC LIMIT %(limit)s",
        {"scope": user.unit, "needle": f"%{needle}%", "limit": limit},
    )
    now = datetime.now(timezone.utc)
    items = [_to_model(row, now) for row in await cur.fetchall()]
    await audit.record(conn, user.username, "violation.plate_search", f"plate:{needle}", {"results": len(items)})
    return items


async def stats(conn: AsyncConnection, scope: str, since: datetime) -> dict[str, Any]:
    """Counts for the wall: proposed (open), overdue, and confirmed/rejected since `since`."""
    cur = await conn.execute(
        "SELECT count(*) FILTER (WHERE v.state = 'proposed') AS proposed,"
        " count(*) FILTER (WHERE v.state = 'proposed' AND v.deadline <= now()) AS overdue,"
        " count(*) FILTER (WHERE v.state = 'confirmed' AND v.decided_at >= %(since)s) AS confirmed,"
        " count(*) FILTER (WHERE v.state = 'rejected' AND v.decided_at >= %(since)s) AS rejected"
        f" FROM violations v WHERE {_SCOPE_SQL}",
        {"scope": scope, "since": since},
    )
    row = await cur.fetchone()
    return {key: int(row[key]) for key in ("proposed", "overdue", "confirmed", "rejected")} | {
        "since": since.isoformat()
    }


async def purge_evidence(conn: AsyncConnection, user: User, sha256: str, reason: str) -> str:
    """Delete one evidence file's record (admin, with a reason, audited) and return its
    storage path for the caller to unlink. Outside the admin's units (`evidence.lock_for_delete`)
    it is NotFound, like a file that does not exist; evidence of a violation under review
    or confirmed is refused (Conflict) here and, whatever the path, by the database guard."""
    if user.role != "admin":
        raise PermissionDenied("only an admin may delete evidence")
    if not reason.strip():
        raise InvalidInput("deleting evidence needs a reason")
    async with conn.transaction():
        # Scope first: outside the admin's units the file does not exist, whatever it is.
        await evidence.lock_for_delete(conn, sha256, user.unit)
        cur = await conn.execute(
            "SELECT 1 FROM event_evidence ee JOIN violations v ON v.event_id = ee.event_id"
            " WHERE ee.sha256 = %s AND v.state IN ('proposed', 'confirmed')",
            (sha256,),
        )
        if await cur.fetchone() is not None:
            raise Conflict("this evidence belongs to a violation under review or confirmed; it cannot be deleted")
        cur = await conn.execute("DELETE FROM evidence_files WHERE sha256 = %s RETURNING path", (sha256,))
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"evidence {sha256} not found")
        await audit.record(conn, user.username, "evidence.delete", f"evidence:{sha256}",
                           {"reason": reason.strip(), "path": row["path"]})
    return str(row["path"])
