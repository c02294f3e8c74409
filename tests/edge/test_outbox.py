"""The outbox: durable, numbered, all-or-nothing, safe to use from many threads."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from edge.exceptions import OutboxError
from edge.outbox import EvidenceFile, Outbox

NOW = datetime.now(timezone.utc)


def _add(outbox: Outbox, camera: str = "cam-1", **kw: object) -> object:
    return outbox.add_event(camera=camera, unit="u1", type="security.intrusion", ts=NOW, **kw)  # type: ignore[arg-type]


def test_events_survive_reopen_and_seq_keeps_growing(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    outbox = Outbox(path, "edge-1")
    first = [_add(outbox) for _ in range(3)]
    outbox.mark_delivered([str(first[0].id)])  # type: ignore[attr-defined]
    outbox.close()
    again = Outbox(path, "edge-1")
    assert again.depth() == 2
    assert _add(again).seq == 4  # type: ignore[attr-defined]
    assert again.delivered_ids() == [str(first[0].id)]  # type: ignore[attr-defined]
    assert [e["seq"] for e in again.next_batch().events] == [2, 3, 4]
    again.close()


def _crash_after_commit(path: str) -> None:
    outbox = Outbox(Path(path), "edge-1")
    outbox.add_event(camera="cam-1", unit="u1", type="camera.online", ts=datetime.now(timezone.utc))
    os._exit(0)  # no close, no checkpoint: as if the power went


def test_a_committed_event_survives_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    proc = multiprocessing.get_context("fork").Process(target=_crash_after_commit, args=(str(path),))
    proc.start()
    proc.join(20)
    outbox = Outbox(path, "edge-1")
    assert outbox.depth() == 1 and outbox.last_seq() == 1
    outbox.close()


@pytest.mark.parametrize(("fields", "words"), [
    ({"camera": "cam 1"}, "camera"),
    ({"type": "not-dotted"}, "type"),
    ({"severity": "apocalyptic"}, "severity"),
    ({"ts": datetime(2026, 1, 1)}, "time zone"),
])
def test_invalid_events_store_nothing(tmp_path: Path, fields: dict, words: str) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", "edge-1")
    args = {"camera": "cam-1", "unit": "u1", "type": "security.intrusion", "ts": NOW, "severity": "info"} | fields
    with pytest.raises(OutboxError, match=words):
        outbox.add_event(files=[EvidenceFile(b"jpeg", "image/jpeg", "overview")], **args)
    assert outbox.depth() == 0 and outbox.last_seq() == 0
    assert outbox._db.execute("SELECT COUNT(*) FROM evidence").fetchone()[0] == 0  # the file was rolled back too
    outbox.close()


def test_evidence_is_content_addressed_and_checked(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", "edge-1")
    ref = outbox.add_evidence(b"same bytes", "image/jpeg", "overview")
    assert ref.sha256 == hashlib.sha256(b"same bytes").hexdigest()
    a = _add(outbox, evidence=[ref])
    b = _add(outbox, files=[EvidenceFile(b"same bytes", "image/jpeg", "overview")])
    assert a.evidence == b.evidence  # type: ignore[attr-defined]
    batch = outbox.next_batch()
    assert batch.evidence == [(ref.sha256, "image/jpeg")]  # one upload for both events
    assert outbox.evidence_data(ref.sha256) == b"same bytes"
    with pytest.raises(OutboxError, match="not in the outbox"):
        outbox.add_event(camera="cam-1", unit="u1", type="security.intrusion", ts=NOW,
                         evidence=[EvidenceFile(b"never stored", "image/jpeg", "overview").ref()])
    with pytest.raises(OutboxError, match="empty evidence"):
        outbox.add_evidence(b"", "image/jpeg", "overview")
    outbox.close()


def test_an_outbox_belongs_to_one_edge(tmp_path: Path) -> None:
    Outbox(tmp_path / "o.sqlite", "edge-1").close()
    with pytest.raises(OutboxError, match="belongs to edge 'edge-1'"):
        Outbox(tmp_path / "o.sqlite", "edge-2")


def test_rejected_events_are_parked_not_resent(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", "edge-1")
    bad, good = _add(outbox), _add(outbox)
    outbox.mark_rejected(str(bad.id), "unknown camera")  # type: ignore[attr-defined]
    assert [e["id"] for e in outbox.next_batch().events] == [str(good.id)]  # type: ignore[attr-defined]
    assert outbox.rejected() == [(str(bad.id), "unknown camera")]  # type: ignore[attr-defined]
    outbox.close()


def test_many_threads_get_unique_gapless_sequence_numbers(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", "edge-1")
    seqs: list[int] = []
    lock = threading.Lock()

    def work(camera: str) -> None:
        for _ in range(25):
            event = _add(outbox, camera=camera)
            with lock:
                seqs.append(event.seq)  # type: ignore[attr-defined]

    threads = [threading.Thread(target=work, args=(f"cam-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seqs) == list(range(1, 101))
    per_camera = {}
    for event in outbox.next_batch(limit=1000).events:
        per_camera.setdefault(event["camera"], []).append(event["seq"])
    assert all(s == sorted(s) for s in per_camera.values())
    outbox.close()


# Issue 8 defect 4: an event the hub could never store is refused at enqueue, with a
# clear reason, before it is numbered; nothing is stored.
POISON_PAYLOADS = [
    ({"plate": "59\x00X1"}, "NUL"),
    ({"pl\x00ate": "59X1"}, "NUL"),
    ({"a": [{"b": ["ok", "\x00"]}]}, "payload.a[0].b[1]"),
    ({"speed": float("nan")}, "not a finite number"),
    ({"speed": float("inf")}, "not a finite number"),
    ({"speed": float("-inf")}, "not a finite number"),
    ({"plate": "\ud800"}, "surrogate"),
    ({"\udfff": 1}, "surrogate"),
]


def _deep(levels: int) -> dict:
    value: dict = {"x": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(("payload", "words"), POISON_PAYLOADS + [(_deep(500), "nested deeper than 32")],
                         ids=[w for _, w in POISON_PAYLOADS] + ["nesting 500"])
def test_a_poison_payload_is_refused_at_enqueue(tmp_path: Path, payload: dict, words: str) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", "edge-1")
    good = _add(outbox)
    with pytest.raises(OutboxError, match="nothing stored") as caught:
        _add(outbox, payload=payload, files=[EvidenceFile(b"jpeg", "image/jpeg", "overview")])
    assert words in str(caught.value)
    assert outbox.depth() == 1 and outbox.last_seq() == 1  # no number used, nothing queued
    assert [e["id"] for e in outbox.next_batch().events] == [str(good.id)]  # type: ignore[attr-defined]
    assert _add(outbox).seq == 2  # type: ignore[attr-defined]
    outbox.close()


@pytest.mark.parametrize("field", ["kind", "mime"])
def test_a_nul_in_an_evidence_reference_is_refused_at_enqueue(tmp_path: Path, field: str) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", "edge-1")
    kw = {"kind": "overview", "mime": "image/jpeg"} | {field: "ima\x00ge/jpeg" if field == "mime" else "over\x00view"}
    with pytest.raises(OutboxError, match="NUL"):
        _add(outbox, files=[EvidenceFile(b"jpeg", kw["mime"], kw["kind"])])
    assert outbox.depth() == 0 and outbox._db.execute("SELECT COUNT(*) FROM evidence").fetchone()[0] == 0
    outbox.close()


def test_a_payload_at_the_depth_limit_and_unicode_are_fine(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", "edge-1")
    event = _add(outbox, payload={"deep": _deep(31), "place": "Ngã tư 🚗", "speed": 97.3})
    assert outbox.next_batch().events[0]["id"] == str(event.id)  # type: ignore[attr-defined]
    outbox.close()


def test_dead_letters_are_counted_and_can_be_requeued(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", "edge-1")
    bad, good = _add(outbox), _add(outbox)
    outbox.mark_rejected(str(bad.id), "the hub refused it")  # type: ignore[attr-defined]
    assert outbox.rejected_count() == 1 and outbox.depth() == 1
    assert outbox.requeue_rejected([str(bad.id)]) == 1  # type: ignore[attr-defined]
    assert outbox.rejected_count() == 0
    assert [e["id"] for e in outbox.next_batch().events] == [str(bad.id), str(good.id)]  # type: ignore[attr-defined]
    outbox.close()
