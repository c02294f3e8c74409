"""The edge signing key and the on-disk manifest chain."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest

from edge.evidence.chain import ManifestChain
from edge.evidence.exceptions import KeyFileError
from edge.evidence.keys import EdgeSigningKey
from contract.evidence_verify import Manifest, sha256_hex, verify_manifest


def _fields(n: int, blob: bytes) -> dict:
    return {
        "event_id": str(uuid.uuid4()), "seq": 100 + n, "camera": "cam-01", "unit": "26734",
        "type": "traffic.red_light", "ts": "2026-11-22T03:14:15.926Z",
        "files": [{"sha256": sha256_hex(blob), "kind": "overview", "mime": "image/jpeg", "size": len(blob)}],
    }


def test_key_file_is_private_and_reused(tmp_path: Path) -> None:
    key = EdgeSigningKey.load_or_create(tmp_path)
    assert key.path is not None
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    again = EdgeSigningKey.load_or_create(tmp_path)
    assert again.key_id == key.key_id
    assert len(key.public_key_b64) == 44  # base64 of 32 raw bytes


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    key = EdgeSigningKey.load_or_create(tmp_path)
    os.chmod(key.path, mode)
    with pytest.raises(KeyFileError, match="0600"):
        EdgeSigningKey.load_or_create(tmp_path)


def test_garbage_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    path = tmp_path / "keys" / "edge_ed25519.pem"
    path.write_bytes(b"not a key")
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match="not a PEM"):
        EdgeSigningKey.load_or_create(tmp_path)


def test_chain_links_survive_restart(tmp_path: Path) -> None:
    key = EdgeSigningKey.load_or_create(tmp_path)
    chain = ManifestChain(tmp_path, key, "edge-01")
    first = chain.append(_fields(1, b"a"))
    second = chain.append(_fields(2, b"b"))
    assert first.manifest.manifest_seq == 1 and first.manifest.prev_hash is None
    assert second.manifest.prev_hash == first.hash
    # a new process (new objects) continues the same chain
    chain2 = ManifestChain(tmp_path, EdgeSigningKey.load_or_create(tmp_path), "edge-01")
    third = chain2.append(_fields(3, b"c"))
    assert third.manifest.manifest_seq == 3 and third.manifest.prev_hash == second.hash
    assert chain2.verify().ok
    report = verify_manifest(third.data, third.signature, key.public_key, prev=(second.data, second.signature))
    assert report.ok, report.problems
    assert Manifest.parse(third.data) == third.manifest


def test_chain_reports_a_removed_manifest(tmp_path: Path) -> None:
    chain = ManifestChain(tmp_path, EdgeSigningKey.load_or_create(tmp_path), "edge-01")
    for n in range(4):
        chain.append(_fields(n, bytes([n])))
    (chain.dir / "000000000002.json").unlink()
    report = chain.verify()
    assert "chain_gap" in report.codes and "chain_prev_mismatch" in report.codes


def test_chain_sets_its_own_fields(tmp_path: Path) -> None:
    chain = ManifestChain(tmp_path, EdgeSigningKey.load_or_create(tmp_path), "edge-01")
    with pytest.raises(ValueError, match="prev_hash"):
        chain.append({**_fields(1, b"x"), "prev_hash": "0" * 64})
