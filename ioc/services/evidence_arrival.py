"""When to check a signed evidence manifest: as soon as both halves have arrived.

An edge sends a violation in two parts that may arrive in either order (and after a
hub outage, hours apart): the event, whose `payload.evidence_manifest` carries the
manifest's hash and signature, and the manifest file itself, uploaded as evidence of
kind "manifest". Whichever arrives second triggers `verify_arrival`
(ioc/services/evidence_verify_ingest.py), which stores the verdict the review desk shows.

Example::

    result = await events.ingest(conn, edge, batch, publish=...)
    await after_events(conn, settings.data_dir, edge.id, result.accepted)
    ...
    info = await evidence.store(conn, ...)
    await after_upload(conn, settings.data_dir, info.sha256)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from contract.evidence_verify import Manifest
from ioc.exceptions import InvalidInput
from ioc.services.evidence_verify_ingest import Verdict, verify_arrival

log = logging.getLogger(__name__)

_PENDING_SQL = (
    "SELECT e.id, e.edge, e.payload -> 'evidence_manifest' AS m, f.path"
    " FROM events e"
    " JOIN evidence_files f ON f.sha256 = e.payload -> 'evidence_manifest' ->> 'sha256'"
    " WHERE {where} AND e.payload ? 'evidence_manifest'"
    " AND NOT EXISTS (SELECT 1 FROM evidence_manifests em WHERE em.hash = f.sha256)"
)


async def _verify_rows(conn: AsyncConnection, data_dir: Path, rows: list[dict[str, Any]]) -> list[Verdict]:
    verdicts = []
    for row in rows:
        info = row["m"] if isinstance(row["m"], dict) else {}
        try:
            data = (data_dir / row["path"]).read_bytes()
            verdict = await verify_arrival(conn, data, str(info.get("signature", "")), row["edge"],
                                           event_id=str(row["id"]))
        except (InvalidInput, OSError) as exc:
            # The event stays stored; without a verdict the desk shows "no verified manifest".
            log.warning("evidence manifest of event %s cannot be checked: %s", row["id"], exc)
            continue
        if not verdict.verified:
            log.warning("evidence manifest %s of event %s does not verify: %s", verdict.hash, row["id"], verdict.codes)
        else:
            await _plate_from_manifest(conn, row["id"], data)
        verdicts.append(verdict)
    return verdicts


async def _plate_from_manifest(conn: AsyncConnection, event_id: Any, manifest_bytes: bytes) -> None:
    # The signed plate reading fills a violation whose event payload named none; an
    # officer's correction is never overwritten.
    plate = Manifest.parse(manifest_bytes).plate
    if plate is None or not plate.text:
        return
    candidates = [c.model_dump() for c in plate.candidates]
    await conn.execute(
        "UPDATE violations SET plate_read = %s, plate_confidence = %s, plate_candidates = %s,"
        " plate = coalesce(plate, %s) WHERE event_id = %s AND plate_read IS NULL AND plate_edited_by IS NULL",
        (plate.text, plate.confidence, Jsonb(candidates), plate.text, event_id),
    )


async def after_events(conn: AsyncConnection, data_dir: Path, edge_id: str, accepted: list[Any]) -> list[Verdict]:
    """Check the manifests of newly accepted events whose manifest file is already here."""
    if not accepted:
        return []
    cur = await conn.execute(
        _PENDING_SQL.format(where="e.id = ANY(%s::uuid[]) AND e.edge = %s"),
        ([str(i) for i in accepted], edge_id),
    )
    return await _verify_rows(conn, data_dir, list(await cur.fetchall()))


async def after_upload(conn: AsyncConnection, data_dir: Path, sha256: str) -> list[Verdict]:
    """Check the manifest just uploaded, for the events that name it and were waiting."""
    cur = await conn.execute(
        _PENDING_SQL.format(where="e.id IN (SELECT event_id FROM event_evidence WHERE sha256 = %s AND kind = 'manifest')"),
        (sha256,),
    )
    return await _verify_rows(conn, data_dir, list(await cur.fetchall()))
