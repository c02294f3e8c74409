"""This edge's manifest chain on disk: append-only, signed, each manifest naming the previous hash."""

from __future__ import annotations

import base64
import fcntl
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge.evidence.exceptions import ChainError
from edge.evidence.keys import EdgeSigningKey
from contract.evidence_verify import Manifest, ManifestFormatError, Report, sha256_hex, verify_chain

_NAME_RE = re.compile(r"^(\d{12})\.json$")


@dataclass(frozen=True)
class SignedManifest:
    """A manifest as signed: the parsed model, its exact bytes, hash and signature."""

    manifest: Manifest
    data: bytes
    signature: bytes

    @property
    def hash(self) -> str:
        return sha256_hex(self.data)

    @property
    def signature_b64(self) -> str:
        return base64.b64encode(self.signature).decode()


def utc_iso(ts: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a Z, the manifest's time format."""
    if ts.tzinfo is None:
        raise ValueError("timestamps in evidence must carry a time zone")
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ManifestChain:
    """Append-only chain of signed manifests kept under `data_dir/evidence/manifests/`.

    Each manifest is two files, `<seq>.sig` then `<seq>.json`, each written to a temporary
    name, fsynced and renamed, so a crash leaves either a whole link or none; the head is
    the highest `<seq>.json`. An flock on `chain.lock` keeps two processes from appending
    the same sequence number.

    Example::

        chain = ManifestChain(data_dir, EdgeSigningKey.load_or_create(data_dir), "edge-01")
        signed = chain.append({"event_id": ..., "seq": 7, "camera": "cam-01", ...})
        signed.manifest.prev_hash  # hash of the manifest appended before it
    """

    def __init__(self, data_dir: Path, key: EdgeSigningKey, edge_id: str) -> None:
        self.dir = Path(data_dir) / "evidence" / "manifests"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = key
        self.edge_id = edge_id
        self._lock = threading.Lock()

    def _seqs(self) -> list[int]:
        return sorted(int(m.group(1)) for m in map(_NAME_RE.match, os.listdir(self.dir)) if m)

    def _path(self, seq: int, suffix: str) -> Path:
        return self.dir / f"{seq:012d}{suffix}"

    def head(self) -> tuple[int, str | None]:
        """(last manifest_seq, its hash); (0, None) for an empty chain."""
        seqs = self._seqs()
        if not seqs:
            return 0, None
        data = self._path(seqs[-1], ".json").read_bytes()
        return seqs[-1], sha256_hex(data)

    def get(self, seq: int) -> SignedManifest:
        """The stored manifest number `seq`; `ChainError` if absent or damaged."""
        try:
            data = self._path(seq, ".json").read_bytes()
            sig = self._path(seq, ".sig").read_bytes()
            return SignedManifest(Manifest.parse(data), data, sig)
        except FileNotFoundError as exc:
            raise ChainError(f"manifest {seq} is not in the local chain") from exc
        except ManifestFormatError as exc:
            raise ChainError(f"manifest {seq} on disk is damaged: {exc}") from exc

    def append(self, fields: dict[str, Any]) -> SignedManifest:
        """Sign and store the next manifest; `fields` are the manifest fields other than
        edge, manifest_seq, prev_hash, key_id and created_at, which the chain fills in."""
        reserved = {"edge", "manifest_seq", "prev_hash", "key_id", "created_at"} & fields.keys()
        if reserved:
            raise ValueError(f"the chain sets {sorted(reserved)} itself")
        with self._lock, open(self.dir / "chain.lock", "a") as lock_fh:
            fcntl.flock(lock_fh, fcntl.LOCK_EX)
            seq, prev_hash = self.head()
            manifest = Manifest(
                **fields,
                edge=self.edge_id,
                manifest_seq=seq + 1,
                prev_hash=prev_hash,
                key_id=self.key.key_id,
                created_at=utc_iso(datetime.now(timezone.utc)),
            )
            data = manifest.to_bytes()
            signed = SignedManifest(manifest, data, self.key.sign(data))
            # Signature first: a .json is the commit point and always has its .sig.
            try:
                self._write_atomic(self._path(seq + 1, ".sig"), signed.signature)
                self._write_atomic(self._path(seq + 1, ".json"), data)
            except OSError as exc:  # disk full, read-only: this link was not made; the next try reuses seq
                raise ChainError(f"cannot store manifest {seq + 1}: {exc}") from exc
            return signed

    def _write_atomic(self, path: Path, data: bytes) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def verify(self) -> Report:
        """Check the whole local chain (signatures, links, no gaps) with the shared verifier."""
        seqs = self._seqs()
        report = verify_chain([(self._path(s, ".json").read_bytes(), self._path(s, ".sig").read_bytes())
                               for s in seqs], self.key.public_key)
        if seqs and seqs[0] != 1:
            report.add("chain_gap", "the local chain does not start at manifest 1", first=seqs[0])
        return report
