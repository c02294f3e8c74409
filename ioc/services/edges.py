"""Edge workers: registration (bearer token shown once, only its SHA-256 stored),
token check, signing key, heartbeat.

Example::

    token = await register(conn, "edge-hcm-01", "26734")     # print once, never stored
    edge = await authenticate(conn, token)                   # Edge(id="edge-hcm-01", ...)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from contract.evidence_verify import key_fingerprint, load_public_key
from ioc.exceptions import Conflict, InvalidInput, NotAuthenticated, NotFound

TOKEN_PREFIX = "ioce_"


class Edge(BaseModel):
    """A registered edge worker.

    Example::

        Edge(id="edge-hcm-01", unit="26734", public_key=None)
    """

    id: str
    unit: str
    public_key: str | None = None
    preview_url: str | None = None
    last_seen: datetime | None = None


def hash_token(token: str) -> str:
    """SHA-256 hex of a token: tokens are long random strings, so no slow hash is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


async def register(conn: AsyncConnection, edge_id: str, unit: str, *, rotate: bool = False) -> str:
    """Create an edge (or, with rotate, give an existing one a new token); returns the token."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        if rotate:
            cur = await conn.execute(
                "UPDATE edges SET token_hash = %s, unit = %s WHERE id = %s RETURNING id",
                (hash_token(token), unit, edge_id),
            )
            if await cur.fetchone() is None:
                raise NotFound(f"edge {edge_id!r} does not exist")
        else:
            await conn.execute(
                "INSERT INTO edges (id, unit, token_hash) VALUES (%s, %s, %s)", (edge_id, unit, hash_token(token))
            )
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"edge {edge_id!r} already exists (use --rotate for a new token)") from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        raise InvalidInput(f"unit {unit!r} does not exist") from exc
    except psycopg.errors.CheckViolation as exc:
        raise InvalidInput(f"edge id {edge_id!r} must match ^[A-Za-z0-9_.:-]{{1,64}}$") from exc
    return token


async def authenticate(conn: AsyncConnection, token: str) -> Edge:
    """The edge owning this bearer token; NotAuthenticated otherwise."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise NotAuthenticated("not an edge token")
    cur = await conn.execute(
        "SELECT id, unit, public_key, preview_url, last_seen FROM edges WHERE token_hash = %s", (hash_token(token),)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotAuthenticated("unknown edge token")
    return Edge.model_validate(row)


async def get(conn: AsyncConnection, edge_id: str) -> Edge:
    """One edge by id."""
    cur = await conn.execute("SELECT id, unit, public_key, preview_url, last_seen FROM edges WHERE id = %s", (edge_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"edge {edge_id!r} does not exist")
    return Edge.model_validate(row)


async def get_public_key(conn: AsyncConnection, edge_id: str) -> bytes | None:
    """The raw 32-byte Ed25519 public key the edge registered, or None."""
    edge = await get(conn, edge_id)
    return base64.b64decode(edge.public_key) if edge.public_key else None


def _decode_key(public_key: str) -> str:
    try:
        raw = base64.b64decode(public_key, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("public_key must be base64") from exc
    if len(raw) != 32:
        raise InvalidInput(f"public_key must be a raw 32-byte Ed25519 key (got {len(raw)} bytes)")
    return base64.b64encode(raw).decode()


async def set_key(conn: AsyncConnection, edge_id: str, public_key: str, *, replace: bool = False) -> bool:
    """Store the edge's signing key. The first key is accepted; the same key again is a
    no-op; a different key needs `replace` (an admin). Returns True when it changed."""
    key = _decode_key(public_key)
    edge = await get(conn, edge_id)
    if edge.public_key == key:
        return False
    if edge.public_key is not None and not replace:
        raise Conflict(f"edge {edge_id!r} already has a different signing key; an admin must replace it")
    await conn.execute("UPDATE edges SET public_key = %s WHERE id = %s", (key, edge_id))
    return True


async def clear_key(conn: AsyncConnection, edge_id: str) -> None:
    """Forget the edge's signing key, so it can register a new one (admin action)."""
    cur = await conn.execute("UPDATE edges SET public_key = NULL WHERE id = %s RETURNING id", (edge_id,))
    if await cur.fetchone() is None:
        raise NotFound(f"edge {edge_id!r} does not exist")


async def touch(
    conn: AsyncConnection, edge_id: str, *, detector: dict[str, Any] | None, preview_url: str | None, outbox_depth: int,
    outbox_rejected: int = 0, preview_from: str | None = None,
) -> None:
    """Record an edge heartbeat. `preview_from` is the address the heartbeat came from:
    the preview proxy follows `preview_url` only there (`ioc.services.outbound`)."""
    await conn.execute(
        "UPDATE edges SET last_seen = now(), detector = %s, preview_url = %s, outbox_depth = %s,"
        " outbox_rejected = %s, preview_from = %s WHERE id = %s",
        (Jsonb(detector) if detector is not None else None, preview_url, outbox_depth, outbox_rejected,
         preview_from, edge_id),
    )


async def keys_in_scope(conn: AsyncConnection, scope: str) -> list[dict[str, str]]:
    """`{"id", "fingerprint"}` of every edge with a registered signing key whose unit lies
    in `scope`, or that serves a camera there."""
    cur = await conn.execute(
        "SELECT e.id, e.public_key FROM edges e WHERE e.public_key IS NOT NULL AND ("
        " e.unit IN (SELECT code FROM units WHERE %(scope)s = ANY(ancestors))"
        " OR EXISTS (SELECT 1 FROM cameras c JOIN units u ON u.code = c.unit"
        "            WHERE c.edge = e.id AND %(scope)s = ANY(u.ancestors))) ORDER BY e.id",
        {"scope": scope},
    )
    out = []
    for row in await cur.fetchall():
        try:
            out.append({"id": row["id"], "fingerprint": key_fingerprint(load_public_key(row["public_key"]))})
        except ValueError:
            continue  # an unusable key is trusted by nobody
    return out
