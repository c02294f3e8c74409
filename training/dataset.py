"""Labelled images for fine-tuning: Pascal VOC or YOLO txt, grouped by camera.

Layouts read:

* **VOC**: ``DATA/images/NAME.jpg`` (or images directly in ``DATA``) and
  ``DATA/labels/NAME.xml`` (or ``NAME.xml`` beside the image); optional ``classes.txt``
  fixes the class order, else the order of first appearance, sorted.
* **YOLO**: ``DATA/images/NAME.jpg`` and ``DATA/labels/NAME.txt`` with lines
  ``class cx cy w h`` (normalised 0-1) and ``classes.txt`` (one name a line, line = id).

The camera of an image is taken from its file name by a regex (default: everything
before the first ``_``), and splits are by camera: a model measured on frames of a
camera it was trained on would be measured on near-copies of its training data.

Example::

    ds = read_dataset(Path("hcmc_cctv"), fmt="voc")
    train, held = split_by_camera(ds, holdout="20234")
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.exceptions import DatasetError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
DEFAULT_CAMERA_PATTERN = r"^([^_]+)_"


@dataclass
class Sample:
    """One labelled image: boxes are x1, y1, x2, y2 in image pixels, labels index `Dataset.classes`."""

    image: Path
    camera: str
    boxes: np.ndarray  # (n, 4) float32
    labels: np.ndarray  # (n,) int64


@dataclass
class Dataset:
    root: Path
    classes: list[str]
    samples: list[Sample] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)  # boxes of unknown classes dropped

    @property
    def cameras(self) -> list[str]:
        return sorted({s.camera for s in self.samples})

    def counts(self) -> dict[str, int]:
        """Boxes per class over all samples."""
        c = Counter(int(v) for s in self.samples for v in s.labels)
        return {name: c.get(i, 0) for i, name in enumerate(self.classes)}


def camera_of(name: str, pattern: str = DEFAULT_CAMERA_PATTERN) -> str:
    """The camera key of a file name: the regex's first group (or whole match); the stem
    itself when the regex does not match (each such image is then its own camera)."""
    m = re.search(pattern, name)
    if not m:
        return Path(name).stem
    return m.group(1) if m.groups() else m.group(0)


def _images(root: Path) -> list[Path]:
    folder = root / "images" if (root / "images").is_dir() else root
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def _read_classes(root: Path) -> list[str] | None:
    f = root / "classes.txt"
    if not f.is_file():
        return None
    names = [line.strip() for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(set(names)) != len(names):
        raise DatasetError(f"{f}: class names repeat")
    return names


def _label_path(root: Path, image: Path, ext: str) -> Path | None:
    for p in (root / "labels" / (image.stem + ext), image.with_suffix(ext)):
        if p.is_file():
            return p
    return None


def _voc(path: Path) -> list[tuple[str, list[float]]]:
    try:
        tree = ET.parse(path)
    except ET.ParseError as exc:
        raise DatasetError(f"{path}: not valid XML: {exc}") from exc
    out = []
    for obj in tree.getroot().iter("object"):
        name = (obj.findtext("name") or "").strip()
        bb = obj.find("bndbox")
        if not name or bb is None:
            raise DatasetError(f"{path}: an <object> without <name> or <bndbox>")
        try:
            box = [float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"{path}: bad <bndbox> for {name!r}") from exc
        out.append((name, box))
    return out


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.width, im.height


def read_dataset(root: Path, fmt: str = "voc", camera_pattern: str = DEFAULT_CAMERA_PATTERN,
                 classes: list[str] | None = None, ignore_unknown: bool = False) -> Dataset:
    """Read a labelled folder; images without a label file are left out.

    Raises `DatasetError` on a missing folder, no labelled image, a label naming a
    class not in ``classes.txt`` / ``classes`` (unless ``ignore_unknown``: those boxes
    are dropped and counted in `Dataset.ignored`), or a malformed label file.
    """
    root = Path(root)
    if fmt not in ("voc", "yolo"):
        raise DatasetError(f"unknown format {fmt!r}; use voc or yolo")
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    try:
        re.compile(camera_pattern)
    except re.error as exc:
        raise DatasetError(f"camera pattern {camera_pattern!r}: {exc}") from exc
    names = classes or _read_classes(root)
    if fmt == "yolo" and names is None:
        raise DatasetError(f"{root}: YOLO labels need classes.txt (one class name a line)")
    images = _images(root)
    if not images:
        raise DatasetError(f"{root}: no images ({', '.join(IMAGE_EXTS)}) in {root} or {root / 'images'}")
    raw: list[tuple[Path, list[tuple[str | int, list[float]]]]] = []
    for img in images:
        lp = _label_path(root, img, ".xml" if fmt == "voc" else ".txt")
        if lp is None:
            continue
        if fmt == "voc":
            raw.append((img, _voc(lp)))
        else:
            w, h = _image_size(img)
            objs: list[tuple[str | int, list[float]]] = []
            for n, line in enumerate(lp.read_text(encoding="utf-8").splitlines(), 1):
                parts = line.split()
                if not parts:
                    continue
                try:
                    cid = int(parts[0])
                    cx, cy, bw, bh = (float(v) for v in parts[1:5])
                except (ValueError, IndexError) as exc:
                    raise DatasetError(f"{lp}:{n}: expected 'class cx cy w h'") from exc
                if not 0 <= cid < len(names):
                    raise DatasetError(f"{lp}:{n}: class id {cid} not in classes.txt ({len(names)} classes)")
                objs.append((cid, [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]))
            raw.append((img, objs))
    if not raw:
        raise DatasetError(f"{root}: no image has a label file ({'labels/NAME.xml' if fmt == 'voc' else 'labels/NAME.txt'})")
    if names is None:
        names = sorted({n for _, objs in raw for n, _ in objs})
        if not names:
            raise DatasetError(f"{root}: the label files hold no boxes")
    index = {n: i for i, n in enumerate(names)}
    unknown = Counter(n for _, objs in raw for n, _ in objs if isinstance(n, str) and n not in index)
    if unknown and not ignore_unknown:
        listed = ", ".join(f"{n} ({c})" for n, c in unknown.most_common())
        raise DatasetError(f"{root}: labels name classes not in {'classes.txt' if classes is None else 'the class list'} "
                           f"{names}: {listed}; add them there, or drop those boxes with --ignore-unknown")
    ds = Dataset(root=root, classes=list(names), ignored=dict(unknown))
    for img, objs in raw:
        boxes, labels = [], []
        for n, box in objs:
            if isinstance(n, str):
                if n not in index:
                    continue
                n = index[n]
            x1, y1, x2, y2 = box
            if x2 - x1 < 1 or y2 - y1 < 1:
                continue  # degenerate boxes teach nothing
            boxes.append([x1, y1, x2, y2])
            labels.append(n)
        ds.samples.append(Sample(image=img, camera=camera_of(img.name, camera_pattern),
                                 boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
                                 labels=np.asarray(labels, np.int64)))
    return ds


def split_by_camera(ds: Dataset, holdout: str | None = None) -> tuple[list[Sample], list[Sample]]:
    """(train, held-out) samples: the held-out camera's images against all others.

    ``holdout=None`` holds out the camera with the fewest images (least training data lost).
    Raises `DatasetError` when the camera is unknown or the split leaves either side empty.
    """
    cams = Counter(s.camera for s in ds.samples)
    if holdout is None:
        if len(cams) < 2:
            raise DatasetError(f"one camera only ({', '.join(cams)}): a held-out camera is needed to measure the model; "
                               "label frames of a second camera or check --camera-pattern")
        holdout = min(cams, key=lambda c: (cams[c], c))
    if holdout not in cams:
        raise DatasetError(f"held-out camera {holdout!r} not in the data; cameras: "
                           + ", ".join(f"{c} ({n})" for c, n in sorted(cams.items())))
    train = [s for s in ds.samples if s.camera != holdout]
    held = [s for s in ds.samples if s.camera == holdout]
    if not train:
        raise DatasetError(f"holding out {holdout!r} leaves no training images")
    return train, held
