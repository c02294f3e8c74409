"""Meetings between administrative units: schedule, state, who may join, attendance.

The hub owns the meeting records; the relays (``conferencing/``) own the media. The
hub hands a logged-in user a short-lived join token (``contract.tokens``) for the
relay of their own unit, and the relays report back who joined and left.

Rules, enforced here so that every caller (API, CLI, demo) gets the same answer:

- a meeting invites one subtree of the unit tree: ``invited_root`` and every unit below;
- the chair unit lies inside that subtree; the chair unit's officials (and admins of
  that unit) join as ``chair``;
- other officials and admins of invited units join as ``participant`` and may publish;
- operators, police and viewers of invited units join as ``viewer`` (never publish);
- anyone else gets `MeetingForbidden` (HTTP 403), including officials of units that
  are in their own scope but not invited;
- an ended meeting cannot be joined (`MeetingStateError`, HTTP 409);
- the endpoint joins through the relay of the nearest unit at or above its own unit
  among the meeting's relays.

Example::

    meeting = await create_meeting(conn, actor, MeetingSpec(
        title="Giao ban tuần", chair_unit="01", invited_root="01",
        scheduled_at=datetime.now(timezone.utc), relays={"01": "ws://relay-01:8700/ws"}))
    grant = await grant_join(conn, official, meeting.id, endpoint="tab-1")
    grant.token  # hand it to the relay
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

import jwt
from psycopg import AsyncConnection
from psycopg.rows import dict_row, tuple_row
from pydantic import AwareDatetime, Field, field_validator, model_validator

from contract.exceptions import TokenError
from contract.tokens import Role, issue_join_token, verify_join_token
from contract import ConfigModel, new_event_id
from ioc.exceptions import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from ioc.services import audit, units

if TYPE_CHECKING:
    from ioc.services.users import User

MeetingState = Literal["scheduled", "running", "ended"]
STATES: tuple[str, ...] = ("scheduled", "running", "ended")
# Which state changes are allowed; "ended" is final.
_TRANSITIONS: dict[str, set[str]] = {"scheduled": {"running", "ended"}, "running": {"ended"}, "ended": set()}
PUBLISHING_ROLES = frozenset({"official", "admin"})
JOIN_TOKEN_TTL_S = 300
_UNIT_CODE = r"^[A-Za-z0-9_.:-]{1,64}$"
_ENDPOINT = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class MeetingNotFound(NotFound):
    """No meeting with this id, or not visible to the caller (HTTP 404)."""


class MeetingForbidden(PermissionDenied):
    """The caller's role or unit does not allow this (HTTP 403)."""


class MeetingStateError(Conflict):
    """The meeting's state does not allow this (HTTP 409)."""


class MeetingInvalid(InvalidInput):
    """The request names unknown units or inconsistent fields (HTTP 422)."""


