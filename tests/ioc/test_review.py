"""The police review desk against a real hub, real PostgreSQL and real signed evidence.

Each violation is packaged by the edge's real evidence packager from a real highway
frame, signed with a real Ed25519 edge key, uploaded through PUT /api/v1/evidence and
posted through POST /api/v1/events, exactly as an edge worker does.
"""

from __future__ import annotations

import io
import subprocess
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.evidence.chain import ManifestChain
from edge.evidence.keys import EdgeSigningKey
from edge.evidence.packager import CameraInfo, EvidenceConfig, EvidencePackager, EvidenceRequest, PlateEvidence
from contract.evidence_verify import parse_trusted_keys, verify_zip
from ioc.services.violations import deadline_status
from tests.ioc.conftest import EdgeLogin, Factory, Hub

# Ingest and review write the hypertable: run on plain PostgreSQL and on TimescaleDB.
pytestmark = pytest.mark.both_databases


@pytest.fixture(scope="module")
def frame(shared_data: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(shared_data / "highway_720p.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 120)
    ok, image = cap.read()
    cap.release()
    assert ok
    return image


@dataclass
class Site:
    """A commune with a registered edge, its camera, two officers and the other commune's officer."""

    edge: EdgeLogin
    camera: str
    commune: str
    packager: EvidencePackager
    key: EdgeSigningKey
    seq: int = 0


async def make_site(hub: Hub, make: Factory, tmp_path: Path) -> tuple[Site, list[str]]:
    tree = await make.tree()
    camera = f"cam-{uuid.uuid4().hex[:6]}"
    edge = await make.edge(tree.communes[0], cameras=[(camera, tree.communes[0])])
    key = EdgeSigningKey.load_or_create(tmp_path / edge.id)
    r = await hub.client.put("/api/v1/edges/self/key", json={"public_key": key.public_key_b64}, headers=edge.headers)
    assert r.status_code in (200, 201, 204), r.text
    chain = ManifestChain(tmp_path / edge.id, key, edge.id)
    packager = EvidencePackager(EvidenceConfig(), chain, tmp_path / edge.id / "files")
    return Site(edge, camera, tree.communes[0], packager, key), tree.communes


async def propose(hub: Hub, site: Site, frame: np.ndarray, *, plate: str | None = "51F-123.45",
                  ts: datetime | None = None, plate_in_payload: bool = True) -> str:
    """Package, upload and post one red-light violation; returns its event id."""
    site.seq += 1
    event_id = uuid.uuid4()
    ts = ts or datetime.now(timezone.utc).replace(microsecond=0)
    request = EvidenceRequest(
        event_id=event_id, event_seq=site.seq, type="traffic.red_light", ts=ts, mono=float(site.seq),
        camera=CameraInfo(id=site.camera, name="Ngã tư Hàng Xanh", place="Bình Thạnh, TP.HCM", unit=site.commune),
        frame=frame, box=(560.0, 330.0, 700.0, 430.0),
        plate=PlateEvidence(text=plate, confidence=0.91 if plate else 0.2, colour="white",
                            candidates=[(plate or "51F-123.46", 0.91), ("51F-128.45", 0.05)],
                            box=(600.0, 400.0, 660.0, 420.0)),
        measurements={"signal": "red", "red_for_s": 2.4},
    )
    package = site.packager.package(request, ring=None)
    for f in [*package.files, package.manifest_file]:
        r = await hub.client.put(f"/api/v1/evidence/{f.sha256}", content=f.path.read_bytes(),
                                 headers={**site.edge.headers, "Content-Type": f.mime})
        assert r.status_code in (200, 201), r.text
    payload = {"track": site.seq, "class": "car", **package.event_payload()}
    if plate and plate_in_payload:
        payload["plate"] = {"text": plate, "confidence": 0.91, "candidates": [{"text": plate, "confidence": 0.91}]}
    envelope = {
        "id": str(event_id), "edge": site.edge.id, "seq": site.seq, "camera": site.camera, "unit": site.commune,
        "type": "traffic.red_light", "severity": "warning", "ts": ts.isoformat().replace("+00:00", "Z"),
        "payload": payload, "evidence": [r.model_dump() for r in package.evidence_refs()],
    }
    r = await hub.client.post("/api/v1/events", json={"events": [envelope]}, headers=site.edge.headers)
    assert r.status_code == 200 and r.json()["accepted"] == [str(event_id)], r.text
    return str(event_id)


async def audit_actions(db, actor: str) -> list[str]:
    cur = await db.execute("SELECT action FROM audit_log WHERE actor = %s ORDER BY id", (actor,))
    return [row["action"] for row in await cur.fetchall()]


async def test_officer_of_another_unit_cannot_see_or_decide(hub: Hub, make: Factory, tmp_path: Path, frame) -> None:
    site, communes = await make_site(hub, make, tmp_path)
    event_id = await propose(hub, site, frame)
    own = await make.user("police", site.commune)
    other = await make.user("police", communes[2])
    operator = await make.user("operator", site.commune)

    queue = (await hub.client.get("/api/v1/violations", headers=own.headers)).json()
    assert [item["event_id"] for item in queue["items"]] == [event_id]
    assert queue["items"][0]["plate"] == "51F-123.45"

    assert (await hub.client.get("/api/v1/violations", headers=other.headers)).json()["items"] == []
    assert (await hub.client.get(f"/api/v1/violations/{event_id}", headers=other.headers)).status_code == 404
    r = await hub.client.post(f"/api/v1/violations/{event_id}/decision", json={"decision": "confirm"},
                              headers=other.headers)
    assert r.status_code == 404
    assert (await hub.client.get("/api/v1/violations", headers=operator.headers)).status_code == 403
    assert (await hub.client.get(f"/review/{event_id}", headers=operator.headers)).status_code == 403
    # Nothing changed for the officer who may decide.
    detail = (await hub.client.get(f"/api/v1/violations/{event_id}", headers=own.headers)).json()
    assert detail["state"] == "proposed"


@pytest.mark.parametrize("body", [
    {"decision": "reject"},
    {"decision": "reject", "reason": "   "},
    {"decision": "maybe", "reason": "x"},
    {"decision": "confirm", "extra": 1},
])
async def test_bad_decisions_are_refused_and_change_nothing(hub: Hub, make: Factory, tmp_path: Path, frame,
                                                            body: dict) -> None:
    site, _ = await make_site(hub, make, tmp_path)
    event_id = await propose(hub, site, frame)
    officer = await make.user("police", site.commune)
    r = await hub.client.post(f"/api/v1/violations/{event_id}/decision", json=body, headers=officer.headers)
    assert 400 <= r.status_code < 500, r.text
    assert "detail" in r.json()
    detail = (await hub.client.get(f"/api/v1/violations/{event_id}", headers=officer.headers)).json()
    assert detail["state"] == "proposed" and detail["decided_by"] is None


async def test_review_edit_confirm_export_is_audited(hub: Hub, make: Factory, tmp_path: Path, frame, db,
                                                     artifacts_dir: Path) -> None:
    site, _ = await make_site(hub, make, tmp_path)
    event_id = await propose(hub, site, frame, plate="51F-123.46")
    officer = await make.user("police", site.commune)
    name = officer.user.username

    detail = (await hub.client.get(f"/api/v1/violations/{event_id}", headers=officer.headers)).json()
    assert detail["manifest"]["verified"] is True, detail["manifest"]
    assert {e["kind"] for e in detail["evidence"]} >= {"overview", "plate", "manifest"}

    # Not a plate: refused, nothing changes.
    r = await hub.client.post(f"/api/v1/violations/{event_id}/plate", json={"plate": "51I-OOPS"}, headers=officer.headers)
    assert r.status_code == 422 and "plate" in r.json()["detail"]
    r = await hub.client.post(f"/api/v1/violations/{event_id}/plate", json={"plate": "51f12345"}, headers=officer.headers)
    assert r.status_code == 200, r.text
    assert r.json()["plate"] == "51F-123.45" and r.json()["plate_read"] == "51F-123.46"

    # Export before the decision is refused.
    assert (await hub.client.get(f"/api/v1/violations/{event_id}/report.pdf", headers=officer.headers)).status_code == 409
    r = await hub.client.post(f"/api/v1/violations/{event_id}/decision", json={"decision": "confirm"}, headers=officer.headers)
    assert r.status_code == 200 and r.json()["state"] == "confirmed" and r.json()["decided_by"] == name
    again = await hub.client.post(f"/api/v1/violations/{event_id}/decision",
                                  json={"decision": "reject", "reason": "changed my mind"}, headers=officer.headers)
    assert again.status_code == 409

    pdf = await hub.client.get(f"/api/v1/violations/{event_id}/report.pdf", headers=officer.headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    pdf_path = artifacts_dir / "violation-report.pdf"
    pdf_path.write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, text=True, check=True).stdout
    for needle in ("51F-123.45", "Ngã tư Hàng Xanh", name, "XÁC NHẬN VI PHẠM", "Không chấp hành hiệu lệnh", site.edge.id):
        assert needle in text, f"{needle!r} missing from the PDF text"
    local = datetime.fromisoformat(detail["detected_at"]).astimezone(timezone(timedelta(hours=7)))
    assert local.strftime("%d/%m/%Y %H:%M:%S") in text
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "2", str(pdf_path),
                    str(artifacts_dir / "violation-report")], check=True)
    assert (artifacts_dir / "violation-report-1.png").stat().st_size > 10_000

    z = await hub.client.get(f"/api/v1/violations/{event_id}/evidence.zip", headers=officer.headers)
    assert z.status_code == 200
    zip_path = tmp_path / "export.zip"
    zip_path.write_bytes(z.content)
    # Verified against the hub's registry of edge keys, never the key inside the ZIP.
    keys = await hub.client.get("/api/v1/edges/keys", headers=officer.headers)
    assert keys.status_code == 200 and f"{site.edge.id} {site.key.key_id}" in keys.text.splitlines()
    anywhere, pinned = parse_trusted_keys(keys.text)
    report = verify_zip(zip_path, trusted_keys=anywhere, edge_keys=pinned)
    assert report.ok, [p.code for p in report.problems]
    assert "report.pdf" in zipfile.ZipFile(io.BytesIO(z.content)).namelist()
    assert [u["name"] for u in report.unsigned] == ["report.pdf"]  # said plainly: the edge did not sign it
    assert not verify_zip(zip_path).ok  # no trusted key: nothing is proven
    other, _ = await make_site(hub, make, tmp_path / "other")
    other_keys = await hub.client.get("/api/v1/edges/keys", headers=(await make.user("police", other.commune)).headers)
    assert site.edge.id not in other_keys.text  # another unit's officer is not given this edge's key

    found = (await hub.client.get("/api/v1/violations/search", params={"plate": "123.45"}, headers=officer.headers)).json()
    assert [v["event_id"] for v in found] == [event_id]

    actions = await audit_actions(db, name)
    for action in ("violation.view", "violation.plate_edit", "violation.confirm", "violation.export",
                   "violation.plate_search"):
        assert action in actions, actions
    assert actions.count("violation.export") >= 2  # PDF and ZIP


