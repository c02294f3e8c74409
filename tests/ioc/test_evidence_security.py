"""Issue 8 defects 1, 3 and 6: evidence reached by its sha256.

1. `DELETE /api/v1/evidence/{sha}` is scoped like a read: outside the admin's units it is
   a 404 exactly like evidence that does not exist (never a 200, never a 409 that says it
   exists), and the scope is checked before anything else.
3. Only allow-listed media types are stored; evidence is served with `nosniff`, a
   sandbox CSP and, unless it is an image or a video, as an attachment.
6. An edge cannot pull another unit's evidence into its own scope by naming its sha256.

The world: province P, districts D0 (communes C0, C1) and D1 (C2, C3). Edge A serves a
camera in C0, edge B a camera in C2.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from tests.ioc.conftest import EdgeLogin, Factory, Hub, Tree


@dataclass
class World:
    tree: Tree
    a: EdgeLogin
    b: EdgeLogin
    cam_a: str
    cam_b: str


async def world(make: Factory) -> World:
    tree = await make.tree()
    cam_a, cam_b = f"cam-{secrets.token_hex(3)}", f"cam-{secrets.token_hex(3)}"
    a = await make.edge(tree.communes[0], cameras=[(cam_a, tree.communes[0])])
    b = await make.edge(tree.communes[2], cameras=[(cam_b, tree.communes[2])])
    return World(tree, a, b, cam_a, cam_b)


async def upload(hub: Hub, edge: EdgeLogin, data: bytes, mime: str = "image/jpeg") -> Any:
    sha = hashlib.sha256(data).hexdigest()
    return await hub.client.put(f"/api/v1/evidence/{sha}", content=data, headers=edge.headers | {"Content-Type": mime})


async def post(hub: Hub, edge: EdgeLogin, *events: dict[str, Any]) -> Any:
    return await hub.client.post("/api/v1/events", json={"events": list(events)}, headers=edge.headers)


def ref(data: bytes, mime: str = "image/jpeg", kind: str = "overview") -> dict[str, str]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "kind": kind, "mime": mime}


async def stored(db: psycopg.AsyncConnection, sha: str) -> bool:
    row = await (await db.execute("SELECT count(*) AS n FROM evidence_files WHERE sha256 = %s", (sha,))).fetchone()
    return row["n"] == 1


# ---------------------------------------------------------------- 1. delete is scoped


async def _evidence_in_c0(hub: Hub, make: Factory, w: World, *, violation: bool) -> tuple[str, bytes]:
    data = secrets.token_bytes(2000)
    assert (await upload(hub, w.a, data)).status_code == 200
    payload = {"violation": True} if violation else {"track": 1}
    r = await post(hub, w.a, make.event(w.a, w.cam_a, payload=payload, evidence=[ref(data)]))
    assert r.status_code == 200 and r.json()["accepted"], r.text
    return hashlib.sha256(data).hexdigest(), data


@pytest.mark.parametrize("violation", [False, True], ids=["plain evidence", "violation evidence"])
@pytest.mark.parametrize("where", ["commune1", "district1", "commune2"])
async def test_an_admin_outside_the_unit_gets_404_like_not_found(
    hub: Hub, make: Factory, db: psycopg.AsyncConnection, violation: bool, where: str
) -> None:
    w = await world(make)
    sha, _ = await _evidence_in_c0(hub, make, w, violation=violation)
    unit = {"commune1": w.tree.communes[1], "district1": w.tree.districts[1], "commune2": w.tree.communes[2]}[where]
    stranger = await make.user("admin", unit)
    r = await hub.client.delete(f"/api/v1/evidence/{sha}", params={"reason": "dọn dẹp"}, headers=stranger.headers)
    missing = "0" * 63 + "1"
    nothing = await hub.client.delete(f"/api/v1/evidence/{missing}", params={"reason": "dọn dẹp"}, headers=stranger.headers)
    assert (r.status_code, nothing.status_code) == (404, 404), r.text
    # Exactly the answer for evidence that does not exist, with its own sha in it.
    assert r.json() == {"detail": f"evidence {sha} not found"}
    assert nothing.json() == {"detail": f"evidence {missing} not found"}
    assert await stored(db, sha)
    assert (hub.app.state.settings.data_dir / (await (await db.execute(
        "SELECT path FROM evidence_files WHERE sha256 = %s", (sha,))).fetchone())["path"]).is_file()


async def test_an_admin_in_scope_deletes_and_is_refused_for_violation_evidence(
    hub: Hub, make: Factory, db: psycopg.AsyncConnection
) -> None:
    w = await world(make)
    plain, _ = await _evidence_in_c0(hub, make, w, violation=False)
    held, _ = await _evidence_in_c0(hub, make, w, violation=True)
    for unit in (w.tree.communes[0], w.tree.province):
        admin = await make.user("admin", unit)
        r = await hub.client.delete(f"/api/v1/evidence/{held}", params={"reason": "dọn dẹp"}, headers=admin.headers)
        assert r.status_code == 409, r.text  # in scope: the honest answer
    admin = await make.user("admin", w.tree.communes[0])
    r = await hub.client.delete(f"/api/v1/evidence/{plain}", params={"reason": "dọn dẹp"}, headers=admin.headers)
    assert r.status_code == 200 and not await stored(db, plain)


async def test_evidence_nobody_names_is_the_uploading_edges_units(hub: Hub, make: Factory, db: psycopg.AsyncConnection) -> None:
    w = await world(make)
    data = secrets.token_bytes(1500)
    assert (await upload(hub, w.a, data)).status_code == 200
    sha = hashlib.sha256(data).hexdigest()
    stranger = await make.user("admin", w.tree.communes[2])
    r = await hub.client.delete(f"/api/v1/evidence/{sha}", params={"reason": "rác"}, headers=stranger.headers)
    assert r.status_code == 404 and await stored(db, sha)
    owner = await make.user("admin", w.tree.communes[0])
    r = await hub.client.delete(f"/api/v1/evidence/{sha}", params={"reason": "rác"}, headers=owner.headers)
    assert r.status_code == 200 and not await stored(db, sha)


async def test_evidence_shared_with_another_unit_is_not_deleted_from_one_side(
    hub: Hub, make: Factory, db: psycopg.AsyncConnection
) -> None:
    # A province edge names a file that a commune-0 event names too (the same image):
    # a commune-0 admin may not delete it out from under the province's event elsewhere.
    w = await world(make)
    sha, data = await _evidence_in_c0(hub, make, w, violation=False)
    cam_p = f"cam-{secrets.token_hex(3)}"
    p = await make.edge(w.tree.province, cameras=[(cam_p, w.tree.communes[3])])
    assert (await upload(hub, p, data)).status_code == 200
    r = await post(hub, p, make.event(p, cam_p, evidence=[ref(data)]))
    assert r.json()["accepted"], r.text
    admin = await make.user("admin", w.tree.communes[0])
    r = await hub.client.delete(f"/api/v1/evidence/{sha}", params={"reason": "dọn dẹp"}, headers=admin.headers)
    assert r.status_code == 404 and await stored(db, sha)


# ------------------------------------------------------------- 3. types and headers


@pytest.mark.parametrize("mime", ["text/html", "image/svg+xml", "application/xhtml+xml", "text/javascript",
                                  "application/octet-stream", "text/plain"])
async def test_non_allow_listed_types_are_refused_at_upload(
    hub: Hub, make: Factory, db: psycopg.AsyncConnection, mime: str
) -> None:
    w = await world(make)
    data = b"<html><script>fetch('/api/v1/users')</script></html>" + secrets.token_bytes(8)
    r = await upload(hub, w.a, data, mime)
    assert r.status_code == 422 and "not an allowed evidence type" in r.json()["detail"], r.text
    assert not await stored(db, hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize(("mime", "inline"), [("image/jpeg", True), ("image/png", True), ("video/mp4", True),
                                              ("application/pdf", False), ("application/json", False),
                                              ("application/zip", False)])
async def test_evidence_is_served_with_nosniff_sandbox_and_disposition(hub: Hub, make: Factory, mime: str, inline: bool) -> None:
    w = await world(make)
    data = secrets.token_bytes(1200)
    assert (await upload(hub, w.a, data, mime)).status_code == 200
    assert (await post(hub, w.a, make.event(w.a, w.cam_a, evidence=[ref(data, mime)]))).json()["accepted"]
    op = await make.user("operator", w.tree.communes[0])
    r = await hub.client.get(f"/api/v1/evidence/{ref(data)['sha256']}", headers=op.headers)
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"] == mime
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
    disposition = r.headers.get("content-disposition", "")
    assert disposition.startswith("inline" if inline else "attachment"), disposition


async def test_html_stored_before_the_fix_is_served_as_an_inert_download(
    hub: Hub, make: Factory, db: psycopg.AsyncConnection
) -> None:
    w = await world(make)
    data = b"<script>alert(document.cookie)</script>" + secrets.token_bytes(8)
    sha = hashlib.sha256(data).hexdigest()
    rel = f"evidence/{sha[:2]}/{sha[2:4]}/{sha}"
    path = hub.app.state.settings.data_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    await db.execute("INSERT INTO evidence_files (sha256, size, mime, path, verified, uploaded_by)"
                     " VALUES (%s, %s, 'text/html', %s, true, %s)", (sha, len(data), rel, w.a.id))
    await db.execute("INSERT INTO evidence_uploads (sha256, edge) VALUES (%s, %s)", (sha, w.a.id))
    assert (await post(hub, w.a, make.event(w.a, w.cam_a, evidence=[ref(data, "text/html")]))).json()["accepted"]
    admin = await make.user("admin", w.tree.province)
    r = await hub.client.get(f"/api/v1/evidence/{sha}", headers=admin.headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]


# ------------------------------------------------- 6. evidence of another unit's edge


async def test_an_edge_cannot_name_another_units_evidence(hub: Hub, make: Factory, db: psycopg.AsyncConnection) -> None:
    w = await world(make)
    sha, data = await _evidence_in_c0(hub, make, w, violation=False)
    operator_c2 = await make.user("operator", w.tree.communes[2])
    assert (await hub.client.get(f"/api/v1/evidence/{sha}", headers=operator_c2.headers)).status_code == 404
    # Edge B (commune 2) names A's file in its own event, next to a good event.
    theft = make.event(w.b, w.cam_b, evidence=[ref(data)])
    honest = make.event(w.b, w.cam_b, seq=1)
    r = await post(hub, w.b, theft, honest)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == [honest["id"]]
    assert [x["id"] for x in body["rejected"]] == [theft["id"]]
    assert "not uploaded by this edge" in body["rejected"][0]["reason"]
    assert (await hub.client.get(f"/api/v1/evidence/{sha}", headers=operator_c2.headers)).status_code == 404
    row = await (await db.execute("SELECT count(*) AS n FROM events WHERE id = %s", (theft["id"],))).fetchone()
    assert row["n"] == 0
    # The refused event's id is not burnt: the edge can send it again once fixed.
    again = dict(theft, evidence=[])
    assert (await post(hub, w.b, again)).json()["accepted"] == [theft["id"]]


async def test_an_edge_that_uploads_the_bytes_itself_may_name_them(hub: Hub, make: Factory) -> None:
    # Content addressing: naming a file needs its bytes. An edge that uploads them itself
    # (two cameras can produce one identical file) proved it has them, and may name it;
    # its units then see only what the edge itself sent.
    w = await world(make)
    sha, data = await _evidence_in_c0(hub, make, w, violation=False)
    assert (await post(hub, w.b, make.event(w.b, w.cam_b, evidence=[ref(data)]))).status_code == 422
    assert (await upload(hub, w.b, data)).status_code == 200
    r = await post(hub, w.b, make.event(w.b, w.cam_b, seq=1, evidence=[ref(data)]))
    assert r.status_code == 200 and r.json()["accepted"], r.text


async def test_an_edge_above_the_unit_may_name_evidence_of_its_subtree(hub: Hub, make: Factory) -> None:
    w = await world(make)
    sha, data = await _evidence_in_c0(hub, make, w, violation=False)
    cam_p = f"cam-{secrets.token_hex(3)}"
    p = await make.edge(w.tree.province, cameras=[(cam_p, w.tree.communes[1])])
    r = await post(hub, p, make.event(p, cam_p, evidence=[ref(data)]))
    assert r.status_code == 200 and r.json()["accepted"], r.text


async def test_an_edge_names_its_own_evidence_before_and_after_upload(hub: Hub, make: Factory) -> None:
    w = await world(make)
    data = secrets.token_bytes(900)
    early = make.event(w.a, w.cam_a, evidence=[ref(data)])
    assert (await post(hub, w.a, early)).json()["accepted"] == [early["id"]]  # stored incomplete
    assert (await upload(hub, w.a, data)).json()["completed_events"] == [early["id"]]
    late = make.event(w.a, w.cam_a, seq=1, evidence=[ref(data)])
    assert (await post(hub, w.a, late)).json()["accepted"] == [late["id"]]


@pytest.mark.parametrize("who", ["stranger", "edge", "operator", "police", "viewer"])
async def test_only_an_admin_reaches_the_delete_at_all(hub: Hub, make: Factory, db: psycopg.AsyncConnection, who: str) -> None:
    w = await world(make)
    sha, _ = await _evidence_in_c0(hub, make, w, violation=False)
    headers = {"stranger": {}, "edge": w.a.headers}.get(who)
    if headers is None:
        headers = (await make.user(who, w.tree.communes[0])).headers
    r = await hub.client.delete(f"/api/v1/evidence/{sha}", params={"reason": "dọn dẹp"}, headers=headers)
    assert r.status_code == (401 if who in ("stranger", "edge") else 403), r.text
    assert await stored(db, sha)


async def test_html_labelled_as_a_picture_cannot_run(hub: Hub, make: Factory) -> None:
    # A broken edge labels a script as image/jpeg: it is served as a picture the browser
    # must not sniff (nosniff), and even opened in a tab it runs nothing (sandbox CSP).
    w = await world(make)
    data = b"<html><script>fetch('/api/v1/users').then(r => r.text()).then(alert)</script></html>"
    assert (await upload(hub, w.a, data, "image/jpeg")).status_code == 200
    assert (await post(hub, w.a, make.event(w.a, w.cam_a, evidence=[ref(data)]))).json()["accepted"]
    admin = await make.user("admin", w.tree.province)
    r = await hub.client.get(f"/api/v1/evidence/{ref(data)['sha256']}", headers=admin.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
