"""Model files the edge may run: a known list by SHA-256, installed under ``{data_dir}/models``.

Weights are not shipped in git. ``ioc models install PATH`` accepts a file only when its
SHA-256 is one of `KNOWN_MODELS`, or when it is a locally trained model whose card
(``NAME.card.json`` beside it, written by ``ioc models train``) names that SHA-256; ``ioc models fetch NAME`` downloads the official
release and applies the same check before anything is installed. Files are written to
a temporary name and renamed, so a half-downloaded model is never picked up.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from edge.exceptions import ModelError


@dataclass(frozen=True)
class ModelSpec:
    """A model the edge knows: its name, file name, SHA-256 and official download URL."""

    name: str
    filename: str
    sha256: str
    url: str
    size_hint: str = ""
    classmap: str | None = None  # edge/classmaps/<name>.json: written beside the model as <stem>.classes.json


KNOWN_MODELS: dict[str, ModelSpec] = {
    "yolox-nano": ModelSpec(
        name="yolox-nano",
        filename="yolox_nano.onnx",
        sha256="e8af074932d4ed7e232278e3055cefcdea3edf178874a3694ae292649fb464dd",
        url="https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx",
        size_hint="3.7 MB",
        classmap="coco80",
    ),
}


def data_dir() -> Path:
    """``IOC_DATA_DIR`` (default ``var``), the same folder the hub's settings use."""
    return Path(os.environ.get("IOC_DATA_DIR", "var"))


def models_dir(base: Path | None = None) -> Path:
    """Where installed models live: ``{data_dir}/models``."""
    return (base or data_dir()) / "models"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_class_map(spec: ModelSpec, target: Path) -> Path | None:
    """Write the class names of a catalogue model beside its installed file (``<stem>.classes.json``).

    The detector reads class names from the model or this side file, never from a table of
    its own; the stock YOLOX-Nano export carries no metadata, so its COCO names go here.
    """
    if spec.classmap is None:
        return None
    names = json.loads((Path(__file__).parent / "classmaps" / f"{spec.classmap}.json").read_text(encoding="utf-8"))
    side = target.with_name(target.stem + ".classes.json")
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(json.dumps(names) + "\n", encoding="utf-8")
    os.replace(tmp, side)
    return side


def ensure_class_map(model: Path) -> Path | None:
    """Write the side class map of a catalogue model installed before class maps existed.

    Does nothing when a side file is there already or the model is not in the catalogue
    (a fine-tuned model carries its names in its own metadata).
    """
    side = model.with_name(model.stem + ".classes.json")
    if side.is_file() or not model.is_file():
        return side if side.is_file() else None
    spec = spec_for_hash(sha256_file(model))
    if spec is None:
        return None
    try:
        return write_class_map(spec, model)
    except OSError:  # a read-only models folder: the detector then says what is missing
        return None


def spec_for_hash(sha256: str) -> ModelSpec | None:
    """The known model with this SHA-256, if any."""
    return next((m for m in KNOWN_MODELS.values() if m.sha256 == sha256), None)


def install(path: Path, base: Path | None = None) -> Path:
    """Check ``path`` against the known list (or its trained-model card) and copy it into the
    models folder; returns the target.

    Example::

        install(Path("~/Downloads/yolox_nano.onnx").expanduser())  # -> var/models/yolox_nano.onnx
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    digest = sha256_file(path)
    spec = spec_for_hash(digest)
    if spec is None:
        if card_path(path).is_file():
            return install_trained(path, base=base)
        known = ", ".join(f"{m.name} ({m.sha256[:12]}...)" for m in KNOWN_MODELS.values())
        raise ModelError(f"{path}: SHA-256 {digest} is not a known model (known: {known}) and no model card "
                         f"{card_path(path).name} lies beside it; nothing installed")
    target = models_dir(base) / spec.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".install-", delete=False) as tmp:
        with open(path, "rb") as src:
            shutil.copyfileobj(src, tmp)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, target)
    write_class_map(spec, target)
    return target


def fetch(name: str, base: Path | None = None, url: str | None = None, timeout_s: float = 60.0) -> Path:
    """Download a known model (from its official URL, or ``url``), check it and install it.

    Example::

        fetch("yolox-nano")  # downloads, checks e8af0749..., installs var/models/yolox_nano.onnx
    """
    spec = KNOWN_MODELS.get(name)
    if spec is None:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(KNOWN_MODELS))}")
    source = url or spec.url
    target_dir = models_dir(base)
    target_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    tmp = tempfile.NamedTemporaryFile(dir=target_dir, prefix=".fetch-", delete=False)
    try:
        with tmp:
            try:
                with httpx.stream("GET", source, follow_redirects=True, timeout=timeout_s) as response:
                    if response.status_code != 200:
                        raise ModelError(f"{source}: HTTP {response.status_code}; nothing installed")
                    for chunk in response.iter_bytes(1 << 16):
                        digest.update(chunk)
                        tmp.write(chunk)
            except httpx.HTTPError as exc:
                raise ModelError(f"{source}: download failed: {exc}; nothing installed") from exc
            tmp.flush()
            os.fsync(tmp.fileno())
        if digest.hexdigest() != spec.sha256:
            raise ModelError(f"{source}: SHA-256 {digest.hexdigest()} does not match {spec.name}'s "
                             f"{spec.sha256}; nothing installed")
        target = target_dir / spec.filename
        os.replace(tmp.name, target)
        write_class_map(spec, target)
        return target
    finally:
        if os.path.exists(tmp.name):
            os.unlink(tmp.name)


def installed(name: str, base: Path | None = None) -> Path | None:
    """The installed file of a known model when present (not re-hashed: install checked it)."""
    spec = KNOWN_MODELS.get(name)
    if spec is None:
        return None
    path = models_dir(base) / spec.filename
    return path if path.is_file() else None


# ---- locally trained models ------------------------------------------------------------
#
# A model trained by ``ioc models train`` is known by its model card, ``NAME.card.json``
# beside ``NAME.onnx``: its SHA-256, class names and the training record (data folder,
# cameras, held-out camera, epochs, figures). The card is what makes the file known:
# ``install`` copies a trained model only when the file's SHA-256 is the one its card
# names, and ``list_models`` re-checks every installed file against its card.

CARD_SUFFIX = ".card.json"
_NAME_RE = r"^[a-z0-9][a-z0-9._-]{0,63}$"


@dataclass(frozen=True)
class TrainedModel:
    """A locally trained model as its card describes it."""

    name: str
    filename: str
    sha256: str
    classes: tuple[str, ...]
    training: dict

    def card(self) -> dict:
        return {"name": self.name, "filename": self.filename, "sha256": self.sha256,
                "classes": list(self.classes), "training": self.training}


def card_path(model_path: Path) -> Path:
    """``x/NAME.onnx`` -> ``x/NAME.card.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + CARD_SUFFIX)


