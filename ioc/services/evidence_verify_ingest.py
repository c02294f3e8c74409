"""The hub's check of each evidence manifest on arrival: signature, key, chain, files.

The hub calls `verify_arrival` when an event carrying `payload.evidence_manifest`
arrives together with (or after) the manifest file it names. Each manifest gets one
row in `evidence_manifests` (migration 020) with `verified` and a list of `problems`
(codes from `contract.evidence_verify`, plus `edge_mismatch`, `key_unregistered`,
`chain_fork`). Nothing is thrown away: a manifest that does not verify is stored and
marked, so the review desk can show why.

Manifests of one edge are checked under a per-edge advisory lock, so two hub replicas
cannot both miss each other's link. A manifest that arrives before its predecessor is
marked `chain_gap`; when the predecessor arrives later the successor is re-checked and
the gap cleared, so an outbox replay out of order does not leave false alarms, while a
manifest really dropped from the chain stays marked.

Example::

    verdict = await verify_arrival(conn, manifest_bytes, signature_b64, edge_id="edge-01")
    if not verdict.verified:
        log.warning("evidence %s: %s", verdict.hash, verdict.codes)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

from contract.evidence_verify import (
    Manifest,
    ManifestFormatError,
    Problem,
    check_files,
    load_public_key,
    sha256_hex,
    verify_manifest,
)
from ioc.exceptions import DatabaseError, InvalidInput, NotFound

MAX_MANIFEST_BYTES = 256 * 1024
# Problems about the link to the predecessor; recomputed when the predecessor arrives.
_CHAIN_CODES = {"chain_gap", "chain_prev_mismatch"}


@dataclass
class Verdict:
    """The hub's verdict on one manifest, as stored in `evidence_manifests`."""

    hash: str
    edge: str
    seq: int
    prev_hash: str | None
    event_id: str
    verified: bool
    problems: list[Problem] = field(default_factory=list)
    files_missing: list[str] = field(default_factory=list)
    duplicate: bool = False

    @property
    def codes(self) -> list[str]:
        return [p.code for p in self.problems]

    def to_dict(self) -> dict[str, Any]:
        return {"hash": self.hash, "edge": self.edge, "seq": self.seq, "prev_hash": self.prev_hash,
                "event_id": self.event_id, "verified": self.verified,
                "problems": [p.to_dict() for p in self.problems], "files_missing": self.files_missing}


@dataclass(frozen=True)
class ChainLink:
    """What an export needs from the hub: the manifest, its signature, the key, the previous link."""

    manifest: bytes
    signature: bytes
    public_key: str | None
    prev_manifest: bytes | None
    prev_signature: bytes | None
    verdict: Verdict


