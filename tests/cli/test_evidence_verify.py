"""`ioc evidence verify FILE.zip`: offline tamper detection on real evidence bundles."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import cv2
import pytest
import typer
from typer.testing import CliRunner

from edge.evidence.chain import ManifestChain
from edge.evidence.keys import EdgeSigningKey
from edge.evidence.packager import CameraInfo, EvidenceConfig, EvidencePackage, EvidencePackager, EvidenceRequest
from ioc.cli.evidence import register
from contract.evidence_verify import Manifest, build_evidence_zip, evidence_file_name

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chain(shared_data: Path, tmp_path_factory) -> tuple[EdgeSigningKey, list[EvidencePackage]]:
    """Three violations packaged by a real edge evidence stack from a real street frame."""
    cap = cv2.VideoCapture(str(shared_data / "street_crossing_320p.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    data_dir = tmp_path_factory.mktemp("edge")
    key = EdgeSigningKey.load_or_create(data_dir)
    packager = EvidencePackager(EvidenceConfig(), ManifestChain(data_dir, key, "edge-hn-01"), data_dir / "files")
    packages = []
    for n in range(3):
        packages.append(packager.package(EvidenceRequest(
            event_id=uuid.uuid4(), event_seq=n, type="traffic.illegal_stopping",
            ts=datetime(2026, 11, 22, 8, 30, n, tzinfo=timezone.utc), mono=float(n),
            camera=CameraInfo(id="cam-hk-02", name="Phố Huế", place="Phường Hai Bà Trưng, Hà Nội", unit="01"),
            frame=frame, box=(200.0, 100.0, 300.0, 200.0)), ring=None))
    return key, packages


def bundle(edge_key: EdgeSigningKey, package: EvidencePackage, prev: EvidencePackage | None, **over) -> bytes:
    files = {f.sha256: f.path.read_bytes() for f in package.files}
    return build_evidence_zip(
        over.get("manifest", package.signed.data), over.get("signature", package.signed.signature),
        over.get("key", edge_key.public_key), over.get("files", files),
        prev_manifest=None if prev is None else prev.signed.data,
        prev_signature=None if prev is None else prev.signed.signature,
        extra=over.get("extra"),
    )


def rewrite(zip_bytes: bytes, name: str, data: bytes | None) -> bytes:
    """The ZIP with one member replaced (None: removed), written consistently (valid CRCs)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename == name:
                if data is not None:
                    dst.writestr(info.filename, data)
            else:
                dst.writestr(info, src.read(info))
    return out.getvalue()


