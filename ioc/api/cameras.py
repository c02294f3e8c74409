"""Cameras in the caller's units, and the live preview proxied from the camera's edge."""

from __future__ import annotations

from typing import AsyncIterator

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ioc.api.deps import CurrentUser, Db, token_of, user_from_token
from ioc.exceptions import NotAuthenticated, NotFound
from ioc.services import cameras
from ioc.services.cameras import Camera
from ioc.services.outbound import parse_allow

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])


@router.get("", response_model=list[Camera], summary="Cameras in your units with status and last seen")
async def list_cameras(request: Request, user: CurrentUser, db: Db) -> list[Camera]:
    return await cameras.list_in_scope(db, user.unit, offline_after_s=request.app.state.settings.camera_offline_s)


@router.get("/{camera_id}", response_model=Camera, summary="One camera in your units")
async def get_camera(camera_id: str, request: Request, user: CurrentUser, db: Db) -> Camera:
    return await cameras.get_in_scope(db, camera_id, user.unit, offline_after_s=request.app.state.settings.camera_offline_s)


@router.get("/{camera_id}/preview.mjpg", summary="Live MJPEG preview, proxied from the camera's edge")
async def preview(camera_id: str, request: Request) -> StreamingResponse:
    # No `Db`/`CurrentUser` dependencies: they would hold a pooled connection for as long
    # as someone watches the stream. Check access on a short-lived one instead.
    settings = request.app.state.settings
    async with request.app.state.pool.connection() as db:
        token = token_of(request)
        if not token:
            raise NotAuthenticated("not logged in: send a bearer token or the session cookie")
        user = await user_from_token(db, settings, token)
        await cameras.get_in_scope(db, camera_id, user.unit, offline_after_s=settings.camera_offline_s)
        url = await cameras.preview_url(db, camera_id, allow=parse_allow(settings.camera_hosts_allow))
    if url is None:
        raise NotFound(f"camera {camera_id!r} has no live preview (its edge has not announced one)")
    client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=30.0))
    try:
        upstream = await client.send(client.build_request("GET", url), stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        raise NotFound(f"the edge preview of camera {camera_id!r} is unreachable: {exc}") from exc
    if upstream.status_code != 200:
        await upstream.aclose()
        await client.aclose()
        raise NotFound(f"the edge answered {upstream.status_code} for camera {camera_id!r}")

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        except httpx.HTTPError:
            return  # edge went away: end the stream, the browser reconnects
        finally:
            await upstream.aclose()
            await client.aclose()

    media = upstream.headers.get("content-type", "multipart/x-mixed-replace; boundary=frame")
    return StreamingResponse(body(), media_type=media, headers={"Cache-Control": "no-store"})
