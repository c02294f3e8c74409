"""Relay configuration (one model, validated at load time)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contract.config import ConfigModel


class RelayConfig(ConfigModel):
    """How one relay process serves the meetings of its unit.

    Example::

        RelayConfig(unit="744", port=8701, parent_url="ws://province:8700/ws")
    """

    unit: str = Field("root", pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="administrative unit code this relay serves")
    host: str = Field("127.0.0.1", min_length=1, max_length=255, description="address to listen on")
    port: int = Field(8700, ge=0, le=65535, description="TCP port for signalling (0: any free port)")
    parent_url: str | None = Field(None, max_length=2048, description="websocket URL of the parent relay (ws://host:port/ws)")
    parent_token: str | None = Field(None, max_length=4096, description="relay join token for the parent; minted from the secret when absent or expired")
    parent_rooms: list[str] = Field(default_factory=list, max_length=64, description="rooms to link to the parent at start (others are linked when their first local participant joins)")
    video_codec: Literal["VP8", "H264"] = Field("VP8", description="the one video codec of every room (forwarding needs one codec end to end)")
    max_participants: int = Field(300, ge=1, le=5000, description="endpoints per room on this relay")
    max_slots: int = Field(9, ge=1, le=16, description="receive slots per endpoint")
    uplink_pairs: int = Field(3, ge=1, le=8, description="streams a child relay can send upstream at once (spotlight, raised hands)")
    max_message_bytes: int = Field(65536, ge=1024, le=1_048_576, description="largest signalling message accepted")
    join_timeout_s: float = Field(10.0, gt=0, le=120, description="seconds a new socket has to send its join")
    hub_url: str | None = Field(None, max_length=2048, description="hub base URL for attendance reports (http://hub:8000)")
    hub_token: str | None = Field(None, max_length=4096, description="bearer token for the hub's attendance endpoint")
    record_dir: str | None = Field(None, max_length=1024, description="when set, the chair's view of each room is recorded to MP4 here")
    idle_room_s: float = Field(60.0, ge=0.1, le=86400, description="an empty room (not in parent_rooms) is closed, and unlinked, after this long")
    reconnect_max_s: float = Field(5.0, ge=0.1, le=300, description="longest wait between attempts to rejoin the parent")
