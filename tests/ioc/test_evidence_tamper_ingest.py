"""Tamper tests at ingest: the hub's verdict on manifests from a real edge chain.

Evidence comes from the real packager on a real highway frame; the database is a fresh
PostgreSQL database with every migration applied.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

import cv2
import psycopg
import pytest
from psycopg.rows import dict_row

from edge.evidence.chain import ManifestChain
from edge.evidence.keys import EdgeSigningKey
from edge.evidence.packager import CameraInfo, EvidenceConfig, EvidencePackage, EvidencePackager, EvidenceRequest
from ioc.db.migrate import upgrade
from ioc.exceptions import InvalidInput
from ioc.services.evidence_verify_ingest import chain_link_for_event, verify_arrival
from tests.conftest import require_service

BASE_URL = os.environ.get("IOC_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
EDGE = "edge-dn-01"


@pytest.fixture(scope="module")
def database_url():
    """One fresh database with every migration for this module (creating one costs seconds)."""
    require_service("127.0.0.1", 5432, "PostgreSQL")
    name = f"ioc_t_evidence_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(BASE_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(BASE_URL, dbname=name)
    try:
        asyncio.run(upgrade(url))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO units (code, name, level) VALUES ('75', 'Đồng Nai', 'province')")
            for edge in (EDGE, "edge-other"):
                conn.execute("INSERT INTO edges (id, unit, token_hash) VALUES (%s, '75', %s)", (edge, uuid.uuid4().hex * 2))
        yield url
    finally:
        with psycopg.connect(BASE_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db(database_url: str):
    # dict_row, like the hub's pool: the service must not depend on the row factory
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        await conn.execute("TRUNCATE evidence_manifests, event_evidence")
        await conn.execute("UPDATE edges SET public_key = NULL")
        yield conn


@pytest.fixture(scope="module")
def frame(shared_data: Path):
    cap = cv2.VideoCapture(str(shared_data / "highway_720p.mp4"))
    ok, image = cap.read()
    cap.release()
    assert ok
    return image


class Edge:
    """A real edge evidence stack: key, chain, packager."""

    def __init__(self, data_dir: Path, frame) -> None:
        self.key = EdgeSigningKey.load_or_create(data_dir)
        self.packager = EvidencePackager(EvidenceConfig(), ManifestChain(data_dir, self.key, EDGE), data_dir / "files")
        self.frame = frame
        self.seq = 0

    def violation(self) -> EvidencePackage:
        self.seq += 1
        request = EvidenceRequest(
            event_id=uuid.uuid4(), event_seq=self.seq, type="traffic.wrong_way",
            ts=datetime(2026, 11, 22, 3, 0, self.seq, tzinfo=timezone.utc), mono=float(self.seq),
            camera=CameraInfo(id="cam-01", name="Cầu Đồng Nai", place="Biên Hòa", unit="75"),
            frame=self.frame, box=(500.0, 300.0, 600.0, 380.0))
        return self.packager.package(request, ring=None)


def files_of(package: EvidencePackage) -> dict[str, bytes]:
    return {f.sha256: f.path.read_bytes() for f in package.files}


async def send(conn, package: EvidencePackage, edge: str = EDGE, files=None, data: bytes | None = None):
    return await verify_arrival(conn, data if data is not None else package.signed.data,
                                package.signed.signature_b64, edge, files=files)


async def register_key(conn, key: EdgeSigningKey, edge: str = EDGE) -> None:
    await conn.execute("UPDATE edges SET public_key = %s WHERE id = %s", (key.public_key_b64, edge))


async def test_honest_chain_verifies_and_resend_is_idempotent(db, tmp_path: Path, frame) -> None:
    edge = Edge(tmp_path, frame)
    await register_key(db, edge.key)
    packages = [edge.violation() for _ in range(3)]
    for p in packages:
        verdict = await send(db, p, files=files_of(p))
        assert verdict.verified, verdict.problems
    again = await send(db, packages[1])
    assert again.duplicate and again.verified
    cur = await db.execute("SELECT count(*) AS n, bool_and(verified) AS ok FROM evidence_manifests")
    assert await cur.fetchone() == {"n": 3, "ok": True}
    link = await chain_link_for_event(db, packages[2].signed.manifest.event_id)
    assert link.prev_manifest == packages[1].signed.data and link.public_key == edge.key.public_key_b64


async def test_flipped_image_byte_is_detected(db, tmp_path: Path, frame) -> None:
    edge = Edge(tmp_path, frame)
    await register_key(db, edge.key)
    package = edge.violation()
    files = files_of(package)
    overview = next(f.sha256 for f in package.files if f.kind == "overview")
    blob = bytearray(files[overview])
    blob[len(blob) // 2] ^= 0x01
    files[overview] = bytes(blob)
    verdict = await send(db, package, files=files)
    assert not verdict.verified
    assert verdict.codes == ["file_hash_mismatch"]
    assert verdict.problems[0].detail["kind"] == "overview"


async def test_dropped_manifest_is_detected(db, tmp_path: Path, frame) -> None:
    edge = Edge(tmp_path, frame)
    await register_key(db, edge.key)
    first, _dropped, third, fourth = (edge.violation() for _ in range(4))
    assert (await send(db, first)).verified
    verdict = await send(db, third)
    assert verdict.codes == ["chain_gap"]
    assert (await send(db, fourth)).verified  # the chain goes on after the gap
    cur = await db.execute("SELECT seq FROM evidence_manifests WHERE NOT verified")
    assert await cur.fetchall() == [{"seq": 3}]


async def test_out_of_order_arrival_is_not_a_gap(db, tmp_path: Path, frame) -> None:
    """Must not fire: an outbox replay delivering 1, 3, 2 ends with all verified."""
    edge = Edge(tmp_path, frame)
    await register_key(db, edge.key)
    first, second, third = (edge.violation() for _ in range(3))
    await send(db, first)
    assert (await send(db, third)).codes == ["chain_gap"]
    assert (await send(db, second)).verified
    cur = await db.execute("SELECT bool_and(verified) AS ok, count(*) AS n FROM evidence_manifests")
    assert await cur.fetchone() == {"ok": True, "n": 3}


async def test_replaced_edge_key_is_detected(db, tmp_path: Path, frame) -> None:
    honest = Edge(tmp_path / "honest", frame)
    await register_key(db, honest.key)
    assert (await send(db, honest.violation())).verified
    # Someone with another key (a cloned or replaced edge) continues the chain.
    impostor_dir = tmp_path / "impostor"
    impostor_dir.mkdir()
    (impostor_dir / "evidence").mkdir()
    os.symlink(tmp_path / "honest" / "evidence" / "manifests", impostor_dir / "evidence" / "manifests")
    impostor = Edge(impostor_dir, frame)
    package = impostor.violation()
    assert package.signed.manifest.manifest_seq == 2  # the chain itself links up
    verdict = await send(db, package)
    assert set(verdict.codes) == {"signature_invalid", "key_mismatch"}


@pytest.mark.parametrize("where", ["plate_field", "file_list"])
async def test_rewritten_manifest_is_detected(db, tmp_path: Path, frame, where: str) -> None:
    edge = Edge(tmp_path, frame)
    await register_key(db, edge.key)
    package = edge.violation()
    m = package.signed.manifest
    fields = m.model_dump()
    if where == "plate_field":
        fields["plate"] = {"text": "30A-999.99", "confidence": 0.99, "colour": "white", "candidates": []}
    else:
        fields["files"] = fields["files"][:1]
    forged = type(m).model_validate(fields)
    verdict = await send(db, package, data=forged.to_bytes())
    assert verdict.codes == ["signature_invalid"]


async def test_manifest_of_another_edge_is_marked(db, tmp_path: Path, frame) -> None:
    edge = Edge(tmp_path, frame)
    await register_key(db, edge.key)
    await register_key(db, edge.key, "edge-other")
    verdict = await send(db, edge.violation(), edge="edge-other")
    assert "edge_mismatch" in verdict.codes


async def test_unregistered_key_is_marked(db, tmp_path: Path, frame) -> None:
    verdict = await send(db, Edge(tmp_path, frame).violation())
    assert verdict.codes == ["key_unregistered"] and not verdict.verified


@pytest.mark.parametrize("data, signature, message", [
    (b"not json", base64.b64encode(bytes(64)).decode(), "not a valid evidence manifest"),
    (b'{"format": "ioc.evidence.manifest/1"}', base64.b64encode(bytes(64)).decode(), "not a valid"),
    (b"{}", "***", "not base64"),
    (b"{}", base64.b64encode(bytes(10)).decode(), "64 bytes"),
])
async def test_garbage_is_refused_and_nothing_stored(db, data: bytes, signature: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        await verify_arrival(db, data, signature, EDGE)
    cur = await db.execute("SELECT count(*) AS n FROM evidence_manifests")
    assert (await cur.fetchone())["n"] == 0


async def test_manifest_moved_to_another_event_is_detected(db, tmp_path: Path, frame) -> None:
    edge = Edge(tmp_path, frame)
    await register_key(db, edge.key)
    package = edge.violation()
    other_event = "019ab6a4-0000-7000-8000-000000000001"
    verdict = await verify_arrival(db, package.signed.data, package.signed.signature_b64, EDGE, event_id=other_event)
    assert verdict.codes == ["event_mismatch"]


@pytest.mark.parametrize("drop_kind, expected", [(None, []), ("clip_or_closeup", ["event_evidence_mismatch"])])
async def test_event_must_name_every_manifest_file(db, tmp_path: Path, frame, drop_kind, expected) -> None:
    edge = Edge(tmp_path, frame)
    await register_key(db, edge.key)
    package = edge.violation()
    event_id = package.signed.manifest.event_id
    refs = package.evidence_refs()
    if drop_kind is not None:
        refs = [r for r in refs if r.kind not in ("clip", "vehicle", "plate")]
    for ref in refs:
        await db.execute("INSERT INTO event_evidence (event_id, event_ts, sha256, kind, unit) VALUES (%s, now(), %s, %s, '75')",
                         (event_id, ref.sha256, ref.kind))
    verdict = await verify_arrival(db, package.signed.data, package.signed.signature_b64, EDGE, event_id=event_id)
    assert verdict.codes == expected
