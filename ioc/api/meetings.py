"""Meetings API and the meeting page `/meet/{meeting}`.

    GET    /api/v1/meetings[?state=running]          meetings in the caller's scope (the wall polls this)
    POST   /api/v1/meetings                          create (officials, admins)
    GET    /api/v1/meetings/{id}                     one meeting, with the caller's role in it
    POST   /api/v1/meetings/{id}/start | /end        chair unit's officials, admins over it
    POST   /api/v1/meetings/{id}/join-token          a short-lived relay join token for the caller
    POST   /api/v1/meetings/{id}/attendance          relays report join/leave (relay bearer token)
    GET    /api/v1/meetings/{id}/attendance          who joined and left
    POST   /api/v1/meetings/{id}/share-camera        publish a live camera into the meeting
    GET    /api/v1/meetings/{id}/shares              running camera shares
    DELETE /api/v1/meetings/{id}/shares/{key}        stop one
    GET    /meet/{id}                                the meeting page

Every rule lives in `ioc.services.meetings`; this module maps HTTP to it.

Example::

    curl -b cookies -X POST http://127.0.0.1:8000/api/v1/meetings/$ID/join-token \\
         -H 'Content-Type: application/json' -d '{"endpoint": "tab-1"}'
"""

from __future__ import annotations

import hashlib
import re
import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, AsyncIterator, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Body, FastAPI, Path, Query, Request, status
from fastapi.responses import HTMLResponse
from pydantic import Field, model_validator

from conferencing.exceptions import PermissionDenied as ConferencingPermissionDenied
from conferencing.exceptions import RoomEnded
from ioc.api.deps import AppSettings, CurrentUser, Db, PageUser

# The meeting page reuses the web area's renderer: same language switch, catalogue and
# security headers as the other pages.
from ioc.api.pages import render, request_lang
from contract import ConfigModel
from ioc.exceptions import InvalidInput, NotFound, PermissionDenied
from ioc.services import cameras, meetings, outbound, units, users
from ioc.services.meetings import AttendanceReport, MeetingSpec

if TYPE_CHECKING:
    # aiortc and PyAV come with it: imported when the first share starts, never at hub import.
    from conferencing.camera_share import CameraShareManager


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Camera shares are aiortc tasks of this process: they stop when the hub stops. The
    # manager (and aiortc with it) exists only once a share was started (`_shares`).
    app.state.camera_shares = None
    try:
        yield
    finally:
        if app.state.camera_shares is not None:
            await app.state.camera_shares.stop_all()


router = APIRouter(tags=["meetings"], lifespan=_lifespan)

MeetingId = Annotated[str, Path(min_length=1, max_length=64, description="meeting id (UUID)")]
SHARE_FAILED = "the camera stream could not be opened or published; the hub's log has the details"


class JoinRequest(ConfigModel):
    """Body of `POST /join-token`: which tab or device of the user joins."""

    endpoint: str = Field(
        "web", pattern=r"^[A-Za-z0-9_-]{1,40}$", description="stable per browser tab, so a reconnect replaces the old seat"
    )


class ShareRequest(ConfigModel):
    """Body of `POST /share-camera`: a camera of the hub, or a stream URL.

    Example::

        {"camera_id": "cam-nga-tu-01"}
        {"url": "rtsp://10.1.2.3:554/stream1", "label": "Cầu Rồng"}
    """

    camera_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="a camera with an edge preview")
    url: str | None = Field(None, max_length=1000, description="rtsp://, http:// or https:// (MJPEG) stream")
    label: str | None = Field(None, min_length=1, max_length=120, description="name shown on the tile")

    @model_validator(mode="after")
    def _one_source(self) -> ShareRequest:
        if (self.camera_id is None) == (self.url is None):
            raise ValueError("give exactly one of camera_id or url")
        if self.url is not None:
            parts = urlsplit(self.url)
            if parts.scheme not in ("rtsp", "rtsps", "http", "https") or not parts.hostname:
                raise ValueError("url must be rtsp://, rtsps://, http:// or https:// with a host")
        return self


class _NoShares:
    """Stands in for the manager while this process has started no share: nothing runs,
    and listing or stopping does not load aiortc."""

    def list(self, prefix: str = "") -> list[Any]:
        return []

    async def stop(self, key: str) -> bool:
        return False


def _shares(request: Request, *, create: bool = False) -> CameraShareManager | _NoShares:
    manager = getattr(request.app.state, "camera_shares", None)
    if manager is None:
        if not create:
            return _NoShares()
        from conferencing.camera_share import CameraShareManager  # first share of this process

        manager = request.app.state.camera_shares = CameraShareManager()
    return manager


# ---- meetings --------------------------------------------------------------------------


