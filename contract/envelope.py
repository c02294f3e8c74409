"""The event envelope that travels edge → hub → websocket (DESIGN.md "Event envelope")."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Severity = Literal["info", "warning", "critical"]

# Dotted, lower-case, rooted in one of the five families.
EVENT_TYPE_PATTERN = r"^(traffic|security|count|camera|system)(\.[a-z0-9_]+)+$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
CODE_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


class EvidenceRef(BaseModel):
    """A content-addressed evidence file named by an event."""

    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=SHA256_PATTERN, description="lower-case hex SHA-256 of the file")
    kind: str = Field(min_length=1, max_length=32, description="overview, plate, clip, manifest, ...")
    mime: str = Field(min_length=3, max_length=100, description="media type, e.g. image/jpeg")


class Event(BaseModel):
    """One event as the edge sends it and the wall receives it.

    Example::

        Event(id=new_event_id(), edge="edge-hcm-01", seq=1, camera="cam-01", unit="26734",
              type="traffic.wrong_way", severity="warning", ts=datetime.now(timezone.utc),
              payload={"track": 31, "class": "motorbike"})
    """

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(description="idempotency key, UUID v7 preferred")
    edge: str = Field(pattern=CODE_PATTERN, description="id of the edge worker that saw it")
    seq: int = Field(ge=0, le=2**62, description="per-edge monotonic sequence number")
    camera: str = Field(pattern=CODE_PATTERN, description="camera id")
    unit: str = Field(pattern=CODE_PATTERN, description="administrative unit code of the camera")
    type: str = Field(pattern=EVENT_TYPE_PATTERN, max_length=100, description="dotted event type")
    severity: Severity = "info"
    ts: datetime = Field(description="UTC time when it happened")
    payload: dict[str, Any] = Field(default_factory=dict)
    evidence: list[EvidenceRef] = Field(default_factory=list, max_length=32)

    @field_validator("ts")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("ts must carry a time zone (UTC, e.g. 2026-11-22T03:14:15Z)")
        return value.astimezone(timezone.utc)

    def to_json_dict(self) -> dict[str, Any]:
        """The wire form: ids as strings, ts as ISO-8601 with a Z suffix."""
        data = self.model_dump(mode="json")
        data["ts"] = self.ts.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        return data
