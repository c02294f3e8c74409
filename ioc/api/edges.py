"""Edge worker endpoints (edge bearer token): declare cameras, heartbeat, signing key.
Plus the admin action that lets an edge register a new key."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from ioc.api.deps import CurrentEdge, Db
from ioc.api.roles import Admin, EvidenceViewer
from ioc.broker import LiveMessage
from ioc.exceptions import InvalidInput, NotFound
from ioc.services import audit, cameras, edges, outbound, units
from ioc.services.cameras import CameraDecl, CameraStatus

router = APIRouter(prefix="/api/v1/edges", tags=["edges"])


class CameraDeclaration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cameras: list[CameraDecl] = Field(max_length=500)


class Detector(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["yolox", "motion"]
    model: str | None = Field(None, max_length=200)


class Heartbeat(BaseModel):
    """What an edge reports every few seconds."""

    model_config = ConfigDict(extra="forbid")
    ts: datetime
    detector: Detector
    preview_url: str | None = Field(None, max_length=500, pattern=r"^https?://")
    outbox_depth: int = Field(0, ge=0)
    outbox_rejected: int = Field(0, ge=0, le=2**31 - 1, description="events the hub refused, parked in the outbox")
    cameras: list[CameraStatus] = Field(default_factory=list, max_length=500)


class PublicKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key: str = Field(min_length=40, max_length=100, description="base64 of the raw 32-byte Ed25519 key")


@router.put("/self/cameras", summary="Declare this edge's cameras (units inside the edge's subtree)")
async def declare_cameras(body: CameraDeclaration, edge: CurrentEdge, db: Db) -> dict[str, list[str]]:
    return {"cameras": await cameras.declare(db, edge, body.cameras)}


@router.post("/self/heartbeat", summary="Edge heartbeat: camera status, detector, preview address")
async def heartbeat(body: Heartbeat, request: Request, edge: CurrentEdge, db: Db) -> dict[str, Any]:
    settings = request.app.state.settings
    peer = request.client.host if request.client else None
    preview_url, refused = body.preview_url, None
    if preview_url is not None:
        try:
            # The hub will fetch this URL for users: only from the edge itself (or an
            # allow-listed camera host), never wherever a heartbeat points.
            outbound.check_preview_url(preview_url, peer=peer, allow=outbound.parse_allow(settings.camera_hosts_allow))
        except InvalidInput as exc:
            preview_url, refused = None, str(exc)
    await edges.touch(
        db, edge.id, detector=body.detector.model_dump(), preview_url=preview_url, outbox_depth=body.outbox_depth,
        outbox_rejected=body.outbox_rejected, preview_from=peer if preview_url else None,
    )
    request.app.state.metrics.edge_outbox_rejected.labels(edge=edge.id).set(body.outbox_rejected)
    changed = await cameras.heartbeat(db, edge, body.cameras)
    messages = []
    for cam in changed:
        scope = await units.ancestors(db, cam["unit"])
        messages.append(
            LiveMessage.system(
                {
                    "type": "system.camera_status",
                    "camera": cam["id"],
                    "unit": cam["unit"],
                    "status": cam["status"],
                    "last_seen": cam["last_seen"].isoformat().replace("+00:00", "Z"),
                    "stats": cam["stats"],
                    "detector": body.detector.model_dump(),
                },
                scope=scope,
            )
        )
    await request.app.state.broker.publish(messages)
    answer: dict[str, Any] = {"cameras": len(changed)}
    if refused:
        answer["preview_refused"] = refused
    return answer


@router.put("/self/key", summary="Register this edge's Ed25519 public key (replacing needs an admin)")
async def put_key(body: PublicKey, edge: CurrentEdge, db: Db) -> dict[str, bool]:
    changed = await edges.set_key(db, edge.id, body.public_key)
    if changed:
        await audit.record(db, f"edge:{edge.id}", "edge.key_register", f"edge:{edge.id}", {})
    return {"changed": changed}


@router.delete("/{edge_id}/key", status_code=204, summary="Forget an edge's key so it can register a new one (admin)")
async def clear_key(edge_id: str, user: Admin, db: Db) -> None:
    edge = await edges.get(db, edge_id)
    if not await units.in_scope(db, user.unit, edge.unit):
        # Out of scope looks exactly like absent: no existence leak across units.
        raise NotFound(f"edge {edge_id!r} does not exist")
    await edges.clear_key(db, edge_id)
    await audit.record(db, user.username, "edge.key_clear", f"edge:{edge_id}", {})


@router.get("/keys", response_class=PlainTextResponse,
            summary="The registered signing keys of the edges serving your units: a trusted-keys file for "
                    "`ioc evidence verify --trusted-keys`")
async def trusted_keys(user: EvidenceViewer, db: Db) -> PlainTextResponse:
    """`EDGE-ID sha256:FINGERPRINT` per line, for every edge in the caller's units or with a
    camera there. Evidence is verified against these keys, never against the copy inside
    an export ZIP."""
    rows = await edges.keys_in_scope(db, user.unit)
    lines = [f"# signing keys of the edges serving unit {user.unit}, as registered at this hub",
             *(f"{row['id']} {row['fingerprint']}" for row in rows)]
    return PlainTextResponse("\n".join(lines) + "\n", headers={"Cache-Control": "no-store"})
