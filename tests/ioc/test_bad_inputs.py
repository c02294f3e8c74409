"""Bad input: each is answered with a 4xx and a clear message, and nothing is stored."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

import psycopg
import pytest

from tests.ioc.conftest import EdgeLogin, Factory, Hub

SQL = "x'; DROP TABLE events; --"


def _batch(e: EdgeLogin, m: Factory, c: str, **fields: Any) -> dict[str, Any]:
    return {"events": [m.event(e, c) | fields]}


# (name, builder(edge, make, cam) -> request kwargs, status, words in the message)
CASES = [
    ("malformed JSON", lambda e, m, c: {"content": b'{"events": [', "headers": {"Content-Type": "application/json"}}, 400, "malformed JSON"),
    ("body is a list", lambda e, m, c: {"json": [1, 2]}, 422, "valid dictionary"),
    ("events is a string", lambda e, m, c: {"json": {"events": "many"}}, 422, "events: Input should be a valid list"),
    ("unknown top-level field", lambda e, m, c: {"json": {"events": [], "drop": True}}, 422, "drop: Extra inputs are not permitted"),
    ("oversized batch", lambda e, m, c: {"json": {"events": [m.event(e, c, seq=i) for i in range(1001)]}}, 413, "at most 1000"),
    ("event is not an object", lambda e, m, c: {"json": {"events": ["boom"]}}, 422, "must be a JSON object"),
    ("wrong type of seq", lambda e, m, c: {"json": _batch(e, m, c, seq="many")}, 422, "seq: Input should be a valid integer"),
    ("unknown event field", lambda e, m, c: {"json": _batch(e, m, c, colour="red")}, 422, "colour: Extra inputs are not permitted"),
    ("naive timestamp", lambda e, m, c: {"json": _batch(e, m, c, ts="2026-11-22T03:14:15")}, 422, "time zone"),
    ("bad event type", lambda e, m, c: {"json": _batch(e, m, c, type="Traffic Jam")}, 422, "type: String should match"),
    ("SQL in camera id", lambda e, m, c: {"json": _batch(e, m, c, camera=SQL)}, 422, "camera: String should match"),
    ("SQL in unit", lambda e, m, c: {"json": _batch(e, m, c, unit=SQL)}, 422, "unit: String should match"),
    ("SQL in event id", lambda e, m, c: {"json": _batch(e, m, c, id=SQL)}, 422, "id: Input should be a valid UUID"),
    ("other edge's id", lambda e, m, c: {"json": _batch(e, m, c, edge="edge-somebody")}, 422, "does not match the token's edge"),
    ("wrong edge token", lambda e, m, c: {"json": _batch(e, m, c), "headers": {"Authorization": "Bearer ioce_" + "x" * 43}}, 401, "unknown edge token"),
    ("no token", lambda e, m, c: {"json": _batch(e, m, c), "headers": {"Authorization": ""}}, 401, "edge bearer token required"),
    ("SQL as token", lambda e, m, c: {"json": _batch(e, m, c), "headers": {"Authorization": f"Bearer {SQL}"}}, 401, "not an edge token"),
]


@pytest.mark.parametrize(("name", "build", "status", "words"), CASES, ids=[c[0] for c in CASES])
async def test_bad_event_posts_are_refused_and_store_nothing(
    hub: Hub, make: Factory, db: psycopg.AsyncConnection, name: str, build: Any, status: int, words: str
) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    kwargs = build(edge, make, cam)
    kwargs["headers"] = edge.headers | kwargs.get("headers", {})
    r = await hub.client.post("/api/v1/events", **kwargs)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"], r.json()
    row = await (await db.execute("SELECT count(*) AS n FROM events WHERE camera = %s OR edge = %s", (cam, edge.id))).fetchone()
    assert row["n"] == 0
    tables = await (await db.execute("SELECT to_regclass('events') IS NOT NULL AS ok")).fetchone()
    assert tables["ok"]


EVIDENCE_CASES = [
    ("bad hash", lambda data: hashlib.sha256(data + b"x").hexdigest(), "image/jpeg", 400, "content hashes to"),
    ("not a hash", lambda data: "' OR 1=1 --", "image/jpeg", 422, "64 lower-case hex"),
    ("upper-case hash", lambda data: hashlib.sha256(data).hexdigest().upper(), "image/jpeg", 422, "64 lower-case hex"),
    ("bad media type", lambda data: hashlib.sha256(data).hexdigest(), "jpeg please", 422, "Content-Type must be a media type"),
]


@pytest.mark.parametrize(("name", "name_of", "mime", "status", "words"), EVIDENCE_CASES, ids=[c[0] for c in EVIDENCE_CASES])
async def test_bad_evidence_uploads_keep_nothing(
    hub: Hub, make: Factory, db: psycopg.AsyncConnection, name: str, name_of: Any, mime: str, status: int, words: str
) -> None:
    tree = await make.tree()
    edge = await make.edge(tree.communes[0])
    data = secrets.token_bytes(5000)
    sha = name_of(data)
    r = await hub.client.put(f"/api/v1/evidence/{sha}", content=data, headers=edge.headers | {"Content-Type": mime})
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    row = await (await db.execute("SELECT count(*) AS n FROM evidence_files WHERE uploaded_by = %s", (edge.id,))).fetchone()
    assert row["n"] == 0
    folder = hub.app.state.settings.data_dir / "evidence"
    assert not folder.exists() or not [p for p in folder.rglob("*") if p.is_file()]


async def test_evidence_upload_needs_an_edge_token(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    op = await make.user("operator", tree.province)
    data = b"evidence"
    r = await hub.client.put(f"/api/v1/evidence/{hashlib.sha256(data).hexdigest()}", content=data,
                             headers=op.headers | {"Content-Type": "image/jpeg"})
    assert r.status_code == 401 and "not an edge token" in r.json()["detail"]


SEARCH_CASES = [
    ({"q": SQL}, 200, None),  # text search is a bound parameter: finds nothing, breaks nothing
    ({"types": SQL}, 200, None),
    ({"unit": SQL}, 403, "outside your unit"),
    ({"since": "yesterday"}, 422, "since: Input should be a valid datetime"),
    ({"limit": 100000}, 422, "limit: Input should be less than or equal to 500"),
    ({"cursor": "not-a-cursor"}, 422, "cursor is not one this API returned"),
    ({"severity": "loud"}, 422, "severity must be info, warning or critical"),
]


@pytest.mark.parametrize(("params", "status", "words"), SEARCH_CASES, ids=[json.dumps(c[0]) for c in SEARCH_CASES])
async def test_bad_search_parameters(hub: Hub, make: Factory, db: psycopg.AsyncConnection, params: dict, status: int, words: str | None) -> None:
    tree = await make.tree()
    op = await make.user("operator", tree.province)
    r = await hub.client.get("/api/v1/events", params=params, headers=op.headers)
    assert r.status_code == status, r.text
    if words:
        assert words in r.json()["detail"]
    else:
        assert r.json() == {"items": [], "next_cursor": None}
    assert (await (await db.execute("SELECT to_regclass('events') IS NOT NULL AS ok")).fetchone())["ok"]


async def test_sql_in_login_is_just_a_wrong_password(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    await make.user("admin", tree.province)
    r = await hub.client.post("/api/v1/auth/login", json={"username": "admin' OR '1'='1", "password": SQL})
    assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"
    r = await hub.client.post("/api/v1/auth/login", json={"username": "x", "password": "y", "role": "admin"})
    assert r.status_code == 422 and "role: Extra inputs are not permitted" in r.json()["detail"]
