"""Signed, chained evidence manifests: the format, and checking it with no database and no network.

One module imported by three parties, so it depends only on pydantic and `cryptography`
(no OpenCV, no psycopg, no FastAPI):

- the edge (`edge/evidence/`) builds manifests with `Manifest` and `canonical_json`;
- the hub checks each manifest on arrival (`ioc/services/evidence_verify_ingest.py`) and
  the review desk builds the export ZIP with `build_evidence_zip`;
- `ioc evidence verify FILE.zip` checks an exported ZIP offline with `verify_zip`.

A manifest is one JSON object in canonical form (keys sorted, no spaces, UTF-8, no NaN).
Its hash is the SHA-256 of those exact bytes; the edge signs the same bytes with its
Ed25519 key; each manifest names the previous manifest's hash (`prev_hash`) and carries a
per-edge `manifest_seq`, so dropping, reordering or rewriting one breaks the chain.

Every check returns `Problem`s instead of raising, so a report lists everything wrong
at once. Example::

    report = verify_zip(Path("vi-pham-123.zip"))
    if not report.ok:
        for p in report.problems:
            print(p.code, p.message)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

MANIFEST_FORMAT = "ioc.evidence.manifest/1"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
TS_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"
CODE_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"

# ZIP layout (docs/evidence.md draws it). Member names are fixed so a verifier in any
# language can find them; evidence files are named by their SHA-256 plus an extension.
ZIP_MANIFEST = "manifest.json"
ZIP_SIGNATURE = "manifest.sig"
ZIP_PUBLIC_KEY = "edge_key.pub"
ZIP_PREV_MANIFEST = "chain/prev_manifest.json"
ZIP_PREV_SIGNATURE = "chain/prev_manifest.sig"
ZIP_PREV_HASH = "chain/prev_hash.txt"
ZIP_FILES_DIR = "files/"
ZIP_README = "README.txt"
# A ZIP member larger than this is refused rather than read into memory (zip bombs).
ZIP_MEMBER_LIMIT = 1 << 30

MIME_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "video/mp4": ".mp4",
    "video/x-matroska": ".mkv",
    "application/json": ".json",
    "application/pdf": ".pdf",
}


# ---------------------------------------------------------------------------- format


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ManifestFile(_Strict):
    """One evidence file named by a manifest."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="lower-case hex SHA-256 of the file")
    kind: str = Field(min_length=1, max_length=32, description="overview, plate, clip, ...")
    mime: str = Field(min_length=3, max_length=100, description="media type, e.g. image/jpeg")
    size: int = Field(ge=0, le=1 << 40, description="file size in bytes")


class PlateCandidate(_Strict):
    """One candidate reading of the plate with its confidence."""

    text: str = Field(min_length=1, max_length=32)
    confidence: float = Field(ge=0.0, le=1.0)


class ManifestPlate(_Strict):
    """The plate reading as the edge made it; `text` is null when the plate was not read."""

    text: str | None = Field(default=None, max_length=32, description="normalised plate, null if unread")
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    colour: str | None = Field(default=None, max_length=16, description="white, yellow, blue, red")
    candidates: list[PlateCandidate] = Field(default_factory=list, max_length=10)


