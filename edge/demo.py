"""The edge worker `ioc demo` starts beside the hub: one camera on a given file or RTSP URL,
or on a generated scene, with YOLOX when a model is installed and the motion detector
otherwise (the heartbeat's ``detector.kind`` tells the wall which).

Example::

    handle = start_demo_edge("http://127.0.0.1:8000", token, Path("var"), source=None)
    handle.detector_kind   # "yolox" or "motion"
    handle.stop()
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analytics.detectors import MotionConfig, MotionGateConfig, YoloxConfig
from analytics.scene import SceneConfig
from edge.config import CameraConfig, EdgeSection, HubConfig, PreviewConfig, SiteConfig
from edge.models import installed
from edge.scene_gen import HEIGHT, WIDTH, ensure_scene
from edge.worker import EdgeWorker

log = logging.getLogger(__name__)


@dataclass
class DemoEdge:
    """A running demo edge worker; `stop` ends it."""

    worker: EdgeWorker
    site: SiteConfig
    source: str

    @property
    def detector_kind(self) -> str:
        """``yolox`` or ``motion``."""
        return str(self.worker.detector_info()["kind"])

    @property
    def preview_url(self) -> str | None:
        """Base URL of the MJPEG previews (``{preview_url}/{camera}.mjpg``)."""
        return self.worker.preview_url

    def stop(self) -> None:
        """Stop the worker and release everything it opened."""
        self.worker.stop()


def _scene(width: int, height: int, motion_only: bool) -> dict[str, Any]:
    """A counting line across the middle and a watched zone in the lower middle."""
    zone = [[width * 0.4, height * 0.68], [width * 0.6, height * 0.68],
            [width * 0.6, height * 0.98], [width * 0.4, height * 0.98]]
    count_classes = ["motion"] if motion_only else ["bicycle", "car", "motorbike", "bus", "truck"]
    intruders = ["motion"] if motion_only else ["pedestrian"]
    # The lower carriageway is declared one-way eastbound, so its westbound traffic is proposed
    # as wrong-way violations for the review desk (signed evidence with a plate close-up; no
    # clip, which would cost a video encode per violation on a laptop).
    carriageway = [[0, height * 0.52], [width, height * 0.52], [width, height * 0.70], [0, height * 0.70]]
    return {
        "zones": [{"name": "restricted", "polygon": zone}],
        "lines": [{"name": "middle", "start": [width / 2, 0], "end": [width / 2, height * 0.7]}],
        "lanes": [{"name": "lower_carriageway", "polygon": carriageway, "direction": [1, 0]}],
        "rules": [
            {"type": "line_count", "line": "middle", "classes": count_classes, "interval_s": 30},
            {"type": "zone_intrusion", "zone": "restricted", "classes": intruders, "evidence": ["overview", "clip"]},
            {"type": "wrong_way_violation", "lanes": ["lower_carriageway"], "classes": count_classes,
             "evidence": ["overview", "plate"]},
        ],
    }


def start_demo_edge(hub_url: str, token: str, data_dir: Path, source: str | None = None, *,
                    edge_id: str = "edge-demo", camera_id: str = "cam-demo-01", unit: str = "demo",
                    camera_name: str = "Demo camera", lat: float | None = None, lon: float | None = None) -> DemoEdge:
    """Start an edge worker for the demo and return its handle.

    ``source``: a video file or an ``rtsp://``/``http://`` URL; None renders a generated
    scene under ``data_dir/edge``. ``unit`` must be a unit inside the edge's subtree.
    """
    data_dir = Path(data_dir)
    model = installed("yolox-nano", data_dir)
    detector: Any
    if model is not None:
        detector = YoloxConfig(model=model, gate=MotionGateConfig(enabled=True))
    else:
        detector = MotionConfig()
    if source is None:
        url = str(ensure_scene(data_dir / "edge"))
        width, height, loop = WIDTH, HEIGHT, True
    else:
        url = source
        (width, height), loop = _frame_size(source), True
        if "://" in source and not source.startswith("file://"):
            loop = False
    camera = CameraConfig(
        id=camera_id, name=camera_name, unit=unit, lat=lat, lon=lon, url=url, loop=loop, detect_fps=5,
        scene=SceneConfig.model_validate(_scene(width, height, motion_only=model is None)),
    )
    site = SiteConfig(
        edge=EdgeSection(id=edge_id, data_dir=data_dir / "edge"),
        hub=HubConfig(url=hub_url, token=token),
        detector=detector,
        preview=PreviewConfig(enabled=True, host="127.0.0.1", port=0),
        cameras=[camera],
    )
    worker = EdgeWorker(site)
    worker.start()
    log.info("demo edge: camera %s on %s with the %s detector", camera_id, url, worker.detector_info()["kind"])
    return DemoEdge(worker=worker, site=site, source=url)


def _frame_size(source: str) -> tuple[int, int]:
    """Width and height of a source (for placing the demo zone and line); 1280x720 if unknown."""
    from video import SourceError, probe

    try:
        width, height, _ = probe(source)
    except SourceError as exc:
        log.warning("demo source %s cannot be probed (%s); assuming 1280x720", source, exc)
        return 1280, 720
    return width, height
