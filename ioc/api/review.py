"""The police review desk: queue, review, plate edit, decision, export, plate search.

Pages (`/review`, `/review/{id}`) are thin shells; the JSON API below enforces role
(police or admin) and unit scope on its own and writes the audit rows: every view,
plate edit, decision, export and plate search.

    GET  /api/v1/violations                   queue (state, camera, type, time, deadline; cursor)
    GET  /api/v1/violations/stats             counts for the wall (every role, scoped)
    GET  /api/v1/violations/search?plate=...  confirmed violations by plate (audited)
    GET  /api/v1/violations/{id}              one violation with evidence and verdict (audited)
    POST /api/v1/violations/{id}/plate        correct the plate (original kept)
    POST /api/v1/violations/{id}/decision     confirm, or reject with a reason
    GET  /api/v1/violations/{id}/report.pdf   Vietnamese PDF report (confirmed only)
    GET  /api/v1/violations/{id}/evidence.zip files + signed manifest + chain link (confirmed only)
    DELETE /api/v1/evidence/{sha256}?reason=  admin purge, refused for evidence under review
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from ioc.api.deps import CurrentUser, Db, PageUser, require_roles
from ioc.api.pages import _forbidden, nav_links, render, request_lang
from ioc.api.roles import Admin
from ioc.broker import LiveMessage
from contract.evidence_verify import Manifest, build_evidence_zip
from ioc.exceptions import Conflict, NotFound
from ioc.services import units, violations
from ioc.services.evidence import path_for
from ioc.services.evidence_verify_ingest import ChainLink, chain_link_for_event, verdict_for_event
from ioc.services.users import User
from ioc.services.violation_report import VIOLATION_NAMES, ReportData, render_report
from ioc.services.violations import Decision, PlateEdit, QueueFilter, QueuePage, Violation

log = logging.getLogger(__name__)
router = APIRouter(tags=["review"])
Reviewer = Annotated[User, Depends(require_roles(*sorted(violations.REVIEW_ROLES)))]
EventId = Annotated[uuid.UUID, Path(description="id of the violation's event")]


# ------------------------------------------------------------------------------ pages


@router.get("/review", response_class=HTMLResponse, summary="Review queue page (police)")
async def queue_page(request: Request, user: PageUser) -> HTMLResponse:
    lang = request_lang(request)
    if user.role not in violations.REVIEW_ROLES:
        return _forbidden(request, user, lang)
    return render(request, "review_queue.html", lang=lang, user=user, page={},
                  violation_types=sorted(VIOLATION_NAMES), nav_links=nav_links(user.role))


@router.get("/review/{event_id}", response_class=HTMLResponse, summary="Review one violation (police)")
async def review_page(request: Request, user: PageUser, event_id: EventId) -> HTMLResponse:
    lang = request_lang(request)
    if user.role not in violations.REVIEW_ROLES:
        return _forbidden(request, user, lang)
    return render(request, "review.html", lang=lang, user=user, page={"event_id": str(event_id)},
                  nav_links=nav_links(user.role))


# -------------------------------------------------------------------------------- API


@router.get("/api/v1/violations", response_model=QueuePage, summary="Review queue in your units")
async def list_violations(
    user: Reviewer,
    db: Db,
    state: Annotated[str | None, Query(pattern="^(proposed|confirmed|rejected|all)$")] = "proposed",
    camera: str | None = None,
    type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    deadline: Annotated[str | None, Query(pattern="^(ok|warning|overdue|closed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> QueuePage:
    flt = QueueFilter(state=None if state == "all" else state, camera=camera, type=type, since=since,
                      until=until, deadline=deadline, limit=limit, cursor=cursor)
    return await violations.queue(db, user, flt)


@router.get("/api/v1/violations/stats", summary="Violation counts in your units (for the wall)")
async def violation_stats(user: CurrentUser, db: Db) -> dict[str, Any]:
    # Today in Vietnam time: the wall's counters reset at local midnight.
    now = datetime.now(timezone(timedelta(hours=7)))
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return await violations.stats(db, user.unit, midnight)


@router.get("/api/v1/violations/search", response_model=list[Violation], summary="Confirmed violations by plate")
async def search(user: Reviewer, db: Db, plate: Annotated[str, Query(min_length=3, max_length=20)]) -> list[Violation]:
    return await violations.search_plate(db, user, plate)


async def _detail(db: Any, violation: Violation) -> dict[str, Any]:
    payload = await violations.event_payload(db, violation.event_id, violation.event_ts)
    verdict = await verdict_for_event(db, str(violation.event_id))
    return {
        **violation.model_dump(mode="json"),
        "evidence": await violations.evidence_of(db, violation.event_id),
        "payload": {k: v for k, v in payload.items() if k != "evidence_manifest"},
        "manifest": None if verdict is None else {
            "hash": verdict.hash, "verified": verdict.verified, "problems": verdict.codes,
            "files_missing": verdict.files_missing,
        },
    }


@router.get("/api/v1/violations/{event_id}", summary="One violation with its evidence (audited view)")
async def get_violation(event_id: EventId, user: Reviewer, db: Db) -> dict[str, Any]:
    return await _detail(db, await violations.view(db, user, event_id))


@router.post("/api/v1/violations/{event_id}/plate", summary="Correct the plate (the edge's reading is kept)")
async def edit_plate(event_id: EventId, body: PlateEdit, user: Reviewer, db: Db) -> dict[str, Any]:
    return (await violations.edit_plate(db, user, event_id, body.plate)).model_dump(mode="json")


@router.post("/api/v1/violations/{event_id}/decision", summary="Confirm, or reject with a reason")
async def decide(event_id: EventId, body: Decision, request: Request, user: Reviewer, db: Db) -> dict[str, Any]:
    decided = await violations.decide(db, user, event_id, body)
    scope = await units.ancestors(db, decided.unit)
    message = {"type": "system.violation_decided", "id": str(event_id), "state": decided.state,
               "violation": decided.type, "camera": decided.camera, "by": user.username}
    await request.app.state.broker.publish([LiveMessage.system(message, scope=scope)])
    return decided.model_dump(mode="json")


async def _link_or_none(db: Any, event_id: uuid.UUID) -> ChainLink | None:
    try:
        return await chain_link_for_event(db, str(event_id))
    except NotFound:
        return None


async def _confirmed(db: Any, user: User, event_id: uuid.UUID) -> Violation:
    violation = await violations.get(db, user, event_id)
    if violation.state != "confirmed":
        raise Conflict(f"only a confirmed violation can be exported; this one is {violation.state}")
    return violation


def _read_file(request: Request, sha256: str) -> bytes:
    return path_for(request.app.state.settings.data_dir, sha256).read_bytes()


async def _files(db: Any, request: Request, event_id: uuid.UUID) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for item in await violations.evidence_of(db, event_id):
        if item["present"]:
            out[item["sha256"]] = _read_file(request, item["sha256"])
    return out


@router.get("/api/v1/violations/{event_id}/report.pdf", summary="PDF report in Vietnamese (confirmed only; audited)")
async def report_pdf(event_id: EventId, request: Request, user: Reviewer, db: Db) -> Response:
    violation = await _confirmed(db, user, event_id)
    evidence = await violations.evidence_of(db, event_id)
    payload = await violations.event_payload(db, event_id, violation.event_ts)
    images = [(item["kind"], _read_file(request, item["sha256"])) for item in evidence
              if item["present"] and (item["mime"] or "").startswith("image/") and item["kind"] in ("overview", "plate", "vehicle")]
    images.sort(key=lambda pair: pair[0] != "overview")
    link = await _link_or_none(db, event_id)
    # The signed manifest is the authority for what the edge measured; the payload is the fallback.
    manifest = Manifest.parse(link.manifest) if link is not None else None
    measurements = dict(manifest.measurements) if manifest else (
        payload.get("measurements") if isinstance(payload.get("measurements"), dict) else {})
    plate_colour = manifest.plate.colour if manifest and manifest.plate else None
    data = ReportData(
        violation=violation, officer=user.username, images=images,
        evidence=[e for e in evidence if e["kind"] != "manifest"],
        manifest_hash=link.verdict.hash if link else None,
        manifest_verified=link.verdict.verified if link else None,
        manifest_problems=link.verdict.codes if link else [],
        calibration_id=(manifest.calibration_id if manifest else None) or payload.get("calibration_id"),
        measurements=measurements, plate_colour=plate_colour,
        signed_camera_name=manifest.camera_name if manifest else None,
        signed_place=manifest.place if manifest else None,
    )
    pdf = render_report(data)
    await violations.mark_exported(db, user, event_id, "pdf", hashlib.sha256(pdf).hexdigest())
    name = f"vi-pham-{(violation.plate or 'chua-ro').replace(' ', '_')}-{str(event_id)[:8]}.pdf"
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/api/v1/violations/{event_id}/evidence.zip",
            summary="Evidence ZIP: files, signed manifest, chain link, report (confirmed only; audited)")
async def evidence_zip(event_id: EventId, request: Request, user: Reviewer, db: Db) -> Response:
    violation = await _confirmed(db, user, event_id)
    link = await chain_link_for_event(db, str(event_id))
    if link.public_key is None:
        raise Conflict("the edge's public key is not registered: the evidence cannot be exported verifiably")
    files = await _files(db, request, event_id)
    pdf_response = await report_pdf(event_id, request, user, db)
    blob = build_evidence_zip(
        link.manifest, link.signature, link.public_key, files,
        prev_manifest=link.prev_manifest, prev_signature=link.prev_signature,
        extra={"report.pdf": bytes(pdf_response.body)},
    )
    await violations.mark_exported(db, user, event_id, "zip", hashlib.sha256(blob).hexdigest())
    name = f"vi-pham-{(violation.plate or 'chua-ro').replace(' ', '_')}-{str(event_id)[:8]}.zip"
    return Response(blob, media_type="application/zip", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.delete("/api/v1/evidence/{sha256}", summary="Delete an evidence file (admin, reason required, audited)")
async def delete_evidence(
    sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
    request: Request,
    user: Admin,
    db: Db,
    reason: Annotated[str, Query(min_length=3, max_length=2000)],
) -> dict[str, Any]:
    stored = await violations.purge_evidence(db, user, sha256, reason)
    path = request.app.state.settings.data_dir / stored
    try:
        path.unlink()
    except FileNotFoundError:
        log.warning("evidence %s had no file at %s", sha256, path)
    return {"deleted": sha256}