class Manifest(_Strict):
    """The signed description of one violation and its evidence files.

    Example::

        m = Manifest(event_id="018f...", edge="edge-01", seq=12, manifest_seq=3, prev_hash="ab..",
                     camera="cam-01", unit="26734", type="traffic.red_light",
                     ts="2026-11-22T03:14:15.926Z", key_id="sha256:..", files=[...])
        data = m.to_bytes()            # canonical bytes: what is hashed and signed
        Manifest.parse(data) == m
    """

    format: Literal["ioc.evidence.manifest/1"] = MANIFEST_FORMAT
    event_id: str = Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description="id of the event the manifest backs")
    edge: str = Field(pattern=CODE_PATTERN, description="edge worker that signed it")
    seq: int | None = Field(
        default=None, ge=0, le=2**62,
        description="the event's per-edge sequence number, when known at signing time (event_id always links)",
    )
    manifest_seq: int = Field(ge=1, le=2**62, description="position in this edge's manifest chain, from 1")
    prev_hash: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="hash of manifest manifest_seq-1; null for the first"
    )
    camera: str = Field(pattern=CODE_PATTERN)
    camera_name: str | None = Field(default=None, max_length=200)
    place: str | None = Field(default=None, max_length=300)
    unit: str = Field(pattern=CODE_PATTERN)
    type: str = Field(pattern=r"^traffic(\.[a-z0-9_]+)+$", max_length=100)
    ts: str = Field(pattern=TS_PATTERN, description="UTC time of the violation, ISO-8601 with Z")
    created_at: str = Field(pattern=TS_PATTERN, description="when the edge signed the manifest")
    plate: ManifestPlate | None = None
    calibration_id: str | None = Field(default=None, max_length=64, description="speed calibration id, if any")
    measurements: dict[str, float | int | str | bool | None] = Field(
        default_factory=dict, description="rule figures: speed_kmh, limit_kmh, signal, dwell_s, ..."
    )
    key_id: str = Field(pattern=r"^sha256:[0-9a-f]{64}$", description="fingerprint of the signing key")
    files: list[ManifestFile] = Field(min_length=1, max_length=32)

    def to_bytes(self) -> bytes:
        """The canonical bytes: hashed, signed and stored exactly as they are."""
        return canonical_json(self.model_dump(mode="json"))

    def hash(self) -> str:
        """SHA-256 (hex) of the canonical bytes."""
        return sha256_hex(self.to_bytes())

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        """Parse canonical bytes; raises `ManifestFormatError` on anything else."""
        try:
            obj = json.loads(data.decode("utf-8"))
            manifest = cls.model_validate(obj)
        except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
            raise ManifestFormatError(f"not a valid evidence manifest: {exc}") from exc
        if manifest.to_bytes() != data:
            # Two byte strings for one manifest would give two hashes: refuse all but one.
            raise ManifestFormatError("manifest is not in canonical form (sorted keys, no spaces, all fields)")
        if (manifest.manifest_seq == 1) != (manifest.prev_hash is None):
            raise ManifestFormatError("prev_hash must be null exactly for manifest_seq 1")
        return manifest


class ManifestFormatError(ValueError):
    """Bytes that are not a canonical evidence manifest."""


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 (not \\u escapes), NaN refused."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------- keys


def load_public_key(data: bytes | str) -> Ed25519PublicKey:
    """An Ed25519 public key from raw 32 bytes, base64 of them, or PEM; `ValueError` otherwise."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    text = raw.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(text)
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("PEM key is not Ed25519")
            return key
        if len(raw) == 32:
            return Ed25519PublicKey.from_public_bytes(raw)
        decoded = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(decoded)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError(f"not an Ed25519 public key (raw, base64 or PEM): {exc}") from exc


def public_key_raw(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_b64(key: Ed25519PublicKey) -> str:
    """Base64 of the raw public key: the form `PUT /api/v1/edges/self/key` takes."""
    return base64.b64encode(public_key_raw(key)).decode()


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """`sha256:<hex>` of the raw public key; what manifests carry as `key_id`."""
    return "sha256:" + sha256_hex(public_key_raw(key))


# ---------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class Problem:
    """One thing that does not verify. `code` is stable (tests and UIs key on it)."""

    code: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Problem:
        return cls(code=str(data["code"]), message=str(data.get("message", "")), detail=dict(data.get("detail") or {}))


@dataclass
class Report:
    """The result of verifying one manifest (and whatever came with it).

    Example::

        report = verify_manifest(data, sig, key, files={sha: blob})
        report.ok, [p.code for p in report.problems]
    """

    manifest: Manifest | None = None
    manifest_hash: str | None = None
    key_fingerprint: str | None = None
    problems: list[Problem] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    # ZIP members covered by the edge's signature (directly, or by a hash it signs), and
    # those that are not: `{"name", "sha256", "size", "why"}` (e.g. the hub's report.pdf).
    signed: list[str] = field(default_factory=list)
    unsigned: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def codes(self) -> list[str]:
        return [p.code for p in self.problems]

    def add(self, code: str, message: str, **detail: Any) -> None:
        self.problems.append(Problem(code, message, detail))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "manifest_hash": self.manifest_hash,
            "key_fingerprint": self.key_fingerprint,
            "edge": self.manifest.edge if self.manifest else None,
            "manifest_seq": self.manifest.manifest_seq if self.manifest else None,
            "event_id": self.manifest.event_id if self.manifest else None,
            "checked": list(self.checked),
            "signed": list(self.signed),
            "unsigned": [dict(u) for u in self.unsigned],
            "problems": [p.to_dict() for p in self.problems],
        }


# ---------------------------------------------------------------------------- checks


def check_signature(data: bytes, signature: bytes, key: Ed25519PublicKey) -> list[Problem]:
    """Ed25519 signature over the exact manifest bytes."""
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return [Problem("signature_invalid", "the signature does not match the manifest and key",
                        {"key_id": key_fingerprint(key)})]
    return []


def check_key_id(manifest: Manifest, key: Ed25519PublicKey) -> list[Problem]:
    """The manifest names the fingerprint of the key that must have signed it."""
    actual = key_fingerprint(key)
    if manifest.key_id != actual:
        return [Problem("key_mismatch", "the manifest names a different signing key than the one supplied",
                        {"manifest_key_id": manifest.key_id, "key_id": actual})]
    return []


def check_link(prev: Manifest, prev_hash: str, manifest: Manifest) -> list[Problem]:
    """`manifest` directly follows `prev` (whose bytes hash to `prev_hash`) in one edge's chain."""
    problems: list[Problem] = []
    if prev.edge != manifest.edge:
        problems.append(Problem("chain_edge_mismatch", "the previous manifest belongs to another edge",
                                {"prev_edge": prev.edge, "edge": manifest.edge}))
    if manifest.manifest_seq != prev.manifest_seq + 1:
        problems.append(Problem("chain_gap", "manifests are missing between the previous one and this one",
                                {"prev_seq": prev.manifest_seq, "seq": manifest.manifest_seq}))
    if manifest.prev_hash != prev_hash:
        problems.append(Problem("chain_prev_mismatch", "prev_hash does not match the previous manifest",
                                {"prev_hash": manifest.prev_hash, "actual": prev_hash}))
    return problems


