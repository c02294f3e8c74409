"""Role x endpoint x unit: every endpoint checks role and unit scope.

The world: province P -> districts D0, D1 -> communes C0, C1 (under D0), C2, C3.
Event E0 with evidence F0 happens in C0. A user sees it only if their unit is P, D0 or
C0; only admin/operator/police may open evidence or acknowledge; only admin/operator may
post KPI samples; only admins list users.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone

import pytest

from tests.ioc.conftest import Factory, Hub

ROLES = ["admin", "operator", "police", "official", "viewer"]
# where the user sits -> can they see C0?
PLACES = {"province": True, "district0": True, "commune0": True, "commune1": False, "district1": False}


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("role", ROLES)
async def test_role_endpoint_unit_matrix(hub: Hub, make: Factory, role: str, place: str) -> None:
    tree = await make.tree()
    units = {"province": tree.province, "district0": tree.districts[0], "district1": tree.districts[1],
             "commune0": tree.communes[0], "commune1": tree.communes[1]}
    cam0, cam1 = f"cam-{secrets.token_hex(3)}", f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.province, cameras=[(cam0, tree.communes[0]), (cam1, tree.communes[1])])
    f0 = secrets.token_bytes(1000)
    sha0 = hashlib.sha256(f0).hexdigest()
    e0 = make.event(edge, cam0, evidence=[{"sha256": sha0, "kind": "overview", "mime": "image/jpeg"}])
    e1 = make.event(edge, cam1)
    assert (await hub.client.post("/api/v1/events", json={"events": [e0, e1]}, headers=edge.headers)).status_code == 200
    r = await hub.client.put(f"/api/v1/evidence/{sha0}", content=f0, headers=edge.headers | {"Content-Type": "image/jpeg"})
    assert r.status_code == 200

    user = await make.user(role, units[place])
    h = user.headers
    sees = PLACES[place]
    may_open = role in ("admin", "operator", "police")

    listed = {e["id"] for e in (await hub.client.get("/api/v1/events", headers=h)).json()["items"]}
    expected = ({e0["id"]} if sees else set()) | ({e1["id"]} if place in ("province", "district0", "commune1") else set())
    assert listed == expected

    r = await hub.client.get(f"/api/v1/events/{e0['id']}", headers=h)
    assert r.status_code == (200 if sees else 404)

    r = await hub.client.get(f"/api/v1/evidence/{sha0}", headers=h)
    assert r.status_code == (403 if not may_open else 200 if sees else 404), r.text
    if r.status_code == 200:
        assert r.content == f0 and r.headers["content-type"] == "image/jpeg"

    r = await hub.client.post(f"/api/v1/events/{e0['id']}/ack", headers=h)
    assert r.status_code == (403 if not may_open else 200 if sees else 404)

    cams = {c["id"] for c in (await hub.client.get("/api/v1/cameras", headers=h)).json()}
    assert (cam0 in cams) == sees

    stats = (await hub.client.get("/api/v1/stats", params={"window": "1h"}, headers=h)).json()
    assert stats["by_camera"].get(cam0, 0) == (1 if sees else 0)

    sample = {"series": "dvc.on_time_rate", "ts": datetime.now(timezone.utc).isoformat(), "value": 97.5,
              "unit": tree.communes[0], "uom": "%"}
    r = await hub.client.post("/api/v1/metrics", json={"samples": [sample]}, headers=h)
    assert r.status_code == (403 if role not in ("admin", "operator") else 200 if sees else 422), r.text

    r = await hub.client.get("/api/v1/users", headers=h)
    assert r.status_code == (200 if role == "admin" else 403)

    r = await hub.client.get("/api/v1/events", params={"unit": tree.communes[0]}, headers=h)
    assert r.status_code == (200 if sees else 403)


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/cameras", "/api/v1/stats", "/api/v1/metrics",
                                  "/api/v1/units", "/api/v1/auth/me", f"/api/v1/evidence/{'0' * 64}"])
async def test_every_api_needs_a_login(hub: Hub, path: str) -> None:
    r = await hub.client.get(path)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = await hub.client.get(path, headers={"Authorization": "Bearer not.a.jwt"})
    assert r.status_code == 401 and "invalid token" in r.json()["detail"]


async def test_session_cookie_is_httponly_samesite_and_works(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    viewer = await make.user("viewer", tree.province, login=False)
    r = await hub.client.post("/api/v1/auth/login", json={"username": viewer.user.username, "password": viewer.password})
    cookie = r.headers["set-cookie"]
    assert "ioc_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    me = await hub.client.get("/api/v1/auth/me")  # no header: the client's cookie jar sends the cookie
    assert me.json()["username"] == viewer.user.username
    await hub.client.post("/api/v1/auth/logout")
    assert (await hub.client.get("/api/v1/auth/me")).status_code == 401


async def test_login_rate_limit(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    viewer = await make.user("viewer", tree.province, login=False)
    limit = hub.app.state.settings.login_attempts
    for _ in range(limit):
        r = await hub.client.post("/api/v1/auth/login", json={"username": viewer.user.username, "password": "wrong-pass"})
        assert r.status_code == 401
    r = await hub.client.post("/api/v1/auth/login", json={"username": viewer.user.username, "password": viewer.password})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "too many failed logins" in r.json()["detail"]


async def test_disabled_user_token_stops_working(hub: Hub, make: Factory) -> None:
    tree = await make.tree()
    op = await make.user("operator", tree.province)
    assert (await hub.client.get("/api/v1/auth/me", headers=op.headers)).status_code == 200
    await make.conn.execute("UPDATE users SET disabled = true WHERE id = %s", (op.user.id,))
    r = await hub.client.get("/api/v1/auth/me", headers=op.headers)
    assert r.status_code == 401 and "disabled" in r.json()["detail"]
