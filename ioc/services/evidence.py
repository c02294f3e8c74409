"""Evidence files, content-addressed by SHA-256 under `IOC_DATA_DIR/evidence/ab/cd/<sha256>`.

An upload is streamed to a temporary file while it is hashed; only when the hash matches
the name is it moved into place (mismatch: nothing kept). Arrival completes the events
that were waiting for it.

Example::

    info = await store(conn, data_dir, sha, "image/jpeg", chunks, max_bytes=64 << 20, uploaded_by="edge-1")
    path, mime = await open_for(conn, data_dir, sha, scope="01")
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import AsyncIterator

from psycopg import AsyncConnection
from pydantic import BaseModel

from ioc.exceptions import EvidenceHashMismatch, InvalidInput, NotFound, TooLarge
from ioc.services.events import INGEST_LOCK

SHA256 = re.compile(r"^[0-9a-f]{64}$")
MIME = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")
# The only media types stored and served as themselves: what an edge produces (JPEG/PNG
# pictures, MP4 clips, JSON manifests) and what an export holds (PDF, ZIP). Nothing a
# browser would run (HTML, SVG, XML, JavaScript) is accepted, whoever uploads it.
ALLOWED_MIME = frozenset({
    "image/jpeg", "image/png", "image/webp", "video/mp4", "application/pdf", "application/json", "application/zip",
})
# Shown in the page (an <img> or <video> of the review desk); every other type downloads.
INLINE_MIME = frozenset(m for m in ALLOWED_MIME if m.startswith(("image/", "video/")))
# Even a file opened directly in a tab can run nothing and load nothing.
EVIDENCE_CSP = "default-src 'none'; sandbox"
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "video/mp4": ".mp4",
               "application/pdf": ".pdf", "application/json": ".json", "application/zip": ".zip"}


class EvidenceInfo(BaseModel):
    """A stored evidence file."""

    sha256: str
    size: int
    mime: str
    created: bool
    completed_events: list[str] = []


def path_for(data_dir: Path, sha256: str) -> Path:
    """Where a file with this hash lives."""
    if not SHA256.match(sha256):
        raise InvalidInput("sha256 must be 64 lower-case hex characters")
    return data_dir / "evidence" / sha256[:2] / sha256[2:4] / sha256


async def store(
    conn: AsyncConnection,
    data_dir: Path,
    sha256: str,
    mime: str,
    chunks: AsyncIterator[bytes],
    *,
    max_bytes: int,
    uploaded_by: str,
) -> EvidenceInfo:
    """Hash-check and store one upload; idempotent for a file the hub already has."""
    target = path_for(data_dir, sha256)
    mime = mime.split(";")[0].strip().lower()
    if not MIME.match(mime):
        raise InvalidInput(f"Content-Type must be a media type such as image/jpeg (got {mime!r})")
    if mime not in ALLOWED_MIME:
        raise InvalidInput(f"{mime} is not an allowed evidence type (allowed: {', '.join(sorted(ALLOWED_MIME))})")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"evidence file exceeds {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != sha256:
            raise EvidenceHashMismatch(f"content hashes to {actual}, not {sha256}; nothing stored")
        if size == 0:
            raise InvalidInput("evidence file is empty")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    async with conn.transaction():
        # Under the ingest lock: an event committed at the same moment either sees this
        # file as present or is completed here, never neither.
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (INGEST_LOCK,))
        cur = await conn.execute(
            "INSERT INTO evidence_files (sha256, size, mime, path, verified, uploaded_by)"
            " VALUES (%s, %s, %s, %s, true, %s) ON CONFLICT (sha256) DO NOTHING RETURNING sha256",
            (sha256, size, mime, str(target.relative_to(data_dir)), uploaded_by),
        )
        created = await cur.fetchone() is not None
        # Every edge that proved it holds these bytes may name the file in its events
        # (050_evidence_uploads.sql); the first uploader stays `uploaded_by`.
        await conn.execute(
            "INSERT INTO evidence_uploads (sha256, edge) VALUES (%s, %s) ON CONFLICT DO NOTHING", (sha256, uploaded_by)
        )
        completed = await _complete_events(conn, sha256) if created else []
    return EvidenceInfo(sha256=sha256, size=size, mime=mime, created=created, completed_events=completed)


async def _complete_events(conn: AsyncConnection, sha256: str) -> list[str]:
    cur = await conn.execute(
        "UPDATE events e SET complete = true FROM event_evidence x"
        " WHERE x.sha256 = %(sha)s AND e.id = x.event_id AND e.ts = x.event_ts AND NOT e.complete"
        "   AND NOT EXISTS (SELECT 1 FROM event_evidence y WHERE y.event_id = e.id"
        "                   AND NOT EXISTS (SELECT 1 FROM evidence_files f WHERE f.sha256 = y.sha256))"
        " RETURNING e.id",
        {"sha": sha256},
    )
    return [str(row["id"]) for row in await cur.fetchall()]


async def open_for(conn: AsyncConnection, data_dir: Path, sha256: str, scope: str) -> tuple[Path, str, int]:
    """(path, mime, size) of a file named by an event inside `scope`; NotFound otherwise,
    so a user cannot learn that evidence outside their units exists."""
    path_for(data_dir, sha256)
    cur = await conn.execute(
        "SELECT f.path, f.mime, f.size FROM evidence_files f WHERE f.sha256 = %(sha)s AND EXISTS ("
        " SELECT 1 FROM event_evidence x JOIN units u ON u.code = x.unit"
        " WHERE x.sha256 = %(sha)s AND %(scope)s = ANY(u.ancestors))",
        {"sha": sha256, "scope": scope},
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"evidence {sha256} not found")
    path = data_dir / row["path"]
    if not path.is_file():
        raise NotFound(f"evidence {sha256} is recorded but its file is missing")
    return path, row["mime"], row["size"]


def serving(sha256: str, mime: str) -> tuple[str, dict[str, str]]:
    """(media type, headers) to serve a stored file with: its type only when allow-listed
    (a file stored before the list existed goes out as an inert download), `nosniff`, a
    sandbox CSP, and `attachment` for anything that is not a picture or a video."""
    media = mime if mime in ALLOWED_MIME else "application/octet-stream"
    name = f"{sha256}{_EXTENSIONS.get(media, '.bin')}"
    disposition = "inline" if media in INLINE_MIME else "attachment"
    return media, {
        "Cache-Control": "private, max-age=3600",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": EVIDENCE_CSP,
        "Content-Disposition": f'{disposition}; filename="{name}"',
    }


async def lock_for_delete(conn: AsyncConnection, sha256: str, scope: str) -> str:
    """Lock one evidence file for deletion by someone whose units are `scope`; its
    storage path. NotFound, exactly as for a file that does not exist, unless every event
    that names it lies in `scope` and something ties it there: an event in `scope` names
    it, or (named by none) an edge of `scope` uploaded it. Call inside a transaction."""
    path_for(Path("."), sha256)
    cur = await conn.execute(
        "SELECT f.path,"
        " EXISTS (SELECT 1 FROM event_evidence x JOIN units u ON u.code = x.unit"
        "         WHERE x.sha256 = f.sha256 AND %(scope)s = ANY(u.ancestors)) AS named_inside,"
        " EXISTS (SELECT 1 FROM event_evidence x JOIN units u ON u.code = x.unit"
        "         WHERE x.sha256 = f.sha256 AND NOT %(scope)s = ANY(u.ancestors)) AS named_outside,"
        " EXISTS (SELECT 1 FROM edges e JOIN units u ON u.code = e.unit"
        "         WHERE e.id = f.uploaded_by AND %(scope)s = ANY(u.ancestors)) AS uploaded_inside"
        " FROM evidence_files f WHERE f.sha256 = %(sha)s FOR UPDATE OF f",
        {"sha": sha256, "scope": scope},
    )
    row = await cur.fetchone()
    if row is None or row["named_outside"] or not (row["named_inside"] or row["uploaded_inside"]):
        raise NotFound(f"evidence {sha256} not found")
    return str(row["path"])