def check_files(manifest: Manifest, files: Mapping[str, bytes], *, require_all: bool = True) -> list[Problem]:
    """Hash every file given (keyed by the name the sender used, a SHA-256) against the manifest."""
    problems: list[Problem] = []
    listed = {f.sha256: f for f in manifest.files}
    for name, blob in files.items():
        actual = sha256_hex(blob)
        entry = listed.get(name)
        if entry is None:
            problems.append(Problem("file_unlisted", "a file is not named by the manifest", {"name": name}))
        elif actual != name:
            problems.append(Problem("file_hash_mismatch", "file content does not match its SHA-256",
                                    {"sha256": name, "actual": actual, "kind": entry.kind}))
        elif len(blob) != entry.size:
            problems.append(Problem("file_size_mismatch", "file size differs from the manifest",
                                    {"sha256": name, "size": len(blob), "expected": entry.size}))
    if require_all:
        for sha, entry in listed.items():
            if sha not in files:
                problems.append(Problem("file_missing", "a file named by the manifest is missing",
                                        {"sha256": sha, "kind": entry.kind}))
    return problems


def verify_manifest(
    data: bytes,
    signature: bytes,
    key: Ed25519PublicKey,
    *,
    files: Mapping[str, bytes] | None = None,
    prev: tuple[bytes, bytes | None] | None = None,
    prev_hash: str | None = None,
    trusted_keys: Iterable[Ed25519PublicKey | str] | None = None,
) -> Report:
    """Every offline check of one manifest.

    `files` are checked when given (all must be present); `prev` is the previous
    manifest's bytes and signature (signature may be None), checked as a chain link;
    `prev_hash` alone is compared when the previous manifest itself is not at hand;
    `trusted_keys`, when given, must contain `key` (keys or `sha256:` fingerprints, e.g.
    from the hub's registry of edge keys).
    """
    report = Report(key_fingerprint=key_fingerprint(key), manifest_hash=sha256_hex(data))
    report.checked.append("signature")
    report.problems += check_signature(data, signature, key)
    try:
        manifest = Manifest.parse(data)
    except ManifestFormatError as exc:
        report.add("manifest_invalid", str(exc))
        return report
    report.manifest = manifest
    report.problems += check_key_id(manifest, key)
    if trusted_keys is not None:
        report.checked.append("trusted_key")
        trusted = {k if isinstance(k, str) else key_fingerprint(k) for k in trusted_keys}
        if report.key_fingerprint not in trusted:
            report.add("key_untrusted", "the signing key is not one of the trusted edge keys",
                       key_id=report.key_fingerprint, trusted=sorted(trusted))
    if files is not None:
        report.checked.append("files")
        report.problems += check_files(manifest, files)
    if prev is not None:
        report.checked.append("chain")
        prev_bytes, prev_sig = prev
        actual_prev_hash = sha256_hex(prev_bytes)
        try:
            prev_manifest = Manifest.parse(prev_bytes)
        except ManifestFormatError as exc:
            report.add("chain_prev_invalid", f"previous manifest: {exc}")
        else:
            report.problems += check_link(prev_manifest, actual_prev_hash, manifest)
            if prev_sig is not None:
                # Both links of the chain are signed by the same edge key; a replaced key
                # that re-signs the newest manifest cannot re-sign the one before it.
                for p in check_signature(prev_bytes, prev_sig, key):
                    report.add("chain_prev_signature_invalid",
                               "the previous manifest was not signed by this key", **p.detail)
    elif prev_hash is not None:
        report.checked.append("chain_hash")
        if manifest.prev_hash != prev_hash:
            report.add("chain_prev_mismatch", "prev_hash does not match the recorded chain link",
                       prev_hash=manifest.prev_hash, actual=prev_hash)
    return report


