"""Open a camera or a file and read decoded frames from it, through PyAV (FFmpeg).

One `Capture` is one open connection. It knows three kinds of URL:

- files (a path or ``file://``): optional real-time pacing (frames are released at the
  rate their timestamps say, as a camera would) and looping, for demos and tests;
- ``rtsp://`` / ``rtsps://``: RTSP over TCP (UDP loses packets on busy links, and
  firewalls rarely pass it);
- ``http://`` / ``https://``: MJPEG (multipart/x-mixed-replace) or any stream FFmpeg reads.

PyAV rather than ``cv2.VideoCapture``: per-call FFmpeg options (TCP transport, open and
read timeouts through FFmpeg's interrupt callback) instead of a process-wide environment
variable, and frames that are decoded but converted to BGR only when a consumer takes
them (see `video.frame`). Reconnecting is `video.stream.CameraStream`'s job.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Literal

import av
import av.error

from video.exceptions import SourceEnded, SourceError, SourceOpenError, SourceStalled
from video.frame import Frame

log = logging.getLogger(__name__)

SourceKind = Literal["file", "rtsp", "http"]


def source_kind(url: str) -> SourceKind:
    """Which kind of source a URL names: ``rtsp``, ``http`` or ``file``."""
    lower = url.lower()
    if lower.startswith(("rtsp://", "rtsps://")):
        return "rtsp"
    if lower.startswith(("http://", "https://")):
        return "http"
    return "file"


def file_path(url: str) -> Path:
    """The local path of a file URL (``file:///x.mp4`` or a plain path)."""
    return Path(url[len("file://"):] if url.lower().startswith("file://") else url)


@dataclass(frozen=True)
class CaptureOptions:
    """How to open and read a source.

    Example::

        CaptureOptions(open_timeout_s=5, stall_timeout_s=5, realtime=True, loop=True)
    """

    open_timeout_s: float = 10.0
    stall_timeout_s: float = 5.0  # no frame for this long → SourceStalled
    realtime: bool = True  # files only: release frames at their timestamps' pace
    loop: bool = False  # files only: start again at the end
    speed: float = 1.0  # files only: pacing multiplier (2.0 = twice real time)


class Capture:
    """One open source; iterate `frames()` until it raises `SourceError`.

    Example::

        with Capture("rtsp://10.0.0.5/stream1", CaptureOptions()) as cap:
            for frame in cap.frames():
                detect(frame.image)
    """

    def __init__(self, url: str, options: CaptureOptions | None = None) -> None:
        self.url = url
        self.kind = source_kind(url)
        self.options = options or CaptureOptions()
        self._container = self._open()
        try:
            self._stream = self._container.streams.video[0]
        except IndexError:
            self._container.close()
            raise SourceOpenError(url, "no video stream in the source") from None
        # Frame-level threads make 720p H.264 decode ~2x faster on two cores.
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.nominal_fps: float | None = float(rate) if rate else None
        self.width: int = self._stream.codec_context.width
        self.height: int = self._stream.codec_context.height

    def _open(self) -> av.container.InputContainer:
        opts: dict[str, str] = {}
        if self.kind == "rtsp":
            opts = {"rtsp_transport": "tcp", "max_delay": "500000"}
        elif self.kind == "file":
            path = file_path(self.url)
            if not path.is_file():
                raise SourceOpenError(self.url, f"file not found: {path}")
        target = str(file_path(self.url)) if self.kind == "file" else self.url
        try:
            return av.open(target, options=opts,
                           timeout=(self.options.open_timeout_s, self.options.stall_timeout_s))
        except av.error.ExitError as exc:
            raise SourceOpenError(self.url, f"no answer within {self.options.open_timeout_s:g} s") from exc
        except av.error.FFmpegError as exc:
            raise SourceOpenError(self.url, _describe(exc)) from exc
        except OSError as exc:
            raise SourceOpenError(self.url, str(exc)) from exc

    def frames(self) -> Iterator[Frame]:
        """Decoded frames with capture timestamps; raises `SourceError` when the source fails.

        Files raise `SourceEnded` at their end unless ``loop`` is set.
        """
        index = 0
        pacing = self.kind == "file" and self.options.realtime
        speed = max(self.options.speed, 1e-3)
        base_mono = time.monotonic()
        loop_offset = 0.0  # seconds of media already played in earlier loops
        last_media_s = 0.0
        last_frame_mono = time.monotonic()
        while True:
            got_any = False
            try:
                for packet in self._container.demux(self._stream):
                    for native in packet.decode():
                        got_any = True
                        media_s = float(native.time) if native.time is not None else last_media_s
                        last_media_s = media_s
                        if pacing:
                            due = base_mono + (loop_offset + media_s) / speed
                            delay = due - time.monotonic()
                            if delay > 0:
                                time.sleep(delay)
                        now = time.monotonic()
                        last_frame_mono = now
                        yield Frame.from_av(native, ts=datetime.now(timezone.utc), mono=now, index=index)
                        index += 1
                    if time.monotonic() - last_frame_mono > self.options.stall_timeout_s:
                        raise SourceStalled(self.url, f"packets but no decodable frame for "
                                                      f"{self.options.stall_timeout_s:g} s")
            except av.error.ExitError as exc:
                raise SourceStalled(self.url, f"no data for {self.options.stall_timeout_s:g} s") from exc
            except av.error.EOFError:
                pass  # end of a file or a server that closed the stream: handled below
            except av.error.FFmpegError as exc:
                raise SourceError(self.url, f"read failed: {_describe(exc)}") from exc
            if self.kind != "file":
                raise SourceError(self.url, "stream ended (server closed the connection)")
            if index == 0 and not got_any:
                raise SourceOpenError(self.url, "no decodable frame in the file (corrupt or empty)")
            if not self.options.loop:
                raise SourceEnded(self.url, "end of file")
            frame_s = 1.0 / self.nominal_fps if self.nominal_fps else 0.04
            loop_offset += last_media_s + frame_s
            try:
                self._container.seek(0)
            except av.error.FFmpegError as exc:
                raise SourceError(self.url, f"cannot rewind to loop: {_describe(exc)}") from exc

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        try:
            self._container.close()
        except Exception:  # closing a broken connection can itself fail; nothing to recover
            log.debug("close of %s failed", self.url, exc_info=True)

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def probe(url: str, options: CaptureOptions | None = None) -> tuple[int, int, float | None]:
    """Open a source, decode one frame and close it; returns (width, height, nominal fps).

    Raises `SourceError` with the cause when the source cannot give a frame.
    """
    opts = options or CaptureOptions()
    quick = CaptureOptions(open_timeout_s=opts.open_timeout_s, stall_timeout_s=opts.stall_timeout_s,
                           realtime=False, loop=False)
    with Capture(url, quick) as cap:
        for frame in cap.frames():
            return frame.width, frame.height, cap.nominal_fps
    raise SourceOpenError(url, "no frame")  # pragma: no cover - frames() raises first


def _describe(exc: Exception) -> str:
    # FFmpegError's str() repeats the URL; strerror is the useful part.
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text)
