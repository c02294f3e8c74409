"""The site config: one YAML file per edge worker, validated by pydantic.

Errors name the file, the line and the field::

    site.yaml:14: cameras[1].scene.zones[0].polygon: Value error, a polygon needs at least 3 points, got 2

Example site file: docs/examples/site.yaml (documented in docs/edge.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, TypeAdapter, ValidationError, field_validator, model_validator

from analytics.detectors import DetectorConfig, MotionConfig, YoloxConfig
from analytics.plates.reader import PlateReaderConfig, RapidOCRPlateReaderConfig
from analytics.scene import SceneConfig
from edge.evidence.signal_feed import SignalFeedConfig
from edge.evidence.packager import EvidenceConfig
from edge.exceptions import ConfigError
from edge.yamlmarks import load_yaml, locate
from contract import ConfigModel

CODE = r"^[A-Za-z0-9_.:-]{1,64}$"


class HubConfig(ConfigModel):
    """Where the hub is and how this edge authenticates.

    Example::

        HubConfig(url="http://hub.example:8000", token="edge-token-from-ioc-edge-register")
    """

    url: str = Field("http://127.0.0.1:8000", pattern=r"^https?://", max_length=500, description="hub base URL")
    token: str = Field("", max_length=1000, description="edge bearer token (`ioc edge register` prints it); "
                       "`${ENV_VAR}` reads it from the environment")
    timeout_s: float = Field(10.0, gt=0.0, le=120.0, description="HTTP timeout per request")
    heartbeat_s: float = Field(10.0, ge=1.0, le=300.0, description="seconds between heartbeats")

    @field_validator("token")
    @classmethod
    def _env(cls, value: str) -> str:
        if value.startswith("${") and value.endswith("}"):
            name = value[2:-1]
            if name not in os.environ:
                raise ValueError(f"environment variable {name} is not set")
            return os.environ[name]
        return value


class DeliveryConfig(ConfigModel):
    """Outbox → hub delivery."""

    batch_size: int = Field(200, ge=1, le=1000, description="events per POST (the hub takes up to 1,000)")
    live_window_s: float = Field(10.0, ge=0.0, le=3600.0, description="events younger than this go before the backlog")
    backoff_initial_s: float = Field(0.5, gt=0.0, le=60.0, description="first retry delay after a failure")
    backoff_max_s: float = Field(15.0, gt=0.0, le=600.0, description="retry delay cap")


class PreviewConfig(ConfigModel):
    """Low-rate annotated MJPEG preview served by the edge (`{public_url}/{camera}.mjpg`)."""

    enabled: bool = Field(True, description="serve previews")
    host: str = Field("127.0.0.1", max_length=200, description="bind address")
    port: int = Field(0, ge=0, le=65535, description="bind port; 0 picks a free one")
    public_url: str | None = Field(None, max_length=500, description="URL the hub uses to reach the preview; "
                                   "default http://{host}:{port}")
    fps: float = Field(2.0, gt=0.0, le=15.0, description="preview pictures per second")
    max_width: int = Field(640, ge=160, le=1920, description="preview width")
    jpeg_quality: int = Field(70, ge=30, le=95, description="preview JPEG quality")


class BatchingConfig(ConfigModel):
    """How frames of several cameras share one detector session."""

    max_batch: int = Field(4, ge=1, le=32, description="most frames run in one detector call")
    max_wait_ms: float = Field(0.0, ge=0.0, le=200.0, description="how long a frame waits for others to join its "
                               "batch (only for models with a dynamic batch size)")
    workers: int = Field(2, ge=1, le=16, description="inference threads sharing the session (about one per core)")


class EvidenceSettings(ConfigModel):
    """Evidence the pipeline attaches to rule events (violations add signed packages on top)."""

    overview: bool = Field(True, description="annotated JPEG of the frame")
    crop: bool = Field(True, description="JPEG close-up of the object, when the rule asks for one")
    clip: bool = Field(True, description="H.264 clip from the ring buffer, when the rule asks for one")
    clip_before_s: float = Field(5.0, ge=0.5, le=60.0, description="clip starts this long before the event")
    ring_s: float = Field(10.0, ge=1.0, le=120.0, description="seconds of video the ring buffer keeps")
    ring_fps: float = Field(5.0, ge=1.0, le=30.0, description="frames per second kept in the ring buffer")
    jpeg_quality: int = Field(85, ge=30, le=100, description="snapshot JPEG quality")
    max_width: int = Field(1280, ge=320, le=3840, description="snapshots and ring frames are scaled to at most this width")


class ViolationSettings(ConfigModel):
    """Signed evidence for traffic violations (built by `edge.evidence`).

    A ``traffic.*`` hit whose rule wishes for a ``clip`` or ``plate`` waits until the
    clip's end has been recorded, then becomes one event with an overview, a plate
    close-up, the clip and a signed manifest.
    """

    enabled: bool = Field(True, description="package violations with signed evidence")
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig, description="clip span, image sizes, captions")
    plates: PlateReaderConfig | None = Field(  # type: ignore[valid-type]
        default_factory=RapidOCRPlateReaderConfig,
        description="plate reader for rules that wish for `plate` evidence; null: no plate reading")


class FrozenWatchConfig(ConfigModel):
    """The frozen-picture watchdog: frames keep arriving but the picture does not change.

    Distinct from the stall watchdog (``stall_timeout_s``: no frames at all). The picture
    counts as still while the mean grey difference between analysed frames, on a copy
    ``width`` pixels wide, stays at or below ``noise_floor``; still for ``after_s`` raises
    ``camera.frozen`` (warning), the next change ``camera.unfrozen`` (info).

    Example::

        FrozenWatchConfig(after_s=20)
    """

    enabled: bool = Field(True, description="raise camera.frozen / camera.unfrozen")
    after_s: float = Field(10.0, ge=1.0, le=3600.0, description="seconds of an unchanging picture that are a freeze")
    noise_floor: float = Field(0.05, ge=0.0, le=50.0, description="mean grey-level difference at or below which "
                               "two frames are the same picture (sensor noise is above it, a frozen encoder below)")
    width: int = Field(160, ge=32, le=1280, description="width of the grey copy compared")


class CameraConfig(ConfigModel):
    """One camera and what to look for in it.

    Example::

        CameraConfig(id="cam-01", name="Ngã tư Hàng Xanh", unit="26734", lat=10.80, lon=106.71,
                     url="rtsp://10.0.0.5/stream1", detect_fps=5)
    """

    id: str = Field(pattern=CODE, description="camera id, unique across the province")
    name: str = Field("", max_length=200, description="shown on the wall")
    place: str = Field("", max_length=200, description="street address written on violation evidence")
    unit: str = Field(pattern=CODE, description="administrative unit code the camera belongs to")
    lat: float | None = Field(None, ge=-90, le=90, description="latitude (WGS 84)")
    lon: float | None = Field(None, ge=-180, le=180, description="longitude (WGS 84)")
    url: str = Field(min_length=1, max_length=2000, description="rtsp://, http(s):// (MJPEG) or a video file path")
    enabled: bool = Field(True, description="disabled cameras are declared but not opened")
    detect_fps: float = Field(5.0, gt=0.0, le=30.0, description="frames per second sent to the detector")
    loop: bool = Field(False, description="files only: start again at the end (demos)")
    realtime: bool = Field(True, description="files only: play at the file's own pace, as a camera would")
    stall_timeout_s: float = Field(5.0, ge=0.5, le=120.0, description="no frame for this long: reconnect")
    open_timeout_s: float = Field(10.0, ge=0.5, le=120.0, description="give up opening after this long")
    backoff_max_s: float = Field(30.0, ge=0.5, le=600.0, description="reconnect delay cap")
    detector: DetectorConfig | None = Field(None, description="this camera's detector; default: the site's")  # type: ignore[valid-type]
    scene: SceneConfig = Field(default_factory=SceneConfig, description="zones, lines, lanes, rules, ignore masks, "
                               "static-object suppression")
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    frozen: FrozenWatchConfig = Field(default_factory=FrozenWatchConfig, description="frozen-picture watchdog")


class EdgeSection(ConfigModel):
    """Who this edge is and where it keeps its state."""

    id: str = Field(pattern=CODE, description="edge id, as registered at the hub")
    data_dir: Path = Field(Path("var/edge"), description="outbox, keys and models; relative paths are relative "
                           "to the config file")


class SiteConfig(ConfigModel):
    """Everything one edge worker needs.

    Example::

        site = load_site(Path("site.yaml"))
        site.cameras[0].scene.rules
    """

    edge: EdgeSection
    hub: HubConfig = Field(default_factory=HubConfig)
    detector: DetectorConfig = Field(default_factory=MotionConfig,  # type: ignore[valid-type]
                                     description="default detector of every camera (`yolox` or `motion`)")
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    preview: PreviewConfig = Field(default_factory=PreviewConfig)
    violations: ViolationSettings = Field(default_factory=ViolationSettings)
    signals: SignalFeedConfig = Field(default_factory=SignalFeedConfig,
                                      description="traffic signal controller feeds (MQTT topic, HTTP POST) for red-light rules")
    cameras: list[CameraConfig] = Field(default_factory=list, max_length=256, description="the site's cameras")

    @model_validator(mode="after")
    def _unique_cameras(self) -> "SiteConfig":
        ids = [c.id for c in self.cameras]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate camera ids: {dupes}")
        return self

    def detector_for(self, camera: CameraConfig) -> Any:
        """The detector config a camera uses (its own, else the site's)."""
        return camera.detector or self.detector


_SITE = TypeAdapter(SiteConfig)
_CAMERA = TypeAdapter(CameraConfig)


class SiteProblems(ConfigModel):
    """Cameras left out of a leniently loaded site, each with its file:line messages."""

    cameras: dict[str, list[str]] = Field(default_factory=dict, description="camera (id or index) -> problems")


def load_site(path: Path, strict: bool = True) -> tuple[SiteConfig, SiteProblems]:
    """Read and validate a site file.

    With ``strict`` any problem raises `ConfigError`, listing each as
    ``file:line: field: message``. Without it, only problems outside ``cameras`` raise; a
    camera with a problem is left out and reported in the returned `SiteProblems`, so one
    bad camera does not take the site's other cameras down.

    Relative paths (``edge.data_dir``, a yolox ``model``, file camera URLs) are resolved
    against the config file's folder, so a site folder can be moved as a whole.
    """
    path = Path(path)
    data, node = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the file must be a mapping with at least `edge: {{id: ...}}`")
    raw_cameras = data.get("cameras") or []
    if not isinstance(raw_cameras, list):
        raise ConfigError(f"{path}:{locate(node, ('cameras',))[0]}: cameras: must be a list of cameras")
    problems: list[str] = []
    try:
        site = _SITE.validate_python({**data, "cameras": []})
    except ValidationError as exc:
        problems += _messages(path, node, exc, ())
        site = None
    left_out = SiteProblems()
    cameras: list[CameraConfig] = []
    for i, raw in enumerate(raw_cameras):
        try:
            camera = _CAMERA.validate_python(raw)
        except ValidationError as exc:
            name = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"cameras[{i}]"
            left_out.cameras[name] = _messages(path, node, exc, ("cameras", i))
            continue
        if any(c.id == camera.id for c in cameras):
            line = locate(node, ("cameras", i, "id"))[0]
            left_out.cameras[f"cameras[{i}]"] = [f"{path}:{line}: cameras[{i}].id: duplicate camera id {camera.id!r}"]
            continue
        cameras.append(camera)
    if strict:
        problems += [m for msgs in left_out.cameras.values() for m in msgs]
    if problems or site is None:
        raise ConfigError(f"{path}: {len(problems)} problem(s) in the site config", problems)
    site.cameras = cameras
    return resolve_paths(site, path.parent), left_out


def _messages(path: Path, node: Any, exc: ValidationError, prefix: tuple[str | int, ...]) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        line, field = locate(node, prefix + tuple(err["loc"]))
        out.append(f"{path}:{line or '?'}: {field or '(top level)'}: {err['msg']}")
    return out


def resolve_paths(site: SiteConfig, base: Path) -> SiteConfig:
    """Make relative data_dir, model and file paths absolute against ``base``."""
    base = base.resolve()
    if not site.edge.data_dir.is_absolute():
        site.edge.data_dir = base / site.edge.data_dir
    for det in [site.detector, *[c.detector for c in site.cameras if c.detector is not None]]:
        if isinstance(det, YoloxConfig) and not det.model.is_absolute():
            candidate = base / det.model
            # `models/x.onnx` also means "installed by `ioc models install`" under data_dir.
            det.model = candidate if candidate.exists() else site.edge.data_dir / det.model
    for cam in site.cameras:
        if "://" not in cam.url and not Path(cam.url).is_absolute():
            cam.url = str(base / cam.url)
    return site
