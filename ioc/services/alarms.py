"""The alarm workflow of warning and critical events: acknowledge (kept in
`events.ack_by/ack_at`), assign to a user, resolve with a note (table `alarms`).

Every function takes the caller's unit `scope` and answers NotFound for an event outside
it, exactly like reading the event, so a stranger learns nothing. Info events have no
workflow (InvalidInput). The API layer audits each change and pushes `system.alarm`.

Example::

    row, alarm, changed, acked = await assign(conn, event_id, scope="26734", by="op", assignee="patrol-1")
    row, alarm, changed, acked = await resolve(conn, event_id, scope="26734", by="op", note="towed away")
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from ioc.exceptions import Conflict, InvalidInput
from ioc.services import events

WORKFLOW_SEVERITIES = ("warning", "critical")
# Who may be handed an alarm: the roles that may acknowledge one.
ASSIGNABLE_ROLES = ("admin", "operator", "police")

_ALARM_COLUMNS = "assignee, assigned_by, assigned_at, resolved_by, resolved_at, note"


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat().replace("+00:00", "Z") if ts is not None else None


def view(row: dict[str, Any] | None, event: dict[str, Any]) -> dict[str, Any]:
    """The `alarm` part of an event as the API shows it: state new / acknowledged /
    assigned / resolved and who did what."""
    row = row or {}
    state = "new"
    if event.get("ack_by"):
        state = "acknowledged"
    if row.get("assignee"):
        state = "assigned"
    if row.get("resolved_by"):
        state = "resolved"
    return {
        "state": state,
        "assignee": row.get("assignee"), "assigned_by": row.get("assigned_by"),
        "assigned_at": _iso(row.get("assigned_at")),
        "resolved_by": row.get("resolved_by"), "resolved_at": _iso(row.get("resolved_at")),
        "note": row.get("note"),
    }


async def _event(conn: AsyncConnection, event_id: uuid.UUID, scope: str) -> dict[str, Any]:
    row = await events.get_in_scope(conn, event_id, scope)
    if row["severity"] not in WORKFLOW_SEVERITIES:
        raise InvalidInput(f"event {event_id} is {row['severity']}: only warning and critical events are alarms")
    return row


async def _alarm(conn: AsyncConnection, event_id: uuid.UUID) -> dict[str, Any] | None:
    cur = await conn.execute(f"SELECT {_ALARM_COLUMNS} FROM alarms WHERE event_id = %s", (event_id,))
    return await cur.fetchone()


async def assignees(conn: AsyncConnection, event_id: uuid.UUID, scope: str) -> list[dict[str, Any]]:
    """Users in the caller's units who may handle the event: an acknowledging role and a
    unit the event lies under (they can see it)."""
    event = await _event(conn, event_id, scope)
    cur = await conn.execute(
        "SELECT u.username, u.role, u.unit, n.name AS unit_name FROM users u JOIN units n ON n.code = u.unit"
        " WHERE NOT u.disabled AND u.role = ANY(%(roles)s) AND %(scope)s = ANY(n.ancestors)"
        " AND u.unit = ANY(ARRAY(SELECT unnest(ancestors) FROM units WHERE code = %(unit)s)) ORDER BY u.username",
        {"roles": list(ASSIGNABLE_ROLES), "scope": scope, "unit": event["unit"]},
    )
    return list(await cur.fetchall())


async def assign(
    conn: AsyncConnection, event_id: uuid.UUID, scope: str, by: str, assignee: str
) -> tuple[dict[str, Any], dict[str, Any], bool, bool]:
    """Hand the alarm to `assignee` (one of `assignees`); acknowledges it if nobody had.
    Returns (event row, alarm view, changed, acknowledged now). Conflict once resolved."""
    async with conn.transaction():
        event = await _event(conn, event_id, scope)
        if assignee not in {u["username"] for u in await assignees(conn, event_id, scope)}:
            raise InvalidInput(f"user {assignee!r} cannot handle this alarm (not in your units, or cannot see it)")
        current = await _alarm(conn, event_id)
        if current and current["resolved_by"]:
            raise Conflict(f"event {event_id} is resolved already")
        if current and current["assignee"] == assignee:
            return event, view(current, event), False, False
        event, acked_now = await _acknowledged(conn, event, event_id, scope, by)
        cur = await conn.execute(
            "INSERT INTO alarms (event_id, event_ts, unit, assignee, assigned_by, assigned_at)"
            " VALUES (%(id)s, %(ts)s, %(unit)s, %(to)s, %(by)s, now())"
            " ON CONFLICT (event_id) DO UPDATE SET assignee = EXCLUDED.assignee, assigned_by = EXCLUDED.assigned_by,"
            " assigned_at = now(), updated_at = now()"
            f" RETURNING {_ALARM_COLUMNS}",
            {"id": event_id, "ts": event["ts"], "unit": event["unit"], "to": assignee, "by": by},
        )
        return event, view(await cur.fetchone(), event), True, acked_now


async def resolve(
    conn: AsyncConnection, event_id: uuid.UUID, scope: str, by: str, note: str
) -> tuple[dict[str, Any], dict[str, Any], bool, bool]:
    """Close the alarm with a note; acknowledges it if nobody had. Resolving twice
    changes nothing (changed False)."""
    async with conn.transaction():
        event = await _event(conn, event_id, scope)
        current = await _alarm(conn, event_id)
        if current and current["resolved_by"]:
            return event, view(current, event), False, False
        event, acked_now = await _acknowledged(conn, event, event_id, scope, by)
        cur = await conn.execute(
            "INSERT INTO alarms (event_id, event_ts, unit, resolved_by, resolved_at, note)"
            " VALUES (%(id)s, %(ts)s, %(unit)s, %(by)s, now(), %(note)s)"
            " ON CONFLICT (event_id) DO UPDATE SET resolved_by = EXCLUDED.resolved_by, resolved_at = now(),"
            " note = EXCLUDED.note, updated_at = now()"
            f" RETURNING {_ALARM_COLUMNS}",
            {"id": event_id, "ts": event["ts"], "unit": event["unit"], "by": by, "note": note},
        )
        return event, view(await cur.fetchone(), event), True, acked_now


async def _acknowledged(conn: AsyncConnection, event: dict[str, Any], event_id: uuid.UUID, scope: str,
                        by: str) -> tuple[dict[str, Any], bool]:
    """The event, acknowledged by ``by`` first if nobody had (assigning or resolving implies it)."""
    if event["ack_by"]:
        return event, False
    return await events.acknowledge(conn, event_id, scope, by)


async def attach(conn: AsyncConnection, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add `alarm` to each warning/critical item of an event list (one query)."""
    ids = [uuid.UUID(str(i["id"])) for i in items if i.get("severity") in WORKFLOW_SEVERITIES]
    rows: dict[str, dict[str, Any]] = {}
    if ids:
        cur = await conn.execute(f"SELECT event_id, {_ALARM_COLUMNS} FROM alarms WHERE event_id = ANY(%s)", (ids,))
        rows = {str(r["event_id"]): r for r in await cur.fetchall()}
    for item in items:
        if item.get("severity") in WORKFLOW_SEVERITIES:
            item["alarm"] = view(rows.get(str(item["id"])), item)
    return items
