"""One detector session shared by every camera pipeline, batching frames that arrive together.

A model session per camera would multiply memory and fight over two cores; one session
serves them all, at most ``workers`` frames at a time (ONNX Runtime sessions may be run
from several threads at once; with one intra-op thread per run, two workers keep two
cores busy). Two modes:

- the model takes real batches (a dynamic batch dimension): frames go through a queue,
  ``workers`` threads take what is queued — waiting up to ``max_wait_ms`` for company —
  and run it through one ``detect_batch`` call;
- the model has a fixed batch of 1 (the YOLOX-Nano export): batching cannot save compute,
  so the camera's own thread runs the model once one of the ``workers`` permits is free.
  No thread hop: on a saturated two-core box a hand-over to another thread costs
  milliseconds of scheduling per frame.

Per-camera state (the motion gate's background model) stays in the camera's pipeline:
`SharedDetector` is the per-camera face of the service.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Any

import numpy as np

from analytics.detections import Detections
from analytics.detectors import Detector

log = logging.getLogger(__name__)

_STOP = object()


class DetectorService:
    """Runs ``detector`` in its own thread for frames submitted from many threads.

    Example::

        service = DetectorService(YoloxDetector(cfg), max_batch=4, max_wait_ms=5, workers=2).start()
        dets = service.detect(frame)          # from any camera thread; blocks until done
        service.stop()
    """

    def __init__(self, detector: Detector, max_batch: int = 4, max_wait_ms: float = 0.0, workers: int = 1,
                 queued: bool | None = None) -> None:
        self.detector = detector
        self.max_batch = max_batch
        batch_capable = bool(getattr(detector, "batch_capable", False)) and max_batch > 1
        # queued=None: choose by the model; tests force the queue on a fixed-batch model.
        self.queued = batch_capable if queued is None else queued
        self.max_wait_s = max_wait_ms / 1000.0 if batch_capable else 0.0
        self.workers = max(1, workers)
        self._permits = threading.BoundedSemaphore(self.workers)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._count_lock = threading.Lock()
        self.frames = 0
        self.batches = 0
        self._run_ms: deque[float] = deque(maxlen=100)

    def start(self) -> "DetectorService":
        """Start the inference threads (queued mode); returns self."""
        if not self.queued:
            return self
        for i in range(self.workers):
            thread = threading.Thread(target=self._run, name=f"detector-{self.detector.kind}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def detect(self, frame: np.ndarray, timeout: float | None = 30.0) -> Detections:
        """Detections for ``frame``; raises what the detector raised."""
        if not self.queued:
            if not self._permits.acquire(timeout=timeout):
                raise TimeoutError(f"no detector worker free within {timeout} s")
            try:
                started = time.perf_counter()
                result = self.detector.detect(frame)
                self._count(1, started)
                return result
            finally:
                self._permits.release()
        future: Future[Detections] = Future()
        self._queue.put((frame, future))
        return future.result(timeout)

    @property
    def run_ms(self) -> float:
        """Mean model time per frame over the last 100 batches (ms)."""
        return sum(self._run_ms) / len(self._run_ms) if self._run_ms else 0.0

    @property
    def mean_batch(self) -> float:
        """Frames per detector call so far."""
        return self.frames / self.batches if self.batches else 0.0

    def stop(self) -> None:
        """Finish queued or running frames, stop the threads and close the detector."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(30)
        for _ in range(self.workers):  # wait for frames running in camera threads
            self._permits.acquire(timeout=30)
        self.detector.close()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            deadline = time.monotonic() + self.max_wait_s
            stop_after = False
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop_after = True
                    break
                batch.append(nxt)
            self._process(batch)
            if stop_after:
                return

    def _process(self, batch: list[tuple[np.ndarray, Future[Detections]]]) -> None:
        started = time.perf_counter()
        try:
            results = self.detector.detect_batch([frame for frame, _ in batch])
        except Exception as exc:  # hand the error to every waiting camera; keep serving
            for _, future in batch:
                future.set_exception(exc)
            return
        self._count(len(batch), started)
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)


    def _count(self, frames: int, started: float) -> None:
        with self._count_lock:
            self._run_ms.append((time.perf_counter() - started) * 1000 / frames)
            self.frames += frames
            self.batches += 1


class SharedDetector(Detector):
    """A camera's handle on a `DetectorService`: a `Detector` whose model runs in the service.

    Example::

        per_camera = GatedDetector(SharedDetector(service), gate_config)  # gate state per camera
    """

    def __init__(self, service: DetectorService) -> None:
        self.service = service
        self.kind = service.detector.kind

    def detect(self, frame: np.ndarray) -> Detections:
        return self.service.detect(frame)

    @property
    def info(self) -> dict[str, Any]:
        return self.service.detector.info

    def close(self) -> None:
        """Nothing: the service owns the session."""