def verify_chain(entries: Sequence[tuple[bytes, bytes]], key: Ed25519PublicKey) -> Report:
    """A run of consecutive manifests (bytes, signature) of one edge, oldest first."""
    report = Report(key_fingerprint=key_fingerprint(key))
    report.checked += ["signature", "chain"]
    prev: Manifest | None = None
    prev_hash: str | None = None
    for index, (data, sig) in enumerate(entries):
        for p in check_signature(data, sig, key):
            report.add(p.code, p.message, index=index, **p.detail)
        try:
            manifest = Manifest.parse(data)
        except ManifestFormatError as exc:
            report.add("manifest_invalid", str(exc), index=index)
            prev = None
            continue
        for p in check_key_id(manifest, key):
            report.add(p.code, p.message, index=index, **p.detail)
        if prev is not None and prev_hash is not None:
            for p in check_link(prev, prev_hash, manifest):
                report.add(p.code, p.message, index=index, **p.detail)
        prev, prev_hash = manifest, sha256_hex(data)
        report.manifest, report.manifest_hash = manifest, prev_hash
    return report


# ---------------------------------------------------------------------------- ZIP


def evidence_file_name(sha256: str, mime: str) -> str:
    """Member name of an evidence file inside the ZIP: files/<sha256><ext>."""
    return f"{ZIP_FILES_DIR}{sha256}{MIME_EXTENSIONS.get(mime, '')}"


