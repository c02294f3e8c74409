"""Signalling messages (docs/conferencing.md): parsed and validated before anything acts on them.

Every message is one JSON object with a ``type``; pydantic validates it against a
discriminated union, so an unknown type, a missing field, a wrong type or an extra field
is a `SignallingError` with a message a person can act on, and nothing changes.

Example::

    msg = parse_message('{"type": "spotlight", "participant": "u-7"}', max_bytes=65536)
    assert isinstance(msg, Spotlight)
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from conferencing.exceptions import SignallingError

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:@-]{1,128}$")]
Selector = Annotated[
    str, Field(pattern=r"^(spotlight|chair|participant:[A-Za-z0-9_.:@-]{1,128}|auto:[0-9]{1,2})$")
]
MsgId = Annotated[str, Field(max_length=64)]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: MsgId | None = None


class Join(_Msg):
    """First message of every socket."""

    type: Literal["join"]
    token: str | None = Field(None, max_length=4096)
    room: Id | None = None


class Offer(_Msg):
    """The client's SDP offer (with gathered candidates) and its slot selectors."""

    type: Literal["offer"]
    sdp: str = Field(min_length=10, max_length=60_000)
    slots: list[Selector] | None = Field(None, max_length=16)


class Subscribe(_Msg):
    """Re-point receive slots without renegotiation."""

    type: Literal["subscribe"]
    slots: list[Selector] = Field(max_length=16)


class RaiseHand(_Msg):
    type: Literal["raise_hand"]
    raised: bool = True


class Mute(_Msg):
    type: Literal["mute"]
    participant: Id
    muted: bool = True


class Spotlight(_Msg):
    type: Literal["spotlight"]
    participant: Id | None


class End(_Msg):
    type: Literal["end"]


class Leave(_Msg):
    type: Literal["leave"]


class Ping(_Msg):
    type: Literal["ping"]


class MemberInfo(BaseModel):
    """A participant as one relay tells another (roster)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Id
    name: str = Field(min_length=1, max_length=200)
    unit: Id
    role: Literal["chair", "participant", "viewer"]
    pub: bool
    via: Id | None = None


class Roster(_Msg):
    type: Literal["roster"]
    participants: list[MemberInfo] = Field(max_length=5000)


class Uplink(_Msg):
    type: Literal["uplink"]
    pairs: list[Id | None] = Field(max_length=8)


Action = Annotated[Union[RaiseHand, Mute, Spotlight, End], Field(discriminator="type")]


class OnBehalf(_Msg):
    type: Literal["on_behalf"]
    participant: Id
    message: Action


ClientMessage = Annotated[
    Union[Join, Offer, Subscribe, RaiseHand, Mute, Spotlight, End, Leave, Ping, Roster, Uplink, OnBehalf],
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(ClientMessage)


def parse_message(raw: str | bytes, *, max_bytes: int) -> Any:
    """One client message, validated; raises `SignallingError` with a precise reason."""
    if isinstance(raw, bytes):
        raise SignallingError("binary frames are not accepted: send JSON text")
    if len(raw) > max_bytes:
        raise SignallingError(f"message of {len(raw)} characters exceeds {max_bytes}", code="too_large")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise SignallingError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SignallingError("a message must be a JSON object")
    if not isinstance(data.get("type"), str):
        raise SignallingError("a message needs a string 'type'")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise SignallingError(f"invalid {data['type']!r} message at {where or 'top'}: {first.get('msg')}") from exc


def message_id(raw: str | bytes) -> str | None:
    """The client's `id` of a raw message if there is a usable one (for error replies)."""
    try:
        data = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and len(value) <= 64 else None
