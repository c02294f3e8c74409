"""The relay's jitter buffer: frames leave at their marker bit, lost packets do not freeze the stream."""

from __future__ import annotations

import pytest
from aiortc.rtp import RtpPacket

from conferencing.forwarding import ForwardingJitterBuffer, is_keyframe


def _packet(seq: int, ts: int, marker: bool, data: bytes) -> RtpPacket:
    packet = RtpPacket(sequence_number=seq, timestamp=ts)
    packet.marker = int(marker)
    packet._data = data  # what aiortc's depayloader would have put there
    return packet


def _feed(kind: str, frames: int, per_frame: int, lost: set[tuple[int, int]] = frozenset(), step: int = 3600):
    gaps: list[int] = []
    buffer = ForwardingJitterBuffer(kind, on_gap=lambda: gaps.append(1))
    out: list[tuple[int, bytes]] = []  # (frame being fed when released, data)
    seq = 1000
    for f in range(frames):
        for k in range(per_frame):
            if (f, k) not in lost:
                _, frame = buffer.add(_packet(seq, f * step, k == per_frame - 1, bytes([f, k])))
                if frame is not None:
                    out.append((f, frame.data))
            seq += 1
    return out, gaps


def test_video_frame_leaves_at_its_marker() -> None:
    out, gaps = _feed("video", 5, 3)
    # Frame f is released while frame f is being fed, not one frame later.
    assert out == [(f, bytes([f, 0, f, 1, f, 2])) for f in range(5)]
    assert gaps == []


def test_audio_packets_leave_at_once() -> None:
    out, _ = _feed("audio", 6, 1, lost={(2, 0)}, step=960)
    assert [f for f, _ in out] == [0, 1, 3, 4, 5]  # the lost packet is skipped, nothing waits


@pytest.mark.parametrize(("lost_frame", "frames", "skipped"), [(3, 20, True), (3, 8, False)])
def test_video_gap_is_skipped_after_a_quarter_second(lost_frame: int, frames: int, skipped: bool) -> None:
    out, gaps = _feed("video", frames, 3, lost={(lost_frame, 1)})
    released = {data[0] for _, data in out}
    assert lost_frame not in released  # an incomplete frame is never forwarded
    assert set(range(lost_frame)) <= released
    assert bool(gaps) is skipped
    if skipped:
        assert frames - 1 in released  # the stream goes on after the gap
    else:
        assert released == set(range(lost_frame))  # still waiting for the retransmission


@pytest.mark.parametrize(
    ("codec", "data", "key"),
    [
        ("vp8", bytes([0x50, 0x2C, 0x00, 0x9D, 0x01, 0x2A, 0, 0, 0, 0]), True),
        ("vp8", bytes([0x51, 0x2C, 0x00, 0x9D, 0x01, 0x2A, 0, 0, 0, 0]), False),
        ("vp8", bytes([0x50, 0x2C, 0x00, 0x11, 0x22, 0x33]), False),  # tag says key, no start code
        ("h264", b"\x00\x00\x00\x01\x67abc\x00\x00\x00\x01\x68d\x00\x00\x01\x65xyz", True),
        ("h264", b"\x00\x00\x00\x01\x41xyz", False),
        ("vp8", b"", False),
    ],
)
def test_keyframe_detection(codec: str, data: bytes, key: bool) -> None:
    assert is_keyframe(codec, data) is key