async def test_confirm_needs_a_plate_and_reject_keeps_the_reason(hub: Hub, make: Factory, tmp_path: Path, frame, db) -> None:
    site, _ = await make_site(hub, make, tmp_path)
    event_id = await propose(hub, site, frame, plate=None)
    officer = await make.user("police", site.commune)
    r = await hub.client.post(f"/api/v1/violations/{event_id}/decision", json={"decision": "confirm"}, headers=officer.headers)
    assert r.status_code == 422 and "plate" in r.json()["detail"]
    r = await hub.client.post(f"/api/v1/violations/{event_id}/decision",
                              json={"decision": "reject", "reason": "Biển số bị che, không xác định được"},
                              headers=officer.headers)
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    assert r.json()["reason"] == "Biển số bị che, không xác định được"
    cur = await db.execute("SELECT details FROM audit_log WHERE action = 'violation.reject' AND target = %s",
                           (f"violation:{event_id}",))
    assert (await cur.fetchone())["details"]["reason"].startswith("Biển số")


async def test_evidence_under_review_cannot_be_purged(hub: Hub, make: Factory, tmp_path: Path, frame, db) -> None:
    site, _ = await make_site(hub, make, tmp_path)
    event_id = await propose(hub, site, frame)
    admin = await make.user("admin", site.commune)
    officer = await make.user("police", site.commune)
    detail = (await hub.client.get(f"/api/v1/violations/{event_id}", headers=officer.headers)).json()
    sha = next(e["sha256"] for e in detail["evidence"] if e["kind"] == "overview")

    r = await hub.client.delete(f"/api/v1/evidence/{sha}", params={"reason": "dọn dẹp"}, headers=admin.headers)
    assert r.status_code == 409
    assert (await hub.client.delete(f"/api/v1/evidence/{sha}", params={"reason": "x y z"},
                                    headers=officer.headers)).status_code == 403
    with pytest.raises(Exception, match="cannot be purged"):
        await db.execute("DELETE FROM evidence_files WHERE sha256 = %s", (sha,))

    await hub.client.post(f"/api/v1/violations/{event_id}/decision",
                          json={"decision": "reject", "reason": "xe ưu tiên đang làm nhiệm vụ"}, headers=officer.headers)
    assert (await hub.client.delete(f"/api/v1/evidence/{sha}", params={"reason": ""}, headers=admin.headers)).status_code == 422
    r = await hub.client.delete(f"/api/v1/evidence/{sha}", params={"reason": "vi phạm đã bác bỏ, hết hạn lưu"},
                                headers=admin.headers)
    assert r.status_code == 200, r.text
    assert "evidence.delete" in await audit_actions(db, admin.user.username)