def check_trained_name(name: str) -> str:
    """A trained model's name: lower-case letters, digits, ``.-_``; not a stock model's name."""
    import re

    if not re.match(_NAME_RE, name) or name.endswith(".onnx"):
        raise ModelError(f"model name {name!r}: use lower-case letters, digits, '.', '-' or '_' (no .onnx)")
    if name in KNOWN_MODELS or any(Path(m.filename).stem == name for m in KNOWN_MODELS.values()):
        raise ModelError(f"model name {name!r} is a stock model's; choose another")
    return name


def read_card(path: Path) -> TrainedModel:
    """Parse a card file; `ModelError` when it is missing or malformed."""
    import json

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return TrainedModel(name=str(data["name"]), filename=str(data["filename"]), sha256=str(data["sha256"]).lower(),
                            classes=tuple(str(c) for c in data["classes"]), training=dict(data.get("training") or {}))
    except FileNotFoundError as exc:
        raise ModelError(f"{path}: no model card") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: not a model card ({exc})") from exc


def _write_atomic(target: Path, data: bytes | None = None, source: Path | None = None) -> None:
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".install-", delete=False) as tmp:
        if source is not None:
            with open(source, "rb") as src:
                shutil.copyfileobj(src, tmp)
        else:
            tmp.write(data or b"")
        tmp.flush()
        os.fsync(tmp.fileno())
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, target)


def install_trained(path: Path, card: TrainedModel | None = None, base: Path | None = None,
                    replace: bool = False) -> Path:
    """Install a trained model and its card under the models folder; returns the model's target.

    Without ``card``, the card beside ``path`` (``NAME.card.json``) is read. The file's
    SHA-256 must be the card's; nothing is written otherwise.

    Example::

        install_trained(Path("/media/usb/hcmc.onnx"))  # reads /media/usb/hcmc.card.json
    """
    import json

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    card = card or read_card(card_path(path))
    check_trained_name(card.name)
    digest = sha256_file(path)
    if digest != card.sha256:
        raise ModelError(f"{path}: SHA-256 {digest} is not the {card.sha256} its card names; nothing installed")
    target_dir = models_dir(base)
    target = target_dir / f"{card.name}.onnx"
    if not replace and target.exists():
        try:
            same = read_card(card_path(target)).sha256 == digest
        except ModelError:
            same = False
        if not same:
            raise ModelError(f"{target} exists (another model named {card.name!r}); choose another name or replace it")
    target_dir.mkdir(parents=True, exist_ok=True)
    record = TrainedModel(name=card.name, filename=target.name, sha256=digest, classes=card.classes,
                          training=card.training)
    _write_atomic(target, source=path)
    _write_atomic(card_path(target), json.dumps(record.card(), indent=1, ensure_ascii=False).encode())
    return target


def trained_models(base: Path | None = None) -> list[TrainedModel]:
    """The cards of the trained models installed under the models folder, by name."""
    folder = models_dir(base)
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.glob("*" + CARD_SUFFIX)):
        try:
            out.append(read_card(p))
        except ModelError:
            continue
    return out


def verify_installed(card: TrainedModel, base: Path | None = None) -> str:
    """``ok``, ``missing`` or ``SHA-256 mismatch`` for an installed trained model."""
    path = models_dir(base) / card.filename
    if not path.is_file():
        return "missing"
    return "ok" if sha256_file(path) == card.sha256 else "SHA-256 mismatch"