async def _fetch(conn: psycopg.AsyncConnection, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Rows as tuples whatever row factory the connection has (the hub pool uses dict_row)."""
    cur = await conn.cursor(row_factory=tuple_row).execute(sql, params)
    return await cur.fetchall()


def decode_signature(signature: bytes | str) -> bytes:
    """Raw 64-byte signature from bytes or base64 text; `InvalidInput` otherwise."""
    if isinstance(signature, str):
        try:
            signature = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(f"evidence signature is not base64: {exc}") from exc
    if len(signature) != 64:
        raise InvalidInput(f"an Ed25519 signature has 64 bytes, got {len(signature)}")
    return bytes(signature)


async def verify_arrival(
    conn: psycopg.AsyncConnection,
    manifest_bytes: bytes,
    signature: bytes | str,
    edge_id: str,
    *,
    files: Mapping[str, bytes] | None = None,
    event_id: str | None = None,
) -> Verdict:
    """Check one manifest sent by the authenticated edge `edge_id` and store the verdict.

    `event_id` is the event whose payload named this manifest: it must be the event the
    manifest was signed for (a valid manifest cannot be moved to another event), and
    that event's evidence list must name every file of the manifest.

    `files` (sha256 -> bytes), when the caller has them at hand, are hashed against the
    manifest; otherwise files already in `evidence_files` are compared by size and the
    rest are listed in `files_missing` (they may still be on their way).
    Raises `InvalidInput` for bytes that are not a manifest at all (nothing is stored).
    Re-sending the same manifest returns the stored verdict with `duplicate=True`.
    """
    if len(manifest_bytes) > MAX_MANIFEST_BYTES:
        raise InvalidInput(f"evidence manifest is {len(manifest_bytes)} bytes; the limit is {MAX_MANIFEST_BYTES}")
    sig = decode_signature(signature)
    try:
        manifest = Manifest.parse(manifest_bytes)
    except ManifestFormatError as exc:
        raise InvalidInput(str(exc)) from exc
    digest = sha256_hex(manifest_bytes)
    try:
        async with conn.transaction():
            # hashtext folds the edge id into the advisory lock's int key; collisions only serialise more.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('evidence_manifests:' || %s))", (edge_id,))
            stored = await _load(conn, digest)
            if stored is not None:
                stored.duplicate = True
                return stored
            verdict = await _check(conn, manifest, manifest_bytes, sig, digest, edge_id, files, event_id)
            await _fix_successors(conn, edge_id, manifest.manifest_seq, digest)
            return verdict
    except psycopg.Error as exc:
        raise DatabaseError(f"storing the evidence verdict failed: {exc}") from exc


async def _check(conn: psycopg.AsyncConnection, manifest: Manifest, data: bytes, sig: bytes, digest: str,
                 edge_id: str, files: Mapping[str, bytes] | None, event_id: str | None) -> Verdict:
    problems: list[Problem] = await _check_event(conn, manifest, event_id)
    if manifest.edge != edge_id:
        problems.append(Problem("edge_mismatch", "the manifest names another edge than the one that sent it",
                                {"manifest_edge": manifest.edge, "sender": edge_id}))
    rows = await _fetch(conn, "SELECT public_key FROM edges WHERE id = %s", (edge_id,))
    if not rows:
        raise NotFound(f"edge {edge_id!r} is not registered")
    public_key: str | None = rows[0][0]
    if public_key is None:
        problems.append(Problem("key_unregistered", "the edge has not registered a signing key", {}))
    else:
        try:
            key = load_public_key(public_key)
        except ValueError as exc:
            problems.append(Problem("key_invalid", f"the registered edge key is unusable: {exc}", {}))
        else:
            report = verify_manifest(data, sig, key)
            problems += report.problems
    files_missing: list[str] = []
    if files is not None:
        problems += check_files(manifest, files)
    else:
        problems_files, files_missing = await _check_stored_files(conn, manifest)
        problems += problems_files
    problems += await _check_chain(conn, manifest, digest)

    verdict = Verdict(hash=digest, edge=edge_id, seq=manifest.manifest_seq, prev_hash=manifest.prev_hash,
                      event_id=manifest.event_id, verified=not problems, problems=problems,
                      files_missing=files_missing)
    await conn.execute(
        "INSERT INTO evidence_manifests (hash, edge, seq, prev_hash, event_id, event_seq, type, ts, files,"
        " manifest, signature, key_id, public_key, verified, problems)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (digest, edge_id, manifest.manifest_seq, manifest.prev_hash, manifest.event_id, manifest.seq,
         manifest.type, manifest.ts, json.dumps([f.model_dump() for f in manifest.files]), data, sig,
         manifest.key_id, public_key, verdict.verified, _problems_json(problems)),
    )
    return verdict


async def _check_event(conn: psycopg.AsyncConnection, manifest: Manifest, event_id: str | None) -> list[Problem]:
    problems = []
    if event_id is not None and str(event_id) != manifest.event_id:
        problems.append(Problem("event_mismatch", "the manifest was signed for another event",
                                {"manifest_event": manifest.event_id, "event": str(event_id)}))
    rows = await _fetch(conn, "SELECT sha256 FROM event_evidence WHERE event_id = %s", (manifest.event_id,))
    if rows:  # the event is here: it must name every file the manifest vouches for
        named = {r[0] for r in rows}
        missing = [f.sha256 for f in manifest.files if f.sha256 not in named]
        if missing:
            problems.append(Problem("event_evidence_mismatch", "the event does not name every file of its manifest",
                                    {"missing": missing}))
    return problems


async def _check_stored_files(conn: psycopg.AsyncConnection, manifest: Manifest) -> tuple[list[Problem], list[str]]:
    # The hub hashed each upload against its name when it arrived (PUT /api/v1/evidence/{sha256});
    # here the size it stored must be the size the edge signed.
    wanted = {f.sha256: f for f in manifest.files}
    rows = await _fetch(conn, "SELECT sha256, size FROM evidence_files WHERE sha256 = ANY(%s)", (list(wanted),))
    present = {sha: size for sha, size in rows}
    problems = [
        Problem("file_size_mismatch", "stored file size differs from the manifest",
                {"sha256": sha, "size": present[sha], "expected": entry.size})
        for sha, entry in wanted.items() if sha in present and present[sha] != entry.size
    ]
    return problems, [sha for sha in wanted if sha not in present]


async def _check_chain(conn: psycopg.AsyncConnection, manifest: Manifest, digest: str) -> list[Problem]:
    problems: list[Problem] = []
    same_seq = await _fetch(conn, "SELECT hash FROM evidence_manifests WHERE edge = %s AND seq = %s",
                            (manifest.edge, manifest.manifest_seq))
    others = [r[0] for r in same_seq if r[0] != digest]
    if others:
        problems.append(Problem("chain_fork", "another manifest with the same chain position exists",
                                {"seq": manifest.manifest_seq, "other": others}))
    if manifest.manifest_seq > 1:
        rows = await _fetch(conn, "SELECT hash FROM evidence_manifests WHERE edge = %s AND seq = %s",
                            (manifest.edge, manifest.manifest_seq - 1))
        prev = [r[0] for r in rows]
        if not prev:
            problems.append(Problem("chain_gap", "the previous manifest of this edge has not arrived",
                                    {"missing_seq": manifest.manifest_seq - 1}))
        elif manifest.prev_hash not in prev:
            problems.append(Problem("chain_prev_mismatch", "prev_hash does not match the previous manifest",
                                    {"prev_hash": manifest.prev_hash, "actual": prev}))
    return problems


async def _fix_successors(conn: psycopg.AsyncConnection, edge: str, seq: int, digest: str) -> None:
    """Re-check the chain link of manifests that arrived before this one, their predecessor."""
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT hash, prev_hash, problems FROM evidence_manifests WHERE edge = %s AND seq = %s", (edge, seq + 1))
    for row in await cur.fetchall():
        kept = [Problem.from_dict(p) for p in row["problems"] if p["code"] not in _CHAIN_CODES]
        if row["prev_hash"] != digest:
            kept.append(Problem("chain_prev_mismatch", "prev_hash does not match the previous manifest",
                                {"prev_hash": row["prev_hash"], "actual": [digest]}))
        await conn.execute(
            "UPDATE evidence_manifests SET problems = %s, verified = %s, checked_at = now() WHERE hash = %s",
            (_problems_json(kept), not kept, row["hash"]),
        )


async def _load(conn: psycopg.AsyncConnection, digest: str) -> Verdict | None:
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT hash, edge, seq, prev_hash, event_id, verified, problems FROM evidence_manifests WHERE hash = %s",
        (digest,))
    row = await cur.fetchone()
    if row is None:
        return None
    return Verdict(hash=row["hash"], edge=row["edge"], seq=row["seq"], prev_hash=row["prev_hash"],
                   event_id=str(row["event_id"]), verified=row["verified"],
                   problems=[Problem.from_dict(p) for p in row["problems"]])


async def get_verdict(conn: psycopg.AsyncConnection, manifest_hash: str) -> Verdict:
    """The stored verdict of a manifest; `NotFound` if it never arrived."""
    verdict = await _load(conn, manifest_hash)
    if verdict is None:
        raise NotFound(f"no evidence manifest {manifest_hash}")
    return verdict


async def verdict_for_event(conn: psycopg.AsyncConnection, event_id: str) -> Verdict | None:
    """The verdict of the (latest) manifest backing an event, or None when it has none yet."""
    rows = await _fetch(
        conn, "SELECT hash FROM evidence_manifests WHERE event_id = %s ORDER BY received_at DESC LIMIT 1", (event_id,))
    return await _load(conn, rows[0][0]) if rows else None


async def chain_link_for_event(conn: psycopg.AsyncConnection, event_id: str) -> ChainLink:
    """Manifest, signature, key and previous link of an event, for the export ZIP
    (`contract.evidence_verify.build_evidence_zip`); `NotFound` when there is none."""
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT hash, edge, seq, prev_hash, manifest, signature, public_key FROM evidence_manifests"
        " WHERE event_id = %s ORDER BY received_at DESC LIMIT 1", (event_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"event {event_id} has no evidence manifest")
    prev_manifest = prev_signature = None
    if row["prev_hash"] is not None:
        prev = await _fetch(conn, "SELECT manifest, signature FROM evidence_manifests WHERE hash = %s",
                            (row["prev_hash"],))
        if prev:
            prev_manifest, prev_signature = bytes(prev[0][0]), bytes(prev[0][1])
    verdict = await _load(conn, row["hash"])
    if verdict is None:  # deleted between the two reads
        raise NotFound(f"event {event_id} has no evidence manifest")
    return ChainLink(bytes(row["manifest"]), bytes(row["signature"]), row["public_key"],
                     prev_manifest, prev_signature, verdict)


def _problems_json(problems: list[Problem]) -> str:
    return json.dumps([p.to_dict() for p in problems], ensure_ascii=False)