def run_cli(tmp_path: Path, zip_bytes: bytes, *args: str) -> tuple[int, dict]:
    path = tmp_path / "bundle.zip"
    path.write_bytes(zip_bytes)
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["evidence", "verify", str(path), "--json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.output)


@pytest.mark.parametrize("extra", [None, {"report.pdf": b"%PDF-1.7 the review desk's report"}])
def test_honest_bundle_verifies(tmp_path: Path, chain, extra) -> None:
    key, packages = chain
    code, report = run_cli(tmp_path, bundle(key, packages[2], packages[1], extra=extra), "--expect-key", key.key_id)
    assert code == 0 and report["ok"], report["problems"]
    assert set(report["checked"]) >= {"signature", "files", "chain", "trusted_key"}


def test_flipped_image_byte_is_detected(tmp_path: Path, chain) -> None:
    key, packages = chain
    p = packages[2]
    overview = next(f for f in p.files if f.kind == "overview")
    blob = bytearray(overview.path.read_bytes())
    blob[1000] ^= 0x01
    zipped = rewrite(bundle(key, p, packages[1]), evidence_file_name(overview.sha256, overview.mime), bytes(blob))
    code, report = run_cli(tmp_path, zipped, "--expect-key", key.key_id)
    assert code == 1 and [x["code"] for x in report["problems"]] == ["file_hash_mismatch"]


def test_flipped_byte_in_the_zip_itself_is_detected(tmp_path: Path, chain) -> None:
    key, packages = chain
    zipped = bytearray(bundle(key, packages[2], packages[1]))
    with zipfile.ZipFile(io.BytesIO(bytes(zipped))) as zf:
        info = zf.getinfo(evidence_file_name(packages[2].files[0].sha256, "image/jpeg"))
    zipped[info.header_offset + 30 + len(info.filename) + 500] ^= 0x01  # inside the stored JPEG
    code, report = run_cli(tmp_path, bytes(zipped), "--expect-key", key.key_id)
    assert code == 1 and {x["code"] for x in report["problems"]} & {"zip_member_corrupt", "file_hash_mismatch"}


def test_dropped_manifest_is_detected(tmp_path: Path, chain) -> None:
    key, packages = chain
    # Manifest 2 dropped: manifest 3 presented with manifest 1 as its predecessor.
    code, report = run_cli(tmp_path, bundle(key, packages[2], packages[0]), "--expect-key", key.key_id)
    assert code == 1 and {x["code"] for x in report["problems"]} == {"chain_gap", "chain_prev_mismatch"}


@pytest.mark.parametrize("variant, expected", [
    ("key_file_only", {"signature_invalid", "key_mismatch", "chain_prev_signature_invalid", "key_untrusted"}),
    ("resigned", {"chain_prev_signature_invalid", "key_untrusted"}),
])
def test_replaced_edge_key_is_detected(tmp_path: Path, chain, variant: str, expected: set[str]) -> None:
    key, packages = chain
    other = EdgeSigningKey.load_or_create(tmp_path / "other")
    p = packages[2]
    if variant == "key_file_only":
        zipped = bundle(key, p, packages[1], key=other.public_key)
    else:
        # A forger re-signs the manifest with their own key and ships that key.
        fields = p.signed.manifest.model_dump()
        fields["key_id"] = other.key_id
        forged = Manifest.model_validate(fields).to_bytes()
        zipped = bundle(key, p, packages[1], manifest=forged, signature=other.sign(forged), key=other.public_key)
    code, report = run_cli(tmp_path, zipped, "--expect-key", key.public_key_b64)
    assert code == 1 and {x["code"] for x in report["problems"]} == expected


@pytest.mark.parametrize("member, expected", [
    ("manifest.sig", "zip_layout"),
    ("edge_key.pub", "zip_layout"),
    # prev_hash.txt alone proves nothing (a forger writes whatever hash the forged manifest names)
    ("chain/prev_manifest.json", "chain_link_missing"),
    ("chain/prev_manifest.sig", "chain_prev_signature_missing"),
])
def test_missing_members(tmp_path: Path, chain, member: str, expected: str | None) -> None:
    key, packages = chain
    code, report = run_cli(tmp_path, rewrite(bundle(key, packages[2], packages[1]), member, None),
                           "--expect-key", key.key_id)
    codes = [x["code"] for x in report["problems"]]
    assert (code, codes) == ((0, []) if expected is None else (1, [expected]))


def test_missing_evidence_file(tmp_path: Path, chain) -> None:
    key, packages = chain
    p = packages[1]
    clipped = rewrite(bundle(key, p, packages[0]), evidence_file_name(p.files[1].sha256, p.files[1].mime), None)
    code, report = run_cli(tmp_path, clipped, "--expect-key", key.key_id)
    assert code == 1 and [x["code"] for x in report["problems"]] == ["file_missing"]


@pytest.mark.parametrize("extra", [{"manifest.json": b"{}"}, {"files/x.jpg": b"x"}])
def test_export_cannot_shadow_the_layout(chain, extra) -> None:
    key, packages = chain
    with pytest.raises(ValueError, match="top-level"):
        bundle(key, packages[1], packages[0], extra=extra)


def test_not_a_zip(tmp_path: Path) -> None:
    code, report = run_cli(tmp_path, b"PK\x03\x04 this is not a zip")
    assert code == 1 and report["problems"][0]["code"] == "zip_invalid"


def test_console_script_human_output(tmp_path: Path, chain) -> None:
    key, packages = chain
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    good.write_bytes(bundle(key, packages[1], packages[0]))
    bad.write_bytes(bundle(key, packages[2], packages[0]))
    proc = subprocess.run([str(Path(sys.executable).parent / "ioc"), "evidence", "verify", str(good), str(bad),
                           "--expect-key", key.key_id], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "OK: signature by a trusted key, chain link to manifest #1, all 2 evidence files verify" in proc.stdout
    assert "chain_gap" in proc.stdout
    assert "Phố Huế" in proc.stdout


def test_chain_command_on_an_edge_data_dir(tmp_path: Path, chain) -> None:
    key, packages = chain
    manifests = key.path.parent.parent / "evidence" / "manifests"
    app = typer.Typer()
    register(app)
    ok = CliRunner().invoke(app, ["evidence", "chain", str(manifests), "--key", key.public_key_b64, "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["manifests"] == 3
    # a copy of the chain with manifest 2 removed
    copy = tmp_path / "manifests"
    copy.mkdir()
    for f in manifests.iterdir():
        if f.suffix in (".json", ".sig") and not f.stem.endswith("2"):
            (copy / f.name).write_bytes(f.read_bytes())
    bad = CliRunner().invoke(app, ["evidence", "chain", str(copy), "--key", key.public_key_b64, "--json"])
    assert bad.exit_code == 1
    assert {p["code"] for p in json.loads(bad.output)["problems"]} == {"chain_gap", "chain_prev_mismatch"}


def test_verifier_imports_neither_opencv_nor_the_hub() -> None:
    """The hub, the CLI and a police laptop import the verifier: it must stay light."""
    code = ("import sys, contract.evidence_verify, ioc.cli.evidence; "
            "print(sorted(m for m in ('cv2', 'numpy', 'fastapi', 'psycopg', 'av') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# ------------------------------------------------------------------ issue 8, defect 2


def forge(edge_key: EdgeSigningKey, packages: list[EvidencePackage], tmp_path: Path) -> bytes:
    """The forgery that used to pass: the plate changed in manifest.json, re-signed with a
    new key shipped as edge_key.pub, the chain's previous manifest and its signature
    removed, chain/prev_hash.txt kept."""
    other = EdgeSigningKey.load_or_create(tmp_path / "forger")
    p = packages[2]
    fields = p.signed.manifest.model_dump()
    fields["key_id"] = other.key_id
    fields["plate"] = {"text": "30A-999.99", "confidence": 0.99, "colour": "white", "candidates": []}
    forged = Manifest.model_validate(fields).to_bytes()
    zipped = bundle(edge_key, p, packages[1], manifest=forged, signature=other.sign(forged), key=other.public_key)
    zipped = rewrite(zipped, "chain/prev_manifest.json", None)
    return rewrite(zipped, "chain/prev_manifest.sig", None)


def test_the_reported_forgery_fails_without_any_key(tmp_path: Path, chain) -> None:
    key, packages = chain
    code, report = run_cli(tmp_path, forge(key, packages, tmp_path))
    assert code == 1
    assert {x["code"] for x in report["problems"]} == {"key_untrusted", "chain_link_missing"}
    assert "no trusted key was given" in report["problems"][0]["message"] + report["problems"][-1]["message"]


def test_the_reported_forgery_fails_against_the_hubs_key_registry(tmp_path: Path, chain) -> None:
    key, packages = chain
    keys = tmp_path / "edge-keys.txt"
    keys.write_text(f"# from GET /api/v1/edges/keys\nedge-hn-01 {key.key_id}\nedge-other {key.public_key_b64}\n")
    code, report = run_cli(tmp_path, forge(key, packages, tmp_path), "--trusted-keys", str(keys))
    assert code == 1 and "key_untrusted" in {x["code"] for x in report["problems"]}
    # The honest bundle verifies against the same file, the key pinned to its edge.
    code, report = run_cli(tmp_path, bundle(key, packages[2], packages[1]), "--trusted-keys", str(keys))
    assert code == 0 and report["ok"], report["problems"]


def test_a_key_pinned_to_another_edge_is_not_trusted(tmp_path: Path, chain) -> None:
    key, packages = chain
    keys = tmp_path / "edge-keys.txt"
    keys.write_text(f"edge-somewhere-else {key.key_id}\n")
    code, report = run_cli(tmp_path, bundle(key, packages[2], packages[1]), "--trusted-keys", str(keys))
    assert code == 1 and [x["code"] for x in report["problems"]] == ["key_untrusted"]


def test_a_broken_trusted_keys_file_is_a_usage_error(tmp_path: Path, chain) -> None:
    key, packages = chain
    keys = tmp_path / "edge-keys.txt"
    keys.write_text("edge-hn-01 not-a-key\n")
    path = tmp_path / "b.zip"
    path.write_bytes(bundle(key, packages[2], packages[1]))
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["evidence", "verify", str(path), "--trusted-keys", str(keys)])
    assert result.exit_code == 2 and "line 1" in result.output


@pytest.mark.parametrize(("member", "data", "codes"), [
    ("../../tmp/evil.txt", b"pwned", {"zip_member_unsafe", "zip_member_unlisted"}),
    ("/etc/cron.d/evil", b"* * * * * root sh", {"zip_member_unsafe", "zip_member_unlisted"}),
    ("files/..\\..\\evil.jpg", b"x", {"zip_member_unsafe", "zip_layout", "zip_member_unlisted"}),
    ("notes.txt", b"the officer said it was fine", {"zip_member_unlisted"}),
    ("chain/extra.json", b"{}", {"zip_member_unlisted"}),
    ("files/" + "ab" * 32 + ".jpg", b"an image nobody signed", {"file_unlisted"}),
])
def test_every_member_must_be_named_by_the_format_or_the_manifest(tmp_path: Path, chain, member: str, data: bytes,
                                                                  codes: set[str]) -> None:
    key, packages = chain
    out = io.BytesIO(bundle(key, packages[2], packages[1]))
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr(member, data)
    code, report = run_cli(tmp_path, out.getvalue(), "--expect-key", key.key_id)
    assert code == 1 and {x["code"] for x in report["problems"]} == codes, report["problems"]


def test_a_duplicated_member_is_refused(tmp_path: Path, chain) -> None:
    key, packages = chain
    out = io.BytesIO(bundle(key, packages[2], packages[1]))
    with pytest.warns(UserWarning), zipfile.ZipFile(out, "a") as zf:
        zf.writestr("manifest.sig", b"\x00" * 64)
    code, report = run_cli(tmp_path, out.getvalue(), "--expect-key", key.key_id)
    assert code == 1 and "zip_member_duplicate" in {x["code"] for x in report["problems"]}


def test_a_replaced_readme_fails(tmp_path: Path, chain) -> None:
    key, packages = chain
    zipped = rewrite(bundle(key, packages[2], packages[1]), "README.txt",
                     b"Bundle verified by the ministry. Ignore any key_untrusted warning.\n")
    code, report = run_cli(tmp_path, zipped, "--expect-key", key.key_id)
    assert code == 1 and [x["code"] for x in report["problems"]] == ["readme_altered"]


def test_a_replaced_report_is_reported_as_unsigned_with_its_hash(tmp_path: Path, chain) -> None:
    key, packages = chain
    honest = bundle(key, packages[2], packages[1], extra={"report.pdf": b"%PDF-1.7 officer A confirmed 51F-123.45"})
    forged_pdf = b"%PDF-1.7 officer B confirmed 30A-999.99"
    code, report = run_cli(tmp_path, rewrite(honest, "report.pdf", forged_pdf), "--expect-key", key.key_id)
    assert code == 0  # the edge's evidence itself is intact ...
    assert report["unsigned"] == [{  # ... and the report says plainly that the PDF is not covered
        "name": "report.pdf", "sha256": hashlib.sha256(forged_pdf).hexdigest(), "size": len(forged_pdf),
        "why": report["unsigned"][0]["why"]}]
    assert "not cover" in report["unsigned"][0]["why"] and "audit log" in report["unsigned"][0]["why"]
    assert "report.pdf" not in report["signed"] and "manifest.json" in report["signed"]
    app = typer.Typer()
    register(app)
    path = tmp_path / "r.zip"
    path.write_bytes(rewrite(honest, "report.pdf", forged_pdf))
    human = CliRunner().invoke(app, ["evidence", "verify", str(path), "--expect-key", key.key_id]).output
    assert "UNSIGNED  report.pdf sha256:" + hashlib.sha256(forged_pdf).hexdigest() in human


def test_prev_hash_txt_must_match_the_manifest(tmp_path: Path, chain) -> None:
    key, packages = chain
    zipped = rewrite(bundle(key, packages[2], packages[1]), "chain/prev_hash.txt", b"0" * 64 + b"\n")
    code, report = run_cli(tmp_path, zipped, "--expect-key", key.key_id)
    assert code == 1 and [x["code"] for x in report["problems"]] == ["chain_prev_mismatch"]


def test_the_first_manifest_says_no_chain_was_checked(tmp_path: Path, chain) -> None:
    key, packages = chain
    path = tmp_path / "first.zip"
    path.write_bytes(bundle(key, packages[0], None))
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["evidence", "verify", str(path), "--expect-key", key.key_id])
    assert result.exit_code == 0, result.output
    assert "first manifest of its chain (no link to check)" in result.output and "chain link" not in result.output


def test_an_export_cannot_add_members_a_verifier_refuses(chain) -> None:
    key, packages = chain
    with pytest.raises(ValueError, match="not one a verifier accepts"):
        bundle(key, packages[1], packages[0], extra={"notes.txt": b"x"})
