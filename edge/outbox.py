"""The durable outbox: events and their evidence files, stored before anything is acknowledged.

SQLite in WAL mode with ``synchronous=FULL``: a pipeline counts an event as emitted only
after `Outbox.add_event` has committed it, so a crash or power cut after that loses
nothing. Delivered events are removed and their ids kept in ``delivered`` (pruned by age),
so a restarted worker resends nothing the hub acknowledged. The per-edge sequence number
is assigned in the same transaction, so it stays monotonic across restarts.

Evidence files are stored as blobs next to the events that name them: one transaction
writes an event and its files, so the hub never receives an event whose evidence the
edge has lost.

An event the hub could never store (a NUL character, a lone surrogate, NaN, nesting
deeper than the hub accepts) is refused at `add_event`, before it is numbered. An event
the hub rejects anyway is parked (`state='rejected'`, a dead letter: kept, counted by
`rejected_count` for the heartbeat, never resent unless `requeue_rejected`), so nothing
behind it waits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from pydantic import ValidationError

from edge.exceptions import OutboxError
from contract import Event, EvidenceRef, Severity, new_event_id
from contract.storable import MAX_PAYLOAD_DEPTH, text_problem, value_problem

log = logging.getLogger(__name__)

EVIDENCE_GRACE_S = 600.0


def unstorable(value: Any, *, max_depth: int = MAX_PAYLOAD_DEPTH) -> str | None:
    """Why the hub could not store this payload, or None (`contract.storable.value_problem`).
    Checked at enqueue, so such an event never enters the outbox (where it would reach the
    hub only to be refused).

    Example::

        unstorable({"plate": "59\\x00X1"})   # "payload.plate: contains a NUL character ..."
    """
    return value_problem(value, max_depth=max_depth)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq      INTEGER PRIMARY KEY,            -- the event's per-edge sequence number
    id       TEXT NOT NULL UNIQUE,
    camera   TEXT NOT NULL,
    created  REAL NOT NULL,                  -- unix time it entered the outbox (live vs backlog)
    body     TEXT NOT NULL,                  -- the wire JSON
    state    TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'rejected')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error    TEXT
);
CREATE INDEX IF NOT EXISTS events_pending ON events (state, created);
CREATE INDEX IF NOT EXISTS events_state_seq ON events (state, seq);
CREATE TABLE IF NOT EXISTS evidence (
    sha256   TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,
    mime     TEXT NOT NULL,
    size     INTEGER NOT NULL,
    data     BLOB NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0,
    created  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS event_evidence (
    seq    INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (seq, sha256)
);
CREATE TABLE IF NOT EXISTS delivered (
    id     TEXT PRIMARY KEY,
    seq    INTEGER NOT NULL,
    camera TEXT NOT NULL,
    at     REAL NOT NULL
);
"""


@dataclass(frozen=True)
class EvidenceFile:
    """An evidence file to store with an event: bytes, media type and kind (overview, clip...)."""

    data: bytes
    mime: str
    kind: str

    @property
    def sha256(self) -> str:
        """Lower-case hex SHA-256 of the bytes."""
        return hashlib.sha256(self.data).hexdigest()

    def ref(self) -> EvidenceRef:
        """The reference an event carries for this file."""
        return EvidenceRef(sha256=self.sha256, kind=self.kind, mime=self.mime)


@dataclass
class Batch:
    """Pending events to post (live ones first) and the evidence they need uploaded."""

    events: list[dict[str, Any]] = field(default_factory=list)
    live: int = 0  # how many of `events` (at the front) are live
    evidence: list[tuple[str, str]] = field(default_factory=list)  # (sha256, mime) not yet uploaded