def build_evidence_zip(
    manifest_bytes: bytes,
    signature: bytes,
    public_key: Ed25519PublicKey | bytes | str,
    files: Mapping[str, bytes],
    *,
    prev_manifest: bytes | None = None,
    prev_signature: bytes | None = None,
    extra: Mapping[str, bytes] | None = None,
) -> bytes:
    """The export ZIP (layout in docs/evidence.md); `extra` adds e.g. `report.pdf` at the top level.

    Raises `ManifestFormatError` if `manifest_bytes` is not a manifest, `ValueError` if a
    file named by it is missing from `files`: an export never silently lacks evidence.
    """
    manifest = Manifest.parse(manifest_bytes)
    key = public_key if isinstance(public_key, Ed25519PublicKey) else load_public_key(public_key)
    missing = [f.sha256 for f in manifest.files if f.sha256 not in files]
    if missing:
        raise ValueError(f"evidence files missing for the export: {missing}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(ZIP_README, _README_TEXT, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(ZIP_MANIFEST, manifest_bytes, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(ZIP_SIGNATURE, signature)
        zf.writestr(ZIP_PUBLIC_KEY, public_key_b64(key) + "\n")
        if manifest.prev_hash is not None:
            zf.writestr(ZIP_PREV_HASH, manifest.prev_hash + "\n")
        if prev_manifest is not None:
            zf.writestr(ZIP_PREV_MANIFEST, prev_manifest, compress_type=zipfile.ZIP_DEFLATED)
            if prev_signature is not None:
                zf.writestr(ZIP_PREV_SIGNATURE, prev_signature)
        for entry in manifest.files:
            # JPEG and MP4 are already compressed: store them as they are.
            zf.writestr(evidence_file_name(entry.sha256, entry.mime), files[entry.sha256])
        for name, blob in (extra or {}).items():
            if "/" in name or name in _RESERVED:
                raise ValueError(f"extra ZIP member must be a plain top-level name, not {name!r}")
            if name not in EXTRA_MEMBERS:
                raise ValueError(f"extra ZIP member {name!r} is not one a verifier accepts ({sorted(EXTRA_MEMBERS)})")
            zf.writestr(name, blob, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


_RESERVED = {ZIP_MANIFEST, ZIP_SIGNATURE, ZIP_PUBLIC_KEY, ZIP_README, ZIP_PREV_HASH, ZIP_PREV_MANIFEST,
             ZIP_PREV_SIGNATURE}
# The one top-level member an export may add (the review desk's PDF). It is made by the
# hub at export time, so the edge's signature cannot cover it: the verifier reports it
# as unsigned, with its SHA-256 (the hub's audit log records it, `violation.export`).
ZIP_REPORT = "report.pdf"
EXTRA_MEMBERS = frozenset({ZIP_REPORT})
_README_TEXT = (
    "Hồ sơ bằng chứng vi phạm / Violation evidence bundle\n\n"
    "manifest.json       canonical manifest; its SHA-256 is the manifest hash\n"
    "manifest.sig        Ed25519 signature of manifest.json by the edge key\n"
    "edge_key.pub        the edge's public key (base64 of 32 raw bytes); NOT proof on its own:\n"
    "                    verify against the key the hub registered for the edge\n"
    "chain/              the link to the previous manifest of the same edge\n"
    "files/<sha256>.ext  every evidence file, named by its SHA-256\n"
    "report.pdf          the hub's report (officer, decision): NOT signed by the edge\n\n"
    "Kiểm tra / verify:  ioc evidence verify THIS.zip --expect-key KEY | --trusted-keys FILE\n"
)
# Every README this format ever shipped: the text is fixed, so a changed one is caught.
_README_TEXTS = frozenset({_README_TEXT, (
    "Hồ sơ bằng chứng vi phạm / Violation evidence bundle\n\n"
    "manifest.json       canonical manifest; its SHA-256 is the manifest hash\n"
    "manifest.sig        Ed25519 signature of manifest.json by the edge key\n"
    "edge_key.pub        the edge's public key (base64 of 32 raw bytes)\n"
    "chain/              the link to the previous manifest of the same edge\n"
    "files/<sha256>.ext  every evidence file, named by its SHA-256\n\n"
    "Kiểm tra / verify:  ioc evidence verify THIS.zip [--expect-key KEY]\n"
)})


def _read_member(zf: zipfile.ZipFile, name: str, report: Report) -> bytes | None:
    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    if info.file_size > ZIP_MEMBER_LIMIT:
        report.add("zip_member_too_large", f"{name} is larger than {ZIP_MEMBER_LIMIT} bytes", name=name)
        return None
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, OSError) as exc:  # CRC errors land here
        report.add("zip_member_corrupt", f"{name} cannot be read: {exc}", name=name)
        return None


def unsafe_member_name(name: str) -> bool:
    """A ZIP member name that could escape the folder it is extracted to, or confuse a
    reader: absolute, with `..` or `.` or empty segments, backslashes, a drive letter,
    control characters."""
    if not name or name.startswith("/") or "\\" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return True
    segments = name.rstrip("/").split("/")
    return any(seg in ("", ".", "..") for seg in segments) or ":" in segments[0]


def parse_trusted_keys(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """A trusted-keys file (what `GET /api/v1/edges/keys` gives): one key per line,
    `EDGE-ID KEY` (pinned to that edge) or `KEY` (any edge); KEY is a `sha256:`
    fingerprint or a base64/PEM public key; `#` starts a comment. Returns (any-edge
    fingerprints, edge id -> fingerprints); ValueError naming the line otherwise.

    Example::

        anywhere, pinned = parse_trusted_keys("edge-hn-01 sha256:5be0...\n")
        verify_zip(path, edge_keys=pinned)
    """
    anywhere: list[str] = []
    pinned: dict[str, list[str]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) > 2 or (len(parts) == 2 and not re.match(CODE_PATTERN, parts[0])):
            raise ValueError(f"line {number}: expected 'EDGE-ID KEY' or 'KEY', got {raw.strip()!r}")
        fingerprint = _fingerprint_of(parts[-1], f"line {number}")
        if len(parts) == 2:
            pinned.setdefault(parts[0], []).append(fingerprint)
        else:
            anywhere.append(fingerprint)
    return anywhere, pinned


def _fingerprint_of(value: Ed25519PublicKey | str, where: str = "key") -> str:
    if isinstance(value, Ed25519PublicKey):
        return key_fingerprint(value)
    if re.match(r"^sha256:[0-9a-f]{64}$", value):
        return value
    try:
        return key_fingerprint(load_public_key(value))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def verify_zip(
    source: Path | bytes,
    *,
    trusted_keys: Iterable[Ed25519PublicKey | str] | None = None,
    edge_keys: Mapping[str, Iterable[Ed25519PublicKey | str]] | None = None,
) -> Report:
    """Check an export ZIP offline: layout, every member, signature, trust in the key,
    chain link and every file's hash.

    `edge_key.pub` inside the ZIP is only a convenience: whoever forged the bundle can
    replace it. The key must be trusted: in `trusted_keys` (fingerprints or keys, e.g.
    `--expect-key`), or in `edge_keys[manifest.edge]` (keys pinned per edge, e.g. the
    hub's registry from `parse_trusted_keys`). Without either, `key_untrusted`.
    """
    report = Report()
    try:
        zf = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, OSError) as exc:
        report.add("zip_invalid", f"not a readable ZIP file: {exc}")
        return report
    with zf:
        names = [info.filename for info in zf.infolist()]
        seen: set[str] = set()
        for name in names:
            if unsafe_member_name(name):
                report.add("zip_member_unsafe", f"member name {name!r} could escape the folder it is unpacked to",
                           name=name)
            if name in seen:
                report.add("zip_member_duplicate", f"{name!r} appears more than once in the ZIP", name=name)
            seen.add(name)
        manifest_bytes = _read_member(zf, ZIP_MANIFEST, report)
        signature = _read_member(zf, ZIP_SIGNATURE, report)
        key_bytes = _read_member(zf, ZIP_PUBLIC_KEY, report)
        for name, blob in ((ZIP_MANIFEST, manifest_bytes), (ZIP_SIGNATURE, signature), (ZIP_PUBLIC_KEY, key_bytes)):
            if blob is None:
                report.add("zip_layout", f"{name} is missing from the ZIP", name=name)
        if manifest_bytes is None or signature is None or key_bytes is None:
            return report
        try:
            key = load_public_key(key_bytes)
        except ValueError as exc:
            report.add("key_invalid", str(exc))
            return report

        files: dict[str, bytes] = {}
        file_members: dict[str, str] = {}
        for info in zf.infolist():
            name = info.filename
            if not name.startswith(ZIP_FILES_DIR) or name.endswith("/"):
                continue
            stem = name[len(ZIP_FILES_DIR):].split(".", 1)[0]
            if not SHA256_RE.match(stem) or "/" in name[len(ZIP_FILES_DIR):]:
                report.add("zip_layout", f"{name} is not named by a SHA-256", name=name)
                continue
            blob = _read_member(zf, name, report)
            if blob is not None:
                files[stem] = blob
                file_members[stem] = name

        prev_bytes = _read_member(zf, ZIP_PREV_MANIFEST, report)
        prev_sig = _read_member(zf, ZIP_PREV_SIGNATURE, report)
        prev_hash_txt = _read_member(zf, ZIP_PREV_HASH, report)
        readme = _read_member(zf, ZIP_README, report)
        extras = {name: _read_member(zf, name, report) for name in EXTRA_MEMBERS if name in seen}

    prev = (prev_bytes, prev_sig) if prev_bytes is not None else None
    prev_hash = prev_hash_txt.decode("ascii", "replace").strip() if prev_hash_txt is not None else None
    result = verify_manifest(manifest_bytes, signature, key, files=files, prev=prev)
    result.problems[:0] = report.problems
    manifest = result.manifest
    _check_trust(result, manifest, key, trusted_keys, edge_keys)

    expected_files: dict[str, str] = {}
    if manifest is not None:
        expected_files = {f.sha256: evidence_file_name(f.sha256, f.mime) for f in manifest.files}
        for sha, name in file_members.items():
            if sha in expected_files and name != expected_files[sha]:
                result.add("zip_layout", f"{name} should be named {expected_files[sha]}", name=name)
        _check_chain_members(result, manifest, prev, prev_sig, prev_hash)

    # Every member must be one the format knows: nothing rides along unverified.
    known = {ZIP_MANIFEST, ZIP_SIGNATURE, ZIP_PUBLIC_KEY, ZIP_README, ZIP_PREV_HASH, ZIP_PREV_MANIFEST,
             ZIP_PREV_SIGNATURE, "chain/", ZIP_FILES_DIR, *EXTRA_MEMBERS, *file_members.values()}
    for name in sorted(seen - known):
        result.add("zip_member_unlisted", f"{name!r} is not part of the evidence format nor named by the manifest",
                   name=name)
    if readme is not None and readme.decode("utf-8", "replace") not in _README_TEXTS:
        result.add("readme_altered", "README.txt is not the text this format ships (it is not signed: do not follow it)")

    result.signed = [ZIP_MANIFEST, *sorted(n for sha, n in file_members.items() if sha in expected_files)]
    if prev is not None:
        result.signed.append(ZIP_PREV_MANIFEST)
    for name, blob in extras.items():
        if blob is not None:
            result.unsigned.append({
                "name": name, "sha256": sha256_hex(blob), "size": len(blob),
                "why": "made by the hub at export (officer, decision, corrected plate): the edge's signature does "
                       "not cover it; compare its SHA-256 with the hub's audit log (violation.export)",
            })
    return result


def _check_trust(
    report: Report,
    manifest: Manifest | None,
    key: Ed25519PublicKey,
    trusted_keys: Iterable[Ed25519PublicKey | str] | None,
    edge_keys: Mapping[str, Iterable[Ed25519PublicKey | str]] | None,
) -> None:
    report.checked.append("trusted_key")
    actual = key_fingerprint(key)
    anywhere = {_fingerprint_of(k) for k in (trusted_keys or ())}
    pinned = {_fingerprint_of(k) for k in (edge_keys or {}).get(manifest.edge if manifest else "", ())}
    if actual in anywhere or actual in pinned:
        return
    if not anywhere and not edge_keys:
        report.add("key_untrusted", "no trusted key was given: the key inside the ZIP proves nothing on its own "
                   "(give the edge's key with --expect-key, or the hub's registry with --trusted-keys)",
                   key_id=actual)
        return
    report.add("key_untrusted", "the signing key is not one of the trusted edge keys",
               key_id=actual, trusted=sorted(anywhere | pinned), edge=manifest.edge if manifest else None)


def _check_chain_members(report: Report, manifest: Manifest, prev: tuple[bytes, bytes | None] | None,
                         prev_sig: bytes | None, prev_hash: str | None) -> None:
    if manifest.prev_hash is None:
        if prev is not None or prev_hash is not None:
            report.add("chain_prev_mismatch", "manifest #1 has no predecessor, but the ZIP carries a chain link")
        return
    if prev is None:
        # prev_hash.txt alone proves nothing: anyone can write the hash the forged
        # manifest names. Only the previous manifest, signed by the same key, links.
        report.add("chain_link_missing", f"chain/prev_manifest.json is missing: the link to manifest "
                   f"#{manifest.manifest_seq - 1} cannot be checked", prev_hash=manifest.prev_hash)
    elif prev_sig is None:
        report.add("chain_prev_signature_missing", "chain/prev_manifest.sig is missing: the previous manifest is "
                   "not shown to come from the same key")
    if prev_hash is not None and prev_hash != manifest.prev_hash:
        report.add("chain_prev_mismatch", "chain/prev_hash.txt does not match the manifest's prev_hash",
                   prev_hash=manifest.prev_hash, actual=prev_hash)


__all__ = [
    "MANIFEST_FORMAT",
    "Manifest",
    "ManifestFile",
    "ManifestFormatError",
    "ManifestPlate",
    "PlateCandidate",
    "Problem",
    "Report",
    "build_evidence_zip",
    "canonical_json",
    "check_files",
    "check_link",
    "check_signature",
    "evidence_file_name",
    "parse_trusted_keys",
    "unsafe_member_name",
    "key_fingerprint",
    "load_public_key",
    "public_key_b64",
    "public_key_raw",
    "sha256_hex",
    "verify_chain",
    "verify_manifest",
    "verify_zip",
]
