"""Config models of the detectors; `DetectorConfig` is their discriminated union on ``type``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from analytics.classes import ROAD_USERS, ClassNames
from contract import ConfigModel


class MotionGateConfig(ConfigModel):
    """Skip the model on frames where nothing moves (background subtraction)."""

    enabled: bool = Field(False, description="run the model only when motion is seen")
    min_area_fraction: float = Field(0.0005, ge=0.0, le=1.0, description="moving pixels / frame pixels that count as motion")
    refresh_s: float = Field(2.0, gt=0.0, le=60.0, description="run the model at least this often even without motion")


class TilingConfig(ConfigModel):
    """Cut wide frames into overlapping tiles so small motorbikes reach the model at a usable size."""

    enabled: bool = Field(False, description="detect on tiles as well as (or instead of) the full frame")
    mode: Literal["grid", "scene"] = Field(
        "grid", description="grid: rows x cols over the frame; scene: tiles only over the camera's lanes, zones and lines")
    min_object_px: float = Field(20.0, ge=4.0, le=1000.0, description="scene mode: height in frame pixels of the smallest vehicle to see well")
    target_px: float = Field(32.0, ge=8.0, le=416.0, description="scene mode: height an object needs at the model input to be found reliably")
    max_tiles: int = Field(4, ge=1, le=32, description="scene mode: most tiles per frame (the cost); tiles grow to fit")
    rows: int = Field(2, ge=1, le=8, description="tile rows")
    cols: int = Field(4, ge=1, le=8, description="tile columns (2x4 found the most small vehicles per ms in bench.edge_detector)")
    overlap: float = Field(0.2, ge=0.0, le=0.5, description="overlap between neighbouring tiles, fraction of a tile")
    full_frame: bool = Field(True, description="also run one full-frame pass, for objects larger than a tile")
    merge_iou: float = Field(0.5, gt=0.0, le=1.0, description="same-class boxes overlapping more (IoU) are one object")
    merge_ios: float = Field(0.7, gt=0.0, le=1.0, description="same-class boxes whose smaller box lies this much inside the larger are one object (objects cut by a tile edge)")


class FusionConfig(ConfigModel):
    """When a pedestrian box counts as the rider of a two-wheeler box."""

    enabled: bool = Field(True, description="merge riders into their two-wheelers (COCO models)")
    min_cover: float = Field(0.5, gt=0.0, le=1.0, description="share of the rider's width that must lie over the vehicle box")
    max_top: float = Field(0.35, ge=0.0, le=1.0, description="the rider's top must be above this share of the vehicle's height")
    min_foot: float = Field(0.45, ge=0.0, le=1.0, description="the rider's feet must reach below this share of the vehicle's height (the 5th percentile of real rider/bike pairs on the HCMC cameras)")
    max_foot: float = Field(1.6, ge=0.5, le=3.0, description="... and not below this share (a walker in front of a bike); 1.25 refused 2.4 % of real pairs")
    narrow_car_aspect: float = Field(0.9, gt=0.1, le=3.0, description="car boxes narrower than this width/height carrying a rider are motorbikes (scooters seen from behind)")
    max_riders: int = Field(3, ge=1, le=5, description="riders one two-wheeler may carry")
    narrow_alone_aspect: float = Field(0.7, gt=0.1, le=3.0, description="car boxes narrower than this width/height are motorbikes even without a rider seen")
    nms_iou: float = Field(0.45, gt=0.0, le=1.0, description="merged motorbikes overlapping another box of their family more than this are one (a faint rider and bike combined beside a bike already boxed)")
    host_confidence: float = Field(
        0.1, ge=0.01, le=1.0,
        description="riders and two-wheelers are decoded down to this score; a rider and its bike combined must "
        "still reach the detector's confidence (a COCO model sees small riders and scooters faintly)")


class YoloxConfig(ConfigModel):
    """YOLOX ONNX model run by ONNX Runtime.

    Example::

        YoloxConfig(model=Path("models/yolox_nano.onnx"), confidence=0.3, tiling=TilingConfig(enabled=True))
    """

    type: Literal["yolox"] = "yolox"
    model: Path = Field(Path("models/yolox_nano.onnx"), description="ONNX file (YOLOX layout: stock COCO or fine-tuned)")
    class_map: Path | None = Field(None, description="file naming the model's classes in output order; None reads the model's metadata or its .classes.json side file")
    input_size: tuple[int, int] | None = Field(None, description="(height, width) of the model input; None reads it from the model")
    confidence: float = Field(0.3, ge=0.01, le=1.0, description="minimum objectness x class score kept")
    nms_iou: float = Field(0.45, gt=0.0, le=1.0, description="IoU above which same-class boxes are suppressed")
    agnostic_nms: bool = Field(True, description="one box per object across the classes of a family (YOLOX often gives a car and a truck box for one pickup); never across families, so a rider does not suppress the bike under it")
    classes: ClassNames = Field(list(ROAD_USERS), min_length=1, description="road-user classes to keep (see analytics.classes; COCO spellings accepted)")
    providers: list[str] = Field(
        ["CUDAExecutionProvider", "CPUExecutionProvider"],
        min_length=1,
        description="ONNX Runtime providers in order of preference; unavailable ones are skipped",
    )
    intra_op_threads: int = Field(1, ge=0, le=64, description="ONNX Runtime intra-op threads (0 = runtime default, all cores)")
    tiling: TilingConfig = Field(default_factory=TilingConfig)
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    gate: MotionGateConfig = Field(default_factory=MotionGateConfig)

    @field_validator("classes")
    @classmethod
    def _no_motion(cls, value: list[str]) -> list[str]:
        if "motion" in value:
            raise ValueError("unknown classes ['motion']: a model does not output motion (use the motion detector)")
        return value

    @field_validator("input_size")
    @classmethod
    def _stride_multiple(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and (value[0] % 32 or value[1] % 32 or min(value) < 64 or max(value) > 4096):
            raise ValueError(f"input_size {value} must be multiples of 32 between 64 and 4096")
        return value


class MotionConfig(ConfigModel):
    """Motion detector: moving blobs from background subtraction, class ``motion``.

    The fallback when no model is installed: it finds that something moves, not what.

    Example::

        MotionConfig(min_area=400, history=300)
    """

    type: Literal["motion"] = "motion"
    history: int = Field(300, ge=10, le=10000, description="frames the background model remembers")
    var_threshold: float = Field(25.0, gt=0.0, le=1000.0, description="MOG2 variance threshold; higher = less sensitive")
    min_area: int = Field(300, ge=1, le=10_000_000, description="smallest blob kept, in pixels of the processed frame")
    max_width: int = Field(640, ge=64, le=4096, description="frames wider than this are downscaled first (speed)")
    warmup_frames: int = Field(10, ge=0, le=1000, description="frames to learn the background before reporting")


DetectorConfig = Annotated[YoloxConfig | MotionConfig, Field(discriminator="type")]
