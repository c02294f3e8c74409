"""`Detections`: the one record that travels between detector, tracker, geometry and rules.

Modelled on Roboflow supervision's `Detections` (DESIGN.md convention 3) but with
fixed dtypes and no optional arrays, so downstream code never checks for ``None``:
a detection that is not tracked yet has ``tracker_id == -1``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from analytics.classes import class_name
from analytics.exceptions import DetectionsError

if TYPE_CHECKING:  # supervision is heavy to import; only conversions need it
    import supervision as sv

UNTRACKED = -1


def _as_array(value: Any, dtype: type, name: str) -> np.ndarray:
    try:
        return np.ascontiguousarray(np.asarray(value, dtype=dtype))
    except (TypeError, ValueError) as exc:
        raise DetectionsError(f"Detections.{name} cannot be read as {np.dtype(dtype).name}: {exc}") from exc


@dataclass
class Detections:
    """Boxes with scores, classes, track ids and per-box extra data; validates itself.

    Arrays: ``xyxy`` (N, 4) float32 pixel corners, ``confidence`` (N,) float32,
    ``class_id`` (N,) int64 (COCO ids, see `analytics.classes`), ``tracker_id`` (N,)
    int64 with -1 for untracked boxes, ``data`` name -> array of length N.

    Example::

        >>> d = Detections(xyxy=[[10, 20, 50, 80]], confidence=[0.9], class_id=[3])
        >>> len(d), d.class_names, d.tracker_id.tolist()
        (1, ['motorbike'], [-1])
        >>> d[d.confidence > 0.5].anchors().tolist()
        [[30.0, 80.0]]
    """

    xyxy: np.ndarray
    confidence: np.ndarray = field(default=None)  # type: ignore[assignment]
    class_id: np.ndarray = field(default=None)  # type: ignore[assignment]
    tracker_id: np.ndarray = field(default=None)  # type: ignore[assignment]
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = _as_array(self.xyxy, np.float32, "xyxy")
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise DetectionsError(f"Detections.xyxy must have shape (N, 4), got {xyxy.shape}")
        n = len(xyxy)
        if not np.isfinite(xyxy).all():
            raise DetectionsError("Detections.xyxy contains NaN or infinite values")
        if n and ((xyxy[:, 2] < xyxy[:, 0]).any() or (xyxy[:, 3] < xyxy[:, 1]).any()):
            raise DetectionsError("Detections.xyxy must have x2 >= x1 and y2 >= y1")
        self.xyxy = xyxy
        defaults = {"confidence": (np.float32, 1.0), "class_id": (np.int64, 0), "tracker_id": (np.int64, UNTRACKED)}
        for name, (dtype, fill) in defaults.items():
            value = getattr(self, name)
            arr = np.full(n, fill, dtype=dtype) if value is None else _as_array(value, dtype, name).reshape(-1)
            if len(arr) != n:
                raise DetectionsError(f"Detections.{name} has {len(arr)} values for {n} boxes")
            setattr(self, name, arr)
        data = {}
        for key, value in (self.data or {}).items():
            arr = np.asarray(value)
            if arr.ndim == 0 or len(arr) != n:
                raise DetectionsError(f"Detections.data[{key!r}] has length {0 if arr.ndim == 0 else len(arr)}, expected {n}")
            data[key] = arr
        self.data = data

    @classmethod
    def empty(cls) -> Detections:
        """A record with no boxes."""
        return cls(xyxy=np.zeros((0, 4), np.float32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __iter__(self) -> Iterator[Detections]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index: int | slice | np.ndarray | list[int]) -> Detections:
        """Select boxes by index, slice, integer array or boolean mask; always returns `Detections`."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=self.tracker_id[index],
            data={k: v[index] for k, v in self.data.items()},
        )

    @property
    def class_names(self) -> list[str]:
        """Class names of the boxes, in order."""
        return [class_name(c) for c in self.class_id]

    @property
    def area(self) -> np.ndarray:
        """Box areas in square pixels."""
        return (self.xyxy[:, 2] - self.xyxy[:, 0]) * (self.xyxy[:, 3] - self.xyxy[:, 1])

    def anchors(self, position: str = "bottom_center") -> np.ndarray:
        """(N, 2) points: ``bottom_center`` (where a road user touches the ground) or ``center``."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        if position == "bottom_center":
            y = self.xyxy[:, 3]
        elif position == "center":
            y = (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2
        else:
            raise DetectionsError(f"unknown anchor position {position!r}: use 'bottom_center' or 'center'")
        return np.stack([x, y], axis=1).astype(np.float32)

    @classmethod
    def merge(cls, parts: Iterable[Detections]) -> Detections:
        """Concatenate records; ``data`` keys must be the same in every non-empty part."""
        items = [p for p in parts if len(p)]
        if not items:
            return cls.empty()
        keys = set(items[0].data)
        for p in items[1:]:
            if set(p.data) != keys:
                raise DetectionsError(f"cannot merge Detections with data keys {sorted(keys)} and {sorted(p.data)}")
        return cls(
            xyxy=np.concatenate([p.xyxy for p in items]),
            confidence=np.concatenate([p.confidence for p in items]),
            class_id=np.concatenate([p.class_id for p in items]),
            tracker_id=np.concatenate([p.tracker_id for p in items]),
            data={k: np.concatenate([p.data[k] for p in items]) for k in keys},
        )

    def with_tracker_id(self, tracker_id: np.ndarray) -> Detections:
        """A copy with new track ids (same boxes)."""
        return Detections(self.xyxy, self.confidence, self.class_id, tracker_id, dict(self.data))

    def to_supervision(self) -> sv.Detections:
        """The same boxes as `supervision.Detections` (for its zones and annotators)."""
        import supervision as sv

        return sv.Detections(
            xyxy=self.xyxy.astype(np.float32),
            confidence=self.confidence.copy(),
            class_id=self.class_id.astype(int),
            tracker_id=self.tracker_id.astype(int) if len(self) else None,
            data={k: v.copy() for k, v in self.data.items()},
        )

    @classmethod
    def from_supervision(cls, det: sv.Detections) -> Detections:
        """Read a `supervision.Detections`; missing confidence/class/track become 1.0 / 0 / -1."""
        n = len(det)
        return cls(
            xyxy=det.xyxy,
            confidence=det.confidence if det.confidence is not None else np.ones(n, np.float32),
            class_id=det.class_id if det.class_id is not None else np.zeros(n, np.int64),
            tracker_id=det.tracker_id if det.tracker_id is not None else np.full(n, UNTRACKED),
            data={k: np.asarray(v) for k, v in det.data.items() if np.asarray(v).ndim > 0 and len(v) == n},
        )