async def test_signed_plate_fills_a_violation_without_payload_plate(hub: Hub, make: Factory, tmp_path: Path,
                                                                   frame) -> None:
    site, _ = await make_site(hub, make, tmp_path)
    event_id = await propose(hub, site, frame, plate="59-X1 123.45", plate_in_payload=False)
    officer = await make.user("police", site.commune)
    detail = (await hub.client.get(f"/api/v1/violations/{event_id}", headers=officer.headers)).json()
    assert (detail["plate_read"], detail["plate"]) == ("59-X1 123.45", "59-X1 123.45")
    assert detail["plate_candidates"][0]["text"] == "59-X1 123.45"


NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("state", "age_days", "status"), [
    ("proposed", 0.5, "ok"),
    ("proposed", 6.9, "ok"),
    ("proposed", 7.0, "warning"),
    ("proposed", 9.9, "warning"),
    ("proposed", 10.0, "overdue"),
    ("proposed", 15, "overdue"),
    ("confirmed", 15, "closed"),
    ("rejected", 2, "closed"),
])
def test_deadline_status(state: str, age_days: float, status: str) -> None:
    got, left = deadline_status(state, NOW - timedelta(days=age_days), NOW)
    assert got == status
    assert left == pytest.approx(10 - age_days)


async def test_wall_counts_decisions(hub: Hub, make: Factory, tmp_path: Path, frame) -> None:
    site, _ = await make_site(hub, make, tmp_path)
    first = await propose(hub, site, frame)
    await propose(hub, site, frame)
    officer = await make.user("police", site.commune)
    viewer = await make.user("viewer", site.commune)
    await hub.client.post(f"/api/v1/violations/{first}/decision", json={"decision": "confirm"}, headers=officer.headers)
    stats = (await hub.client.get("/api/v1/violations/stats", headers=viewer.headers)).json()
    assert (stats["proposed"], stats["confirmed"], stats["rejected"]) == (1, 1, 0)
