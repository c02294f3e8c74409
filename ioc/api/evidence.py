"""Evidence files: edges upload (`PUT`, raw body, hash-checked); users in scope download
(`GET`, audited)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel

from ioc.api.deps import CurrentEdge, Db
from ioc.api.roles import EvidenceViewer
from ioc.exceptions import InvalidInput, TooLarge
from ioc.services import audit, evidence, evidence_arrival

router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"])


class EvidenceStored(BaseModel):
    sha256: str
    size: int
    mime: str
    created: bool
    completed_events: list[str]


@router.put(
    "/{sha256}",
    response_model=EvidenceStored,
    summary="Upload one evidence file (raw body; Content-Type = its media type; edge bearer token)",
)
async def put_evidence(sha256: str, request: Request, edge: CurrentEdge, db: Db) -> EvidenceStored:
    settings = request.app.state.settings
    mime = request.headers.get("content-type")
    if not mime:
        raise InvalidInput("Content-Type header (the file's media type) is required")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > settings.evidence_max_bytes:
        raise TooLarge(f"evidence file exceeds {settings.evidence_max_bytes} bytes")
    info = await evidence.store(
        db, settings.data_dir, sha256, mime, request.stream(),
        max_bytes=settings.evidence_max_bytes, uploaded_by=edge.id,
    )
    if info.created:
        request.app.state.metrics.evidence_bytes.inc(info.size)
        await audit.record(db, f"edge:{edge.id}", "evidence.upload", f"evidence:{sha256}",
                           {"size": info.size, "mime": info.mime, "completed_events": len(info.completed_events)})
        await evidence_arrival.after_upload(db, settings.data_dir, sha256)
    return EvidenceStored(**info.model_dump())


@router.get("/{sha256}", summary="Download an evidence file named by an event in your units (audited)")
async def get_evidence(sha256: str, request: Request, user: EvidenceViewer, db: Db) -> FileResponse:
    settings = request.app.state.settings
    path, mime, size = await evidence.open_for(db, settings.data_dir, sha256, user.unit)
    await audit.record(db, user.username, "evidence.view", f"evidence:{sha256}", {"size": size, "mime": mime})
    media, headers = evidence.serving(sha256, mime)
    return FileResponse(path, media_type=media, headers=headers)
