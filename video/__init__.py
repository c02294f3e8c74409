"""Pixels in motion: sources with reconnect and watchdog, frame ring buffer, clip writer, snapshots, previews.

``video`` knows nothing about rules, events or the database: the edge worker wires it to
``analytics`` and turns stream status changes into ``camera.*`` events.
"""

from video.clip import choose_encoder, write_clip
from video.exceptions import (ClipError, SnapshotError, SourceEnded, SourceError, SourceOpenError,
                              SourceStalled, VideoError)
from video.frame import Frame
from video.frozen import FrozenChange, FrozenPicture
from video.mjpeg import MjpegServer
from video.ring import FrameRing, RingFrame
from video.slot import LatestSlot
from video.snapshot import decode_jpeg, encode_jpeg
from video.sources import Capture, CaptureOptions, probe, source_kind
from video.stream import CameraStream, StatusChange, StreamOptions

__all__ = [
    "CameraStream", "Capture", "CaptureOptions", "ClipError", "Frame", "FrameRing", "FrozenChange", "FrozenPicture", "LatestSlot",
    "MjpegServer", "RingFrame", "SnapshotError", "SourceEnded", "SourceError", "SourceOpenError",
    "SourceStalled", "StatusChange", "StreamOptions", "VideoError", "choose_encoder", "decode_jpeg",
    "encode_jpeg", "probe", "source_kind", "write_clip",
]
