"""A camera kept open by a capture thread with a watchdog and capped exponential backoff.

The thread reads frames as fast as the source gives them and hands each one to every
consumer's latest-frame slot (never a queue) and to synchronous sinks such as the ring
buffer. When the source fails or stalls (no frame for ``stall_timeout_s``; FFmpeg's
interrupt callback aborts a blocked read after that long) it closes the connection,
reports ``offline`` once, and retries after 0.5 s, 1 s, 2 s, ... up to ``backoff_max_s`` (each
delay jittered between half and all of that, `contract.backoff`).
The first frame after a (re)connect reports ``online``. Status changes go to a callback:
`video/` knows nothing about events; the edge worker turns them into ``camera.*`` events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Literal

from contract.backoff import Backoff
from video.exceptions import SourceEnded, SourceError, redact
from video.frame import Frame
from video.slot import LatestSlot
from video.sources import Capture, CaptureOptions

log = logging.getLogger(__name__)

Status = Literal["starting", "online", "offline", "ended"]


@dataclass(frozen=True)
class StatusChange:
    """A camera went online or offline (or a file ended); ``reason`` says why."""

    status: Status
    reason: str
    ts: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


@dataclass(frozen=True)
class StreamOptions:
    """Capture plus reconnect settings.

    Example::

        StreamOptions(capture=CaptureOptions(stall_timeout_s=5), backoff_initial_s=0.5, backoff_max_s=30)
    """

    capture: CaptureOptions = CaptureOptions()
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0


class CameraStream:
    """Reads one source in its own thread, reconnecting forever until `stop`.

    Example::

        stream = CameraStream("cam-01", "rtsp://10.0.0.5/s1", on_status=print)
        slot = stream.subscribe("detector")
        stream.start()
        frame = slot.get(timeout=1.0)
        stream.stop()
    """

    def __init__(self, name: str, url: str, options: StreamOptions | None = None,
                 on_status: Callable[[StatusChange], None] | None = None) -> None:
        self.name = name
        self.url = url
        self.options = options or StreamOptions()
        self._on_status = on_status
        self._slots: list[LatestSlot[Frame]] = []
        self._sinks: list[Callable[[Frame], object]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._capture: Capture | None = None
        self.status: Status = "starting"
        self.last_error: str | None = None
        self.frames = 0
        self.reconnects = 0
        self.last_frame_mono: float | None = None
        self.source_fps: float | None = None
        self._recent: deque[float] = deque(maxlen=61)
        self._got_frame_since_connect = False

    def subscribe(self, consumer: str) -> LatestSlot[Frame]:
        """A new latest-frame slot fed with every frame (call before `start`)."""
        slot: LatestSlot[Frame] = LatestSlot(consumer)
        self._slots.append(slot)
        return slot

    def add_sink(self, sink: Callable[[Frame], object]) -> None:
        """A cheap callable run in the capture thread for every frame (e.g. `FrameRing.add`)."""
        self._sinks.append(sink)

    def start(self) -> None:
        """Start the capture thread."""
        if self._thread is not None:
            raise RuntimeError(f"stream {self.name} already started")
        self._thread = threading.Thread(target=self._run, name=f"capture-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread, close the source and wake every consumer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("capture thread of %s did not stop within %.0f s", self.name, timeout)
        for slot in self._slots:
            slot.close()

    @property
    def fps(self) -> float:
        """Frames per second received over the last ~2 s (0 when none)."""
        if len(self._recent) < 2 or time.monotonic() - self._recent[-1] > 2.0:
            return 0.0
        return (len(self._recent) - 1) / max(self._recent[-1] - self._recent[0], 1e-6)

    @property
    def dropped(self) -> int:
        """Frames replaced in consumers' slots before they took them."""
        return sum(s.dropped for s in self._slots)

    def _set_status(self, status: Status, reason: str) -> None:
        if status == self.status:
            return
        self.status = status
        level = logging.INFO if status in ("online", "ended") else logging.WARNING
        log.log(level, "camera %s %s: %s", self.name, status, reason)
        if self._on_status is not None:
            try:
                self._on_status(StatusChange(status, reason))
            except Exception:  # a failing callback must not kill the capture thread
                log.exception("status callback of %s failed", self.name)

    def _run(self) -> None:
        backoff = Backoff(self.options.backoff_initial_s, max(self.options.backoff_initial_s, self.options.backoff_max_s))
        while not self._stop.is_set():
            try:
                self._read_until_failure()
                return  # stopped
            except SourceEnded as exc:
                self._set_status("ended", exc.reason)
                for slot in self._slots:
                    slot.close()
                return
            except SourceError as exc:
                self.last_error = str(exc)
                self._set_status("offline", exc.reason)
            except Exception as exc:  # a bug or an unexpected library error: log, go on
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("capture of %s failed unexpectedly", self.name)
                self._set_status("offline", self.last_error)
            finally:
                if self._capture is not None:
                    self._capture.close()
                    self._capture = None
            if self._got_frame_since_connect:
                # It worked for a while: start the backoff again from the bottom.
                backoff.reset()
            delay = backoff.next()
            log.debug("camera %s: reconnect in %.1f s", self.name, delay)
            if self._stop.wait(delay):
                return
            self.reconnects += 1

    def _read_until_failure(self) -> None:
        self._got_frame_since_connect = False
        self._capture = Capture(self.url, self.options.capture)
        for frame in self._capture.frames():
            if self._stop.is_set():
                return
            if not self._got_frame_since_connect:
                self._got_frame_since_connect = True
                self.source_fps = self._capture.nominal_fps
                self._set_status("online", f"receiving {frame.width}x{frame.height} from {redact(self.url)}")
            self.frames += 1
            self.last_frame_mono = frame.mono
            self._recent.append(frame.mono)
            for sink in self._sinks:
                try:
                    sink(frame)
                except Exception:  # one bad sink must not stop capture
                    log.exception("sink of %s failed", self.name)
            for slot in self._slots:
                slot.put(frame)