class Outbox:
    """Durable store-and-forward queue of one edge.

    Example::

        outbox = Outbox(Path("/var/lib/ioc-edge/outbox.sqlite"), edge_id="edge-01")
        ref = outbox.add_evidence(jpeg, mime="image/jpeg", kind="overview")
        event = outbox.add_event(camera="cam-01", unit="26734", type="security.intrusion",
                                 ts=now, payload={"track": 3}, evidence=[ref])
        batch = outbox.next_batch(limit=100)   # the delivery loop
        outbox.mark_delivered([event.id])
    """

    def __init__(self, path: Path, edge_id: str, delivered_keep_s: float = 7 * 86400) -> None:
        self.path = Path(path)
        self.edge_id = edge_id
        self.delivered_keep_s = delivered_keep_s
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: the commit is on disk when add_event returns ("written before acknowledging").
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='edge_id'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('edge_id', ?)", (edge_id,))
            elif row[0] != edge_id:
                raise OutboxError(f"{self.path} belongs to edge {row[0]!r}, not {edge_id!r}: "
                                  "use another data directory or the right edge id")
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {self.path}: {exc}") from exc

    # -- writing ---------------------------------------------------------------------

    def add_evidence(self, data: bytes, mime: str, kind: str) -> EvidenceRef:
        """Store an evidence file (idempotent by content) and return its reference."""
        item = EvidenceFile(bytes(data), mime, kind)
        ref = item.ref()  # validates kind and mime
        with self._tx() as db:
            self._insert_evidence(db, item)
        return ref

    def add_event(self, *, camera: str, unit: str, type: str, ts: datetime, severity: Severity = "info",
                  payload: dict[str, Any] | None = None, evidence: Sequence[EvidenceRef] = (),
                  files: Sequence[EvidenceFile] = (), id: Any = None) -> Event:
        """Validate, number and store one event (and ``files``) in one transaction.

        Evidence named in ``evidence`` must have been stored with `add_evidence` first.
        Raises `OutboxError` (nothing stored) when the event is invalid or the disk fails.
        """
        refs = list(evidence) + [f.ref() for f in files]
        problem = unstorable(payload or {})
        for ref in refs:
            problem = problem or text_problem(ref.kind) or text_problem(ref.mime)
        if problem:
            # Refused before it is numbered: a poison event must never sit in the queue.
            raise OutboxError(f"invalid event {type!r} from {camera!r}: {problem}; nothing stored")
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
            seq = (int(row[0]) if row else 0) + 1
            try:
                event = Event(id=id or new_event_id(), edge=self.edge_id, seq=seq, camera=camera, unit=unit,
                              type=type, severity=severity, ts=ts, payload=payload or {}, evidence=refs)
            except ValidationError as exc:
                raise OutboxError(f"invalid event {type!r} from {camera!r}: {exc}") from exc
            for item in files:
                self._insert_evidence(db, item)
            for ref in refs:
                if db.execute("SELECT 1 FROM evidence WHERE sha256=?", (ref.sha256,)).fetchone() is None:
                    raise OutboxError(f"event names evidence {ref.sha256} that is not in the outbox")
                db.execute("INSERT OR IGNORE INTO event_evidence VALUES (?, ?)", (seq, ref.sha256))
            body = json.dumps(event.to_json_dict(), separators=(",", ":"), ensure_ascii=False)
            db.execute("INSERT INTO events (seq, id, camera, created, body) VALUES (?, ?, ?, ?, ?)",
                       (seq, str(event.id), camera, time.time(), body))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (str(seq),))
        return event

    # -- delivery side ---------------------------------------------------------------

    def next_batch(self, limit: int = 200, live_window_s: float = 10.0) -> Batch:
        """Up to ``limit`` pending events: those younger than ``live_window_s`` first (oldest
        of them first), then the backlog oldest first; plus evidence still to upload."""
        cutoff = time.time() - live_window_s
        with self._lock:
            try:
                live = self._db.execute("SELECT seq, body FROM events WHERE state='pending' AND created >= ? "
                                        "ORDER BY seq LIMIT ?", (cutoff, limit)).fetchall()
                backlog = self._db.execute("SELECT seq, body FROM events WHERE state='pending' AND created < ? "
                                           "ORDER BY seq LIMIT ?", (cutoff, limit - len(live))).fetchall()
                rows = live + backlog
                seqs = [r[0] for r in rows]
                evidence: list[tuple[str, str]] = []
                for chunk in _chunks(seqs, 500):
                    marks = ",".join("?" * len(chunk))
                    evidence += self._db.execute(
                        f"SELECT DISTINCT e.sha256, e.mime FROM event_evidence ee JOIN evidence e "
                        f"ON e.sha256 = ee.sha256 WHERE ee.seq IN ({marks}) AND e.uploaded = 0", chunk).fetchall()
            except sqlite3.Error as exc:
                raise OutboxError(f"cannot read outbox {self.path}: {exc}") from exc
        return Batch(events=[json.loads(r[1]) for r in rows], live=len(live),
                     evidence=list(dict.fromkeys((str(s), str(m)) for s, m in evidence)))

    def evidence_data(self, sha256: str) -> bytes:
        """The stored bytes of an evidence file."""
        with self._lock:
            row = self._db.execute("SELECT data FROM evidence WHERE sha256=?", (sha256,)).fetchone()
        if row is None:
            raise OutboxError(f"evidence {sha256} is not in the outbox")
        return bytes(row[0])

    def mark_evidence_uploaded(self, sha256: str) -> None:
        """Record that the hub has the file."""
        with self._tx() as db:
            db.execute("UPDATE evidence SET uploaded=1 WHERE sha256=?", (sha256,))

    def mark_delivered(self, ids: Iterable[str]) -> int:
        """Remove acknowledged events (accepted or duplicate at the hub); returns how many."""
        ids = [str(i) for i in ids]
        now = time.time()
        done = 0
        with self._tx() as db:
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                rows = db.execute(f"SELECT seq, id, camera FROM events WHERE id IN ({marks})", chunk).fetchall()
                db.executemany("INSERT OR IGNORE INTO delivered VALUES (?, ?, ?, ?)",
                               [(i, s, c, now) for s, i, c in rows])
                seqs = [r[0] for r in rows]
                if seqs:
                    smarks = ",".join("?" * len(seqs))
                    db.execute(f"DELETE FROM events WHERE seq IN ({smarks})", seqs)
                    db.execute(f"DELETE FROM event_evidence WHERE seq IN ({smarks})", seqs)
                done += len(rows)
            # Files no pending event names are the hub's now (or were abandoned); the grace
            # period keeps one just stored by add_evidence for an event not yet added.
            db.execute("DELETE FROM evidence WHERE created < ? AND sha256 NOT IN (SELECT sha256 FROM event_evidence)",
                       (now - EVIDENCE_GRACE_S,))
            db.execute("DELETE FROM delivered WHERE at < ?", (now - self.delivered_keep_s,))
        return done

    def mark_rejected(self, event_id: str, reason: str) -> None:
        """Park an event the hub refused as invalid: kept for inspection, never resent."""
        with self._tx() as db:
            db.execute("UPDATE events SET state='rejected', error=? WHERE id=?", (reason[:2000], str(event_id)))

    def requeue_rejected(self, ids: Iterable[str] | None = None) -> int:
        """Put parked events back in the queue (all of them, or these ids), e.g. after the
        hub was fixed; returns how many."""
        with self._tx() as db:
            if ids is None:
                return db.execute("UPDATE events SET state='pending', error=NULL WHERE state='rejected'").rowcount
            done = 0
            for chunk in _chunks([str(i) for i in ids], 500):
                marks = ",".join("?" * len(chunk))
                done += db.execute(f"UPDATE events SET state='pending', error=NULL WHERE state='rejected' "
                                   f"AND id IN ({marks})", chunk).rowcount
            return done

    def note_attempt(self, ids: Iterable[str], error: str) -> None:
        """Count a failed delivery attempt for these events."""
        ids = [str(i) for i in ids]
        with self._tx() as db:
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                db.execute(f"UPDATE events SET attempts=attempts+1, error=? WHERE id IN ({marks})",
                           [error[:2000], *chunk])

    # -- inspection ------------------------------------------------------------------

    def depth(self) -> int:
        """Events waiting for delivery."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events WHERE state='pending'").fetchone()[0])

    def rejected_count(self) -> int:
        """Events the hub refused, parked (dead-lettered) in the outbox: the heartbeat shows it."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events WHERE state='rejected'").fetchone()[0])

    def rejected(self) -> list[tuple[str, str]]:
        """(id, reason) of events the hub refused."""
        with self._lock:
            return [(r[0], r[1]) for r in self._db.execute("SELECT id, error FROM events WHERE state='rejected'")]

    def delivered_ids(self) -> list[str]:
        """Ids of delivered events still in the log, in sequence order."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM delivered ORDER BY seq")]

    def last_seq(self) -> int:
        """The highest sequence number assigned so far (0 when none)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
        return int(row[0]) if row else 0

    def wait_for_change(self, timeout: float) -> None:
        """Block until an event is added or ``timeout`` passes (the delivery loop's idle wait)."""
        with self._changed:
            self._changed.wait(timeout)

    def close(self) -> None:
        """Close the database (a WAL checkpoint happens on close)."""
        with self._lock:
            self._changed.notify_all()
            self._db.close()

    # -- internals -------------------------------------------------------------------

    class _Tx:
        def __init__(self, outbox: "Outbox") -> None:
            self.outbox = outbox

        def __enter__(self) -> sqlite3.Connection:
            self.outbox._lock.acquire()
            try:
                self.outbox._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self.outbox._lock.release()
                raise OutboxError(f"cannot write outbox {self.outbox.path}: {exc}") from exc
            return self.outbox._db

        def __exit__(self, exc_type: type | None, exc: BaseException | None, _tb: object) -> None:
            db = self.outbox._db
            try:
                if exc_type is None:
                    db.execute("COMMIT")
                    self.outbox._changed.notify_all()
                else:
                    db.execute("ROLLBACK")
            except sqlite3.Error as err:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise OutboxError(f"cannot commit to outbox {self.outbox.path}: {err}") from err
            finally:
                self.outbox._lock.release()
            if isinstance(exc, sqlite3.Error):
                raise OutboxError(f"outbox {self.outbox.path}: {exc}") from exc

    def _tx(self) -> "Outbox._Tx":
        return Outbox._Tx(self)

    @staticmethod
    def _insert_evidence(db: sqlite3.Connection, item: EvidenceFile) -> None:
        if not item.data:
            raise OutboxError(f"empty evidence file ({item.kind})")
        db.execute("INSERT INTO evidence (sha256, kind, mime, size, data, created) VALUES (?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (sha256) DO UPDATE SET created = excluded.created",
                   (item.sha256, item.kind, item.mime, len(item.data), item.data, time.time()))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