class MeetingSpec(ConfigModel):
    """What a caller gives to create a meeting.

    Example::

        MeetingSpec(title="Họp trực tuyến", chair_unit="01", invited_root="01",
                    scheduled_at="2026-11-24T08:00:00Z", relays={"01": "ws://10.0.0.5:8700/ws"})
    """

    title: str = Field("Cuộc họp trực tuyến", min_length=1, max_length=200, description="shown on the wall and the page")
    chair_unit: str = Field("", pattern=_UNIT_CODE, description="unit whose officials chair the meeting")
    invited_root: str = Field(
        "", pattern=_UNIT_CODE, description="the invited units are this unit and its whole subtree"
    )
    scheduled_at: AwareDatetime = Field(
        default_factory=lambda: datetime.now(timezone.utc), description="planned start, with a time zone"
    )
    duration_min: int = Field(60, ge=1, le=1440, description="planned length in minutes")
    relays: dict[str, str] = Field(
        default_factory=dict,
        max_length=500,
        description="relay websocket URL per unit code; must include invited_root",
    )

    @field_validator("title")
    @classmethod
    def _strip_title(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("title must not be blank")
        return value

    @field_validator("relays")
    @classmethod
    def _check_relays(cls, value: dict[str, str]) -> dict[str, str]:
        for unit, url in value.items():
            if not re.match(_UNIT_CODE, unit):
                raise ValueError(f"relay unit {unit!r} is not a unit code")
            if not re.match(r"^wss?://[^\s/]+(/\S*)?$", url) or len(url) > 500:
                raise ValueError(f"relay URL for unit {unit!r} must be ws:// or wss://, got {url!r}")
        return value

    @model_validator(mode="after")
    def _root_has_relay(self) -> MeetingSpec:
        if self.invited_root and self.invited_root not in self.relays:
            raise ValueError(f"relays must include the invited root unit {self.invited_root!r}")
        return self


@dataclass(slots=True)
class Meeting:
    """One meeting as stored, with its relays.

    Example::

        meeting.to_json()["state"]  # "scheduled"
    """

    id: uuid.UUID
    title: str
    chair_unit: str
    invited_root: str
    scheduled_at: datetime
    duration_min: int
    state: MeetingState
    created_by: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    relays: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The API form: ids as strings, times as ISO-8601."""

        def iso(value: datetime | None) -> str | None:
            return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None

        return {
            "id": str(self.id),
            "title": self.title,
            "chair_unit": self.chair_unit,
            "invited_root": self.invited_root,
            "scheduled_at": iso(self.scheduled_at),
            "duration_min": self.duration_min,
            "state": self.state,
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "relays": dict(self.relays),
        }


@dataclass(frozen=True, slots=True)
class JoinGrant:
    """A join token and where to use it.

    Example::

        grant = await grant_join(conn, user, meeting_id, endpoint="tab1")
        websocket_connect(grant.relay_url)  # then send {"type": "join", "token": grant.token}
    """

    token: str
    relay_url: str
    relay_unit: str
    room: str
    sub: str
    role: Role
    pub: bool
    expires_in: int

    def to_json(self) -> dict[str, Any]:
        """The API form."""
        return {
            "token": self.token,
            "relay_url": self.relay_url,
            "relay_unit": self.relay_unit,
            "room": self.room,
            "sub": self.sub,
            "role": self.role,
            "pub": self.pub,
            "expires_in": self.expires_in,
        }


class AttendanceReport(ConfigModel):
    """What a relay reports when an endpoint joins or leaves, or the chair ends the meeting.

    The shape is the relay's (docs/conferencing.md, "Attendance").

    Example::

        AttendanceReport(event="join", participant="u7-tab1", name="Nguyễn Văn A", unit="26734",
                         role="participant", at="2026-11-24T08:01:00Z", relay="26734")
    """

    event: Literal["join", "leave", "end"] = Field("join", description="what happened")
    participant: str = Field("-", min_length=1, max_length=128, description="participant id (the token's sub)")
    name: str = Field("-", min_length=1, max_length=200, description="display name")
    unit: str = Field("-", pattern=_UNIT_CODE, description="the endpoint's unit code")
    role: Role = Field("participant", description="the endpoint's role in the room")
    at: AwareDatetime = Field(default_factory=lambda: datetime.now(timezone.utc), description="when it happened")
    relay: str | None = Field(None, pattern=_UNIT_CODE, description="unit code of the reporting relay")


# ---- relay credentials --------------------------------------------------------------

RELAY_HUB_AUDIENCE = "ioc-hub"
RELAY_HUB_TOKEN_TTL_S = 365 * 86400


def issue_relay_hub_token(unit: str, *, secret: str, ttl_s: int = RELAY_HUB_TOKEN_TTL_S) -> str:
    """A long-lived token with which the relay of `unit` reports attendance to the hub.

    Signed with the relay secret (``IOC_RELAY_SECRET``) like join tokens, but for the
    audience ``ioc-hub``, so it can never be used to join a room.

    Example::

        token = issue_relay_hub_token("01", secret=settings.relay_secret.get_secret_value())
        # ioc relay --unit 01 --hub-url http://hub:8000 --hub-token "$token"
    """
    if not re.match(_UNIT_CODE, unit):
        raise MeetingInvalid(f"relay unit {unit!r} is not a unit code")
    now = int(datetime.now(timezone.utc).timestamp())
    claims = {"iss": "ioc-hub", "aud": RELAY_HUB_AUDIENCE, "sub": f"relay:{unit}", "unit": unit, "role": "relay",
              "iat": now, "exp": now + ttl_s}
    return jwt.encode(claims, secret, algorithm="HS256")


def relay_unit_from_token(token: str | None, *, meeting_id: str, secret: str) -> str:
    """The unit of the relay that presents `token`; `NotAuthenticated` when it is no relay's.

    Two kinds are accepted: the relay's long-lived hub token (`issue_relay_hub_token`),
    and a join token with role ``relay`` for this very meeting (a relay that holds the
    secret may mint one per report).
    """
    if not token:
        raise NotAuthenticated("relay token required (Authorization: Bearer ...)")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], audience=RELAY_HUB_AUDIENCE, issuer="ioc-hub",
                            options={"require": ["exp", "sub"]})
    except jwt.InvalidTokenError:
        claims = None
    if claims is not None:
        unit = claims.get("unit")
        if claims.get("role") != "relay" or not isinstance(unit, str) or not re.match(_UNIT_CODE, unit):
            raise NotAuthenticated("hub token is not a relay's")
        return unit
    try:
        join = verify_join_token(token, room=meeting_id, secret=secret)
    except TokenError as exc:
        raise NotAuthenticated(f"relay token refused: {exc}") from exc
    if join.role != "relay":
        raise NotAuthenticated("only relays report attendance")
    return join.unit


# ---- queries -------------------------------------------------------------------------


_MEETING_COLUMNS = (
    "id, title, chair_unit, invited_root, scheduled_at, duration_min, state, created_by, created_at, "
    "started_at, ended_at"
)


async def _load(conn: AsyncConnection, meeting_id: uuid.UUID) -> Meeting | None:
    found = await _load_many(conn, [meeting_id])
    return found[0] if found else None


async def _load_many(conn: AsyncConnection, meeting_ids: list[uuid.UUID]) -> list[Meeting]:
    """The meetings with these ids, in the given order, each with its relays (two queries)."""
    if not meeting_ids:
        return []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_MEETING_COLUMNS} FROM meetings WHERE id = ANY(%s)", (meeting_ids,))
        rows = {row["id"]: row for row in await cur.fetchall()}
        await cur.execute(
            "SELECT meeting_id, unit, url FROM meeting_relays WHERE meeting_id = ANY(%s) ORDER BY unit", (meeting_ids,)
        )
        relays: dict[uuid.UUID, dict[str, str]] = {}
        for r in await cur.fetchall():
            relays.setdefault(r["meeting_id"], {})[r["unit"]] = r["url"]
    return [Meeting(**rows[i], relays=relays.get(i, {})) for i in meeting_ids if i in rows]


async def _unit_exists(conn: AsyncConnection, code: str) -> bool:
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute("SELECT 1 FROM units WHERE code = %s", (code,))
        return await cur.fetchone() is not None


async def _ancestors(conn: AsyncConnection, code: str) -> list[str]:
    """`code` and every unit above it, nearest first."""
    return list(reversed(await units.ancestors(conn, code)))


def _parse_id(meeting_id: str | uuid.UUID) -> uuid.UUID:
    if isinstance(meeting_id, uuid.UUID):
        return meeting_id
    try:
        return uuid.UUID(str(meeting_id))
    except ValueError as exc:
        raise MeetingNotFound(f"no meeting {meeting_id!r}") from exc


async def _visible(conn: AsyncConnection, user: User, meeting: Meeting) -> bool:
    # Invited users see the meeting; so do users whose scope holds the invited root
    # (a province official sees the meetings its districts hold).
    return await units.in_scope(conn, meeting.invited_root, user.unit) or await units.in_scope(
        conn, user.unit, meeting.invited_root
    )


# ---- operations ----------------------------------------------------------------------


async def create_meeting(conn: AsyncConnection, actor: User, spec: MeetingSpec) -> Meeting:
    """Store a new scheduled meeting; officials and admins only, inside their own scope."""
    if actor.role not in PUBLISHING_ROLES:
        raise MeetingForbidden(f"role {actor.role!r} may not create meetings")
    await _check_spec(conn, spec)
    if not await units.in_scope(conn, actor.unit, spec.invited_root):
        raise MeetingForbidden(f"unit {spec.invited_root!r} is outside your scope ({actor.unit})")
    return await _insert(conn, spec, actor.username)


async def create_system_meeting(conn: AsyncConnection, spec: MeetingSpec, *, actor: str, running: bool) -> Meeting:
    """A meeting set up by the system itself (`ioc demo`), not by a logged-in user."""
    await _check_spec(conn, spec)
    meeting = await _insert(conn, spec, actor)
    if running:
        await _transition(conn, meeting, "running", actor)
        meeting = await _load(conn, meeting.id) or meeting
    return meeting


async def _check_spec(conn: AsyncConnection, spec: MeetingSpec) -> None:
    if not spec.chair_unit or not spec.invited_root:
        raise MeetingInvalid("chair_unit and invited_root are required")
    for code in {spec.chair_unit, spec.invited_root, *spec.relays}:
        if not await _unit_exists(conn, code):
            raise MeetingInvalid(f"unknown unit {code!r}")
    if not await units.in_scope(conn, spec.invited_root, spec.chair_unit):
        raise MeetingInvalid(f"chair unit {spec.chair_unit!r} is not inside the invited subtree {spec.invited_root!r}")
    for code in spec.relays:
        if not await units.in_scope(conn, spec.invited_root, code):
            raise MeetingInvalid(f"relay unit {code!r} is not inside the invited subtree {spec.invited_root!r}")


async def _insert(conn: AsyncConnection, spec: MeetingSpec, actor: str) -> Meeting:
    meeting_id = new_event_id()
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO meetings (id, title, chair_unit, invited_root, scheduled_at, duration_min, created_by) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (meeting_id, spec.title, spec.chair_unit, spec.invited_root, spec.scheduled_at, spec.duration_min, actor),
        )
        for code, url in spec.relays.items():
            await conn.execute(
                "INSERT INTO meeting_relays (meeting_id, unit, url) VALUES (%s, %s, %s)", (meeting_id, code, url)
            )
        await audit.record(
            conn, actor, "meeting.create", str(meeting_id),
            {"title": spec.title, "chair_unit": spec.chair_unit, "invited_root": spec.invited_root},
        )
    meeting = await _load(conn, meeting_id)
    assert meeting is not None  # just inserted
    return meeting


async def get_meeting(conn: AsyncConnection, user: User, meeting_id: str | uuid.UUID) -> Meeting:
    """The meeting if the user may see it; `MeetingNotFound` otherwise (no existence leak)."""
    meeting = await _load(conn, _parse_id(meeting_id))
    if meeting is None or not await _visible(conn, user, meeting):
        raise MeetingNotFound(f"no meeting {meeting_id}")
    return meeting


async def list_meetings(
    conn: AsyncConnection, user: User, *, state: MeetingState | None = None, limit: int = 100
) -> list[Meeting]:
    """Meetings the user is invited to or whose invited subtree lies in the user's scope."""
    if state is not None and state not in STATES:
        raise MeetingInvalid(f"state must be one of {STATES}")
    limit = max(1, min(limit, 500))
    async with conn.cursor(row_factory=tuple_row) as cur:
        # Visible: the invited root lies in the user's subtree (units.ancestors holds the
        # user's unit), or is the user's unit or above it (the user is invited).
        await cur.execute(
            """
            SELECT m.id FROM meetings m JOIN units r ON r.code = m.invited_root
            WHERE (%(unit)s = ANY(r.ancestors)
                   OR m.invited_root = ANY(COALESCE((SELECT ancestors FROM units WHERE code = %(unit)s), '{}')))
              AND (%(state)s::text IS NULL OR m.state = %(state)s::text)
            ORDER BY (m.state = 'running') DESC, m.scheduled_at DESC
            LIMIT %(limit)s
            """,
            {"unit": user.unit, "state": state, "limit": limit},
        )
        ids = [row[0] for row in await cur.fetchall()]
    return await _load_many(conn, ids)


async def _may_chair(conn: AsyncConnection, user: User, meeting: Meeting) -> bool:
    if user.role == "official" and user.unit == meeting.chair_unit:
        return True
    # An admin whose scope holds the chair unit may manage the meeting.
    return user.role == "admin" and await units.in_scope(conn, user.unit, meeting.chair_unit)


async def set_state(conn: AsyncConnection, actor: User, meeting_id: str | uuid.UUID, state: MeetingState) -> Meeting:
    """Start or end a meeting; the chair unit's officials and admins over it only."""
    meeting = await get_meeting(conn, actor, meeting_id)
    if not await _may_chair(conn, actor, meeting):
        raise MeetingForbidden("only the chair unit's officials or an admin may start or end the meeting")
    await _transition(conn, meeting, state, actor.username)
    refreshed = await _load(conn, meeting.id)
    assert refreshed is not None
    return refreshed


async def _transition(conn: AsyncConnection, meeting: Meeting, state: str, actor: str) -> None:
    if state == meeting.state:
        return
    if state not in _TRANSITIONS[meeting.state]:
        raise MeetingStateError(f"meeting is {meeting.state}; it cannot become {state}")
    async with conn.transaction():
        # The WHERE on the old state makes concurrent transitions safe: one wins.
        cur = await conn.execute(
            "UPDATE meetings SET state = %s, "
            "started_at = CASE WHEN %s = 'running' THEN now() ELSE started_at END, "
            "ended_at = CASE WHEN %s = 'ended' THEN now() ELSE ended_at END "
            "WHERE id = %s AND state = %s",
            (state, state, state, meeting.id, meeting.state),
        )
        if cur.rowcount == 1:
            await audit.record(conn, actor, f"meeting.{'start' if state == 'running' else 'end'}", str(meeting.id), {})


async def _role_for(conn: AsyncConnection, user: User, meeting: Meeting) -> tuple[Role, bool]:
    invited = await units.in_scope(conn, meeting.invited_root, user.unit)
    if not invited:
        raise MeetingForbidden(f"unit {user.unit} is not invited to this meeting")
    if user.role in PUBLISHING_ROLES:
        if user.unit == meeting.chair_unit:
            return "chair", True
        return "participant", True
    return "viewer", False


async def _relay_for(conn: AsyncConnection, meeting: Meeting, unit: str) -> tuple[str, str]:
    for code in await _ancestors(conn, unit):
        if code in meeting.relays:
            return code, meeting.relays[code]
    raise MeetingInvalid(f"meeting has no relay at or above unit {unit}")


async def grant_join(
    conn: AsyncConnection,
    user: User,
    meeting_id: str | uuid.UUID,
    *,
    endpoint: str,
    secret: str | None = None,
    ttl_s: int = JOIN_TOKEN_TTL_S,
) -> JoinGrant:
    """Issue a join token for `user` on browser tab/device `endpoint`, and audit it.

    The chair's first join starts a scheduled meeting, so the wall shows it as running.
    """
    if not _ENDPOINT.match(endpoint):
        raise MeetingInvalid("endpoint must be 1..40 letters, digits, '-' or '_'")
    meeting = await get_meeting(conn, user, meeting_id)
    if meeting.state == "ended":
        raise MeetingStateError("the meeting has ended")
    role, pub = await _role_for(conn, user, meeting)
    relay_unit, relay_url = await _relay_for(conn, meeting, user.unit)
    sub = f"u{user.id}-{endpoint}"
    token = issue_join_token(
        room=str(meeting.id), sub=sub, name=user.username, unit=user.unit, role=role, pub=pub, ttl_s=ttl_s, secret=secret,
        relay=relay_unit,
    )
    if role == "chair" and meeting.state == "scheduled":
        await _transition(conn, meeting, "running", user.username)
    await audit.record(
        conn, user.username, "meeting.join_token", str(meeting.id),
        {"role": role, "pub": pub, "relay_unit": relay_unit, "endpoint": sub},
    )
    return JoinGrant(
        token=token, relay_url=relay_url, relay_unit=relay_unit, room=str(meeting.id), sub=sub, role=role, pub=pub,
        expires_in=ttl_s,
    )


SHARE_ROLES = frozenset({"operator", "official", "admin"})


async def describe_caller(conn: AsyncConnection, user: User, meeting: Meeting) -> dict[str, Any]:
    """What `user` may do in `meeting`: the role a join would get, chair rights, sharing."""
    invited = await units.in_scope(conn, meeting.invited_root, user.unit)
    role: str | None = None
    pub = False
    if invited:
        role, pub = await _role_for(conn, user, meeting)
    return {
        "invited": invited,
        "role": role,
        "pub": pub,
        "may_manage": await _may_chair(conn, user, meeting),
        "may_share": invited and user.role in SHARE_ROLES,
    }


async def audit_share(
    conn: AsyncConnection, user: User, meeting_id: uuid.UUID, *, action: str, source: str, label: str
) -> None:
    """Audit starting or stopping a camera share (the source URL may carry credentials: cut them)."""
    safe = re.sub(r"//[^/@]*@", "//***@", source)
    await audit.record(conn, user.username, action, str(meeting_id), {"source": safe, "label": label})


async def grant_camera_share(
    conn: AsyncConnection,
    user: User,
    meeting_id: str | uuid.UUID,
    *,
    share_key: str,
    label: str,
    secret: str | None = None,
    ttl_s: int = JOIN_TOKEN_TTL_S,
) -> JoinGrant:
    """A publishing join token for a camera that `user` shares into the meeting.

    The camera joins as a participant named `label`, from the user's unit and through
    the user's relay; sharing needs an operator, official or admin of an invited unit.
    """
    if user.role not in SHARE_ROLES:
        raise MeetingForbidden(f"role {user.role!r} may not share cameras into meetings")
    if not _ENDPOINT.match(share_key):
        raise MeetingInvalid("share key must be 1..40 letters, digits, '-' or '_'")
    meeting = await get_meeting(conn, user, meeting_id)
    if meeting.state == "ended":
        raise MeetingStateError("the meeting has ended")
    if not await units.in_scope(conn, meeting.invited_root, user.unit):
        raise MeetingForbidden(f"unit {user.unit} is not invited to this meeting")
    relay_unit, relay_url = await _relay_for(conn, meeting, user.unit)
    sub = f"cam-{share_key}"
    token = issue_join_token(
        room=str(meeting.id), sub=sub, name=label[:200], unit=user.unit, role="participant", pub=True, ttl_s=ttl_s,
        secret=secret, relay=relay_unit,
    )
    return JoinGrant(
        token=token, relay_url=relay_url, relay_unit=relay_unit, room=str(meeting.id), sub=sub, role="participant",
        pub=True, expires_in=ttl_s,
    )


async def present_counts(conn: AsyncConnection, meeting_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many endpoints are in each meeting now (joined, not yet left)."""
    if not meeting_ids:
        return {}
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            "SELECT meeting_id, count(DISTINCT endpoint) FROM meeting_attendance "
            "WHERE meeting_id = ANY(%s) AND left_at IS NULL GROUP BY meeting_id",
            (meeting_ids,),
        )
        return {row[0]: int(row[1]) for row in await cur.fetchall()}


async def unit_names(conn: AsyncConnection, root: str) -> dict[str, str]:
    """Names of `root` and every unit below it, for labelling tiles."""
    return {u.code: u.name for u in await units.subtree(conn, root)}


async def record_attendance(
    conn: AsyncConnection, meeting_id: str | uuid.UUID, report: AttendanceReport, *, relay_unit: str
) -> None:
    """Store a relay's join/leave report; an `end` report ends the meeting.

    Idempotent: a repeated join (same endpoint and time) is stored once, a leave closes
    the endpoint's open stay (a leave without a join is ignored, not invented).
    """
    meeting = await _load(conn, _parse_id(meeting_id))
    if meeting is None:
        raise MeetingNotFound(f"no meeting {meeting_id}")
    async with conn.transaction():
        if report.event == "join":
            cur = await conn.execute(
                "INSERT INTO meeting_attendance (meeting_id, endpoint, name, unit, role, relay_unit, joined_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (meeting_id, endpoint, joined_at) DO NOTHING",
                (meeting.id, report.participant, report.name, report.unit, report.role, relay_unit, report.at),
            )
            if cur.rowcount == 1:
                await audit.record(
                    conn, report.participant, "meeting.join", str(meeting.id),
                    {"name": report.name, "unit": report.unit, "role": report.role, "relay_unit": relay_unit},
                )
        elif report.event == "leave":
            await conn.execute(
                "UPDATE meeting_attendance SET left_at = GREATEST(%s, joined_at) "
                "WHERE id = (SELECT id FROM meeting_attendance WHERE meeting_id = %s AND endpoint = %s "
                "AND left_at IS NULL ORDER BY joined_at DESC LIMIT 1)",
                (report.at, meeting.id, report.participant),
            )
        else:
            if meeting.state != "ended":
                await _transition(conn, meeting, "ended", f"relay:{relay_unit}")
            await conn.execute(
                "UPDATE meeting_attendance SET left_at = GREATEST(%s, joined_at) WHERE meeting_id = %s AND left_at IS NULL",
                (report.at, meeting.id),
            )


async def attendance(conn: AsyncConnection, user: User, meeting_id: str | uuid.UUID) -> list[dict[str, Any]]:
    """Who joined and left, oldest first; same visibility as the meeting."""
    meeting = await get_meeting(conn, user, meeting_id)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT endpoint, name, unit, role, relay_unit, joined_at, left_at FROM meeting_attendance "
            "WHERE meeting_id = %s ORDER BY joined_at, id",
            (meeting.id,),
        )
        rows = await cur.fetchall()
    for row in rows:
        for key in ("joined_at", "left_at"):
            if row[key] is not None:
                row[key] = row[key].astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return rows
