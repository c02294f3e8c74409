"""Append-only audit log: logins, evidence views, acknowledgements, exports, user changes.

The table refuses UPDATE and DELETE (008_audit.sql), so this module only appends and reads.

Example::

    await record(conn, "admin", "user.create", "user:op1", {"role": "operator", "unit": "01"})
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from pydantic import BaseModel


class AuditRecord(BaseModel):
    """One audit row."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


async def record(conn: AsyncConnection, actor: str, action: str, target: str, details: dict[str, Any]) -> int:
    """Append one audit row and return its id. `action` is dotted lower case, e.g. `evidence.view`."""
    cur = await conn.execute(
        "INSERT INTO audit_log (actor, action, target, details) VALUES (%s, %s, %s, %s) RETURNING id",
        (actor, action, target, Jsonb(details)),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["id"])


async def recent(
    conn: AsyncConnection, *, limit: int = 100, action_prefix: str | None = None, actor: str | None = None
) -> list[AuditRecord]:
    """Newest audit rows first, optionally filtered by action prefix and actor."""
    cur = await conn.execute(
        "SELECT id, at, actor, action, target, details FROM audit_log"
        " WHERE (%(prefix)s::text IS NULL OR starts_with(action, %(prefix)s))"
        "   AND (%(actor)s::text IS NULL OR actor = %(actor)s)"
        " ORDER BY id DESC LIMIT %(limit)s",
        {"prefix": action_prefix, "actor": actor, "limit": limit},
    )
    return [AuditRecord.model_validate(row) for row in await cur.fetchall()]