@router.get("/api/v1/meetings", summary="Meetings in the caller's scope")
async def list_meetings(
    user: CurrentUser,
    db: Db,
    state: Annotated[Literal["scheduled", "running", "ended"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Meetings the caller is invited to or whose units lie in the caller's scope;
    `participants` counts the endpoints present now."""
    items = await meetings.list_meetings(db, user, state=state, limit=limit)
    counts = await meetings.present_counts(db, [m.id for m in items])
    names = await meetings.unit_names(db, user.unit) if items else {}
    out = []
    for m in items:
        data = m.to_json()
        data["unit"] = m.chair_unit
        data["unit_name"] = names.get(m.chair_unit) or await _unit_name(db, m.chair_unit)
        data["participants"] = counts.get(m.id, 0)
        data["url"] = f"/meet/{m.id}"
        out.append(data)
    return {"items": out}


async def _unit_name(db: Any, code: str) -> str:
    try:
        return (await units.get(db, code)).name
    except NotFound:
        return code


@router.post("/api/v1/meetings", status_code=status.HTTP_201_CREATED, summary="Create a meeting")
async def create_meeting(user: CurrentUser, db: Db, spec: Annotated[MeetingSpec, Body()]) -> dict[str, Any]:
    """Schedule a meeting: title, chair unit, invited subtree, time, relay per unit."""
    meeting = await meetings.create_meeting(db, user, spec)
    return meeting.to_json()


@router.get("/api/v1/meetings/{meeting_id}", summary="One meeting")
async def get_meeting(user: CurrentUser, db: Db, meeting_id: MeetingId) -> dict[str, Any]:
    """The meeting, the names of its units and what the caller may do in it."""
    meeting = await meetings.get_meeting(db, user, meeting_id)
    data = meeting.to_json()
    data["units"] = await meetings.unit_names(db, meeting.invited_root)
    data["you"] = await meetings.describe_caller(db, user, meeting)
    return data


@router.post("/api/v1/meetings/{meeting_id}/start", summary="Start a meeting")
async def start_meeting(user: CurrentUser, db: Db, meeting_id: MeetingId) -> dict[str, Any]:
    """Mark the meeting running (the chair's first join does this too)."""
    return (await meetings.set_state(db, user, meeting_id, "running")).to_json()


@router.post("/api/v1/meetings/{meeting_id}/end", summary="End a meeting")
async def end_meeting(request: Request, user: CurrentUser, db: Db, meeting_id: MeetingId) -> dict[str, Any]:
    """Mark the meeting ended and stop its camera shares."""
    meeting = await meetings.set_state(db, user, meeting_id, "ended")
    manager = _shares(request)
    for share in manager.list(prefix=f"{meeting.id}:"):
        await manager.stop(share.key)
    return meeting.to_json()


@router.post("/api/v1/meetings/{meeting_id}/join-token", summary="Join token for the caller")
async def join_token(
    user: CurrentUser,
    db: Db,
    settings: AppSettings,
    meeting_id: MeetingId,
    body: Annotated[JoinRequest | None, Body()] = None,
) -> dict[str, Any]:
    """A relay join token (≤ 5 min) for the caller's role in this meeting, and the relay
    of the caller's unit. 403 for uninvited units, 409 once the meeting has ended."""
    grant = await meetings.grant_join(
        db, user, meeting_id, endpoint=(body or JoinRequest()).endpoint,
        secret=settings.relay_secret.get_secret_value(),
    )
    return grant.to_json()


@router.post(
    "/api/v1/meetings/{meeting_id}/attendance", status_code=status.HTTP_204_NO_CONTENT, summary="Relay attendance report"
)
async def report_attendance(
    request: Request, db: Db, settings: AppSettings, meeting_id: MeetingId, report: Annotated[AttendanceReport, Body()]
) -> None:
    """A relay reports that an endpoint joined or left (or the chair ended the meeting).

    Authenticated by the relay's hub token or a relay join token for this meeting."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    relay_unit = meetings.relay_unit_from_token(
        token.strip() if scheme.lower() == "bearer" else None,
        meeting_id=meeting_id,
        secret=settings.relay_secret.get_secret_value(),
    )
    if report.relay is not None and report.relay != relay_unit:
        raise InvalidInput(f"report names relay {report.relay!r} but the token is relay {relay_unit!r}'s")
    await meetings.record_attendance(db, meeting_id, report, relay_unit=relay_unit)


@router.get("/api/v1/meetings/{meeting_id}/attendance", summary="Attendance of a meeting")
async def get_attendance(user: CurrentUser, db: Db, meeting_id: MeetingId) -> dict[str, Any]:
    """Every stay of every endpoint: who, which unit, joined and left."""
    return {"items": await meetings.attendance(db, user, meeting_id)}


# ---- camera shares -----------------------------------------------------------------------


@router.post(
    "/api/v1/meetings/{meeting_id}/share-camera", status_code=status.HTTP_202_ACCEPTED, summary="Share a camera"
)
async def share_camera(
    request: Request,
    user: CurrentUser,
    db: Db,
    settings: AppSettings,
    meeting_id: MeetingId,
    body: Annotated[ShareRequest, Body()],
) -> dict[str, Any]:
    """Publish a live camera into the meeting as a participant (server-side aiortc).

    The camera is read here, on the hub, from its edge preview (MJPEG) or the RTSP URL,
    so every tier sees it through the relays like any other speaker."""
    allow = outbound.parse_allow(settings.camera_hosts_allow)
    if body.camera_id is not None:
        camera = await cameras.get_in_scope(db, body.camera_id, user.unit, offline_after_s=settings.camera_offline_s)
        url = await cameras.preview_url(db, camera.id, allow=allow)
        if url is None:
            raise NotFound(f"camera {camera.id!r} has no live preview (its edge sent no usable preview_url)")
        label = body.label or camera.name
        source_id = camera.id
    else:
        assert body.url is not None
        url, label = body.url, body.label or (urlsplit(body.url).hostname or "camera")
        source_id = body.url
    key_part = re.sub(r"[^A-Za-z0-9_-]", "-", source_id)[:24] + "-" + hashlib.sha256(source_id.encode()).hexdigest()[:8]
    grant = await meetings.grant_camera_share(
        db, user, meeting_id, share_key=key_part, label=label, secret=settings.relay_secret.get_secret_value()
    )
    if body.url is not None:
        # After the caller's right to share here is established, before anything starts:
        # the hub opens only camera hosts, never what a URL names (SSRF).
        await outbound.check_share_url(body.url, allow)
    meeting_uuid = uuid.UUID(grant.room)
    pool = request.app.state.pool
    secret = settings.relay_secret.get_secret_value()

    async def fresh_grant() -> tuple[str, str]:
        # Each reconnect gets a new token: the first may have expired meanwhile, and the
        # rules are checked again against the user as stored now (disabled, moved, ...).
        async with pool.connection() as conn:
            try:
                current = await users.get(conn, user.id)
                if current is None:
                    raise PermissionDenied(f"user {user.username} no longer exists or is disabled")
                again = await meetings.grant_camera_share(
                    conn, current, meeting_uuid, share_key=key_part, label=label, secret=secret
                )
            except meetings.MeetingStateError as exc:
                raise RoomEnded(str(exc)) from exc
            except (PermissionDenied, NotFound) as exc:
                raise ConferencingPermissionDenied(str(exc)) from exc
        return again.relay_url, again.token

    key = f"{meeting_uuid}:{key_part}"
    from conferencing.camera_share import CameraShare

    share = _shares(request, create=True).start(key, CameraShare(url, fresh_grant, label=label))  # type: ignore[union-attr]
    await meetings.audit_share(db, user, meeting_uuid, action="meeting.share_camera", source=source_id, label=label)
    return {"key": key, "participant": grant.sub, "label": label, "state": share.status.state}


@router.get("/api/v1/meetings/{meeting_id}/shares", summary="Running camera shares")
async def list_shares(request: Request, user: CurrentUser, db: Db, meeting_id: MeetingId) -> dict[str, Any]:
    """The camera shares running for this meeting on this hub process."""
    meeting = await meetings.get_meeting(db, user, meeting_id)
    # `last_error` says that the stream failed, never what the far end answered: the
    # details (which may quote another host's reply) stay in the hub's log.
    items = [
        {"key": s.key, "label": s.label, "state": s.state, "connects": s.connects,
         "last_error": None if s.last_error is None else SHARE_FAILED}
        for s in _shares(request).list(prefix=f"{meeting.id}:")
    ]
    return {"items": items}


@router.delete(
    "/api/v1/meetings/{meeting_id}/shares/{key}", status_code=status.HTTP_204_NO_CONTENT, summary="Stop a camera share"
)
async def stop_share(
    request: Request, user: CurrentUser, db: Db, meeting_id: MeetingId, key: Annotated[str, Path(max_length=200)]
) -> None:
    """Stop sharing one camera."""
    meeting = await meetings.get_meeting(db, user, meeting_id)
    if user.role not in meetings.SHARE_ROLES:
        raise meetings.MeetingForbidden(f"role {user.role!r} may not manage camera shares")
    if not key.startswith(f"{meeting.id}:") or not await _shares(request).stop(key):
        raise NotFound(f"no camera share {key!r} in this meeting")
    await meetings.audit_share(db, user, meeting.id, action="meeting.unshare_camera", source=key, label="")


# ---- page ----------------------------------------------------------------------------------


@router.get("/meet/{meeting_id}", response_class=HTMLResponse, summary="Meeting page")
async def meet_page(request: Request, user: PageUser, db: Db, meeting_id: MeetingId) -> HTMLResponse:
    """The meeting in the browser: devices, grid, spotlight, chair controls, raise hand."""
    lang = request_lang(request)
    meeting = await meetings.get_meeting(db, user, meeting_id)
    you = await meetings.describe_caller(db, user, meeting)
    page = {
        "meeting": {
            "id": str(meeting.id),
            "title": meeting.title,
            "state": meeting.state,
            "chair_unit": meeting.chair_unit,
        },
        "units": await meetings.unit_names(db, meeting.invited_root),
        "you": you,
    }
    response = render(request, "meet.html", lang=lang, user=user, page=page, meeting=meeting, you=you)
    # The page talks to the relays over websockets, which are other origins than the hub.
    origins = " ".join(sorted({_ws_origin(url) for url in meeting.relays.values()}))
    response.headers["Content-Security-Policy"] = response.headers["Content-Security-Policy"].replace(
        "connect-src 'self'", f"connect-src 'self' {origins}".rstrip()
    )
    return response


def _ws_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
