"""The fine-tuning loop: held-out camera, AdamW with warm-up and cosine decay, ONNX export.

Example::

    result = train(TrainConfig(data=Path("hcmc_cctv"), holdout="20234", epochs=20),
                   out=Path("var/hcmc.onnx"), progress=print)
    result.figures["all"]["recall"]
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from training.dataset import DEFAULT_CAMERA_PATTERN, read_dataset, split_by_camera
from training.exceptions import DatasetError, TrainExtraMissing

DEFAULT_BASE = Path("models/yolox_nano.onnx")


def require_torch():
    """Import torch and onnx, or raise `TrainExtraMissing` with the install line."""
    try:
        import onnx  # noqa: F401
        import torch
    except ImportError as exc:
        raise TrainExtraMissing(f"training needs PyTorch and onnx ({exc.name} is missing): "
                                "install the train extra, pip install 'ioc[train]'") from exc
    return torch


@dataclass
class TrainConfig:
    """What to train on and how; every field has a default tuned for 2 CPU cores (docs/training.md)."""

    data: Path
    base: Path = DEFAULT_BASE
    fmt: str = "voc"
    camera_pattern: str = DEFAULT_CAMERA_PATTERN
    holdout: str | None = None
    epochs: int = 20
    batch: int = 8
    input_hw: tuple[int, int] = (384, 640)
    lr: float = 3e-4
    weight_decay: float = 5e-4
    warmup_iters: int = 60
    threads: int = 2
    eval_every: int = 5
    ignore_unknown: bool = False
    seed: int = 0
    limit_images: int | None = None  # train on the first N training images only (tests)

    def check(self) -> None:
        h, w = self.input_hw
        if h % 32 or w % 32 or not (64 <= h <= 1280 and 64 <= w <= 1280):
            raise DatasetError(f"input size {h}x{w}: both sides must be multiples of 32 within 64..1280")
        if self.epochs < 1 or self.batch < 1 or self.threads < 1:
            raise DatasetError("epochs, batch and threads must be at least 1")


@dataclass
class TrainResult:
    out: Path
    classes: list[str]
    cameras: list[str]
    holdout: str
    epochs: int
    train_images: int
    holdout_images: int
    seconds: float
    seconds_per_epoch: float
    figures: dict
    figures_before: dict | None
    history: list[dict] = field(default_factory=list)

    def metadata(self, cfg: TrainConfig) -> dict:
        """The ``ioc.training`` record stored in the ONNX file and the model card."""
        return {"data": str(Path(cfg.data).resolve()), "format": cfg.fmt, "camera_pattern": cfg.camera_pattern,
                "cameras": self.cameras, "holdout": self.holdout, "epochs": self.epochs,
                "input_size": list(cfg.input_hw), "batch": cfg.batch, "lr": cfg.lr,
                "train_images": self.train_images, "holdout_images": self.holdout_images,
                "seconds": round(self.seconds, 1), "seconds_per_epoch": round(self.seconds_per_epoch, 1),
                "figures": self.figures, "figures_before": self.figures_before,
                "threads": cfg.threads, "base": str(cfg.base), "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _batches(samples, batch, rng):
    order = rng.permutation(len(samples))
    for i in range(0, len(order) - batch + 1 if len(order) >= batch else 1, batch):
        yield [samples[j] for j in order[i:i + batch]]


def _load_image(path: Path):
    import cv2

    img = cv2.imread(str(path))
    if img is None:
        raise DatasetError(f"{path}: cannot decode image")
    return img


def prepare(cfg: TrainConfig):
    """Read and split the data, checking everything that can fail before any training starts."""
    cfg.check()
    ds = read_dataset(cfg.data, cfg.fmt, cfg.camera_pattern, ignore_unknown=cfg.ignore_unknown)
    train_s, held = split_by_camera(ds, cfg.holdout)
    if cfg.limit_images:
        train_s = train_s[:cfg.limit_images]
    if not any(len(s.labels) for s in train_s):
        raise DatasetError("the training images hold no boxes")
    if not Path(cfg.base).is_file():
        raise DatasetError(f"{cfg.base}: starting model not found; `ioc models fetch yolox-nano` (or "
                           "`ioc models install yolox_nano.onnx`) installs it, or pass --base PATH")
    return ds, train_s, held


def train(cfg: TrainConfig, out: Path, progress: Callable[[str], None] = lambda _: None) -> TrainResult:
    """Fine-tune YOLOX-Nano on ``cfg.data``, evaluate on the held-out camera, export ONNX to ``out``."""
    torch = require_torch()
    from training.augment import augment
    from training.evaluate import format_figures, measure
    from training.export import export_onnx
    from training.loss import yolox_loss
    from training.model import make_grid
    from training.onnx_weights import load_yolox_nano

    ds, train_s, held = prepare(cfg)
    holdout = held[0].camera if held else (cfg.holdout or "")
    cameras = sorted({s.camera for s in train_s})
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    # The weights are checked against ONNX Runtime on a real training image before any step.
    model = load_yolox_nano(Path(cfg.base), ds.classes, check_image=_load_image(train_s[0].image))
    grid, strides = make_grid(*cfg.input_hw)
    progress(f"data {cfg.data}: {len(ds.samples)} labelled images, classes {ds.classes}, cameras "
             + ", ".join(f"{c} ({sum(s.camera == c for s in ds.samples)})" for c in ds.cameras)
             + (f"; dropped boxes of other classes: {ds.ignored}" if ds.ignored else ""))
    progress(f"training on {', '.join(cameras)} ({len(train_s)} images), held out {holdout} ({len(held)} images), "
             f"input {cfg.input_hw[0]}x{cfg.input_hw[1]}, {cfg.epochs} epochs, batch {cfg.batch}, {cfg.threads} thread(s)")

    def predict(tensor):
        with torch.no_grad():
            return model(torch.from_numpy(tensor))[0].numpy()

    figures_before = None
    if held:
        model.eval()
        figures_before = measure(predict, held, ds.classes, cfg.input_hw)
        progress(f"held-out {holdout} before training (COCO model restricted to these classes):\n"
                 + format_figures(figures_before))
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith(".bias") else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    per_epoch = max(1, len(train_s) // cfg.batch)
    total = per_epoch * cfg.epochs
    warm = min(cfg.warmup_iters, max(1, total // 3))

    def lr_at(it: int) -> float:
        if it < warm:
            return cfg.lr * (it + 1) / warm
        t = (it - warm) / max(1, total - warm)
        return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))

    history: list[dict] = []
    figures = figures_before or {}
    it = 0
    t_start = time.perf_counter()
    train_seconds = 0.0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        sums = {"loss": 0.0, "iou": 0.0, "obj": 0.0, "cls": 0.0}
        n = 0
        for batch in _batches(train_s, cfg.batch, rng):
            imgs, targets = [], []
            for s in batch:
                im, b, lab = augment(_load_image(s.image), s.boxes, s.labels, cfg.input_hw, rng)
                imgs.append(im.transpose(2, 0, 1))
                targets.append((torch.from_numpy(b), torch.from_numpy(lab)))
            x = torch.from_numpy(np.ascontiguousarray(np.stack(imgs), dtype=np.float32))
            for g in opt.param_groups:
                g["lr"] = lr_at(it)
            loss, parts = yolox_loss(model(x), targets, grid, strides, len(ds.classes))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            it += 1
            n += 1
            sums["loss"] += float(loss.detach())
            for k in ("iou", "obj", "cls"):
                sums[k] += parts[k]
        dt = time.perf_counter() - t0
        train_seconds += dt
        row = {"epoch": epoch, "seconds": round(dt, 1), **{k: round(v / max(n, 1), 4) for k, v in sums.items()}}
        line = (f"epoch {epoch}/{cfg.epochs}: {dt:.0f} s ({dt / max(n, 1):.2f} s/iter), loss {row['loss']:.3f} "
                f"(iou {row['iou']:.3f} obj {row['obj']:.3f} cls {row['cls']:.3f})")
        if held and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
            model.eval()
            figures = measure(predict, held, ds.classes, cfg.input_hw)
            row["recall"], row["precision"] = figures["all"]["recall"], figures["all"]["precision"]
            line += f"; held-out {holdout} recall {row['recall']} precision {row['precision']}"
        history.append(row)
        progress(line)
    model.eval()
    seconds = time.perf_counter() - t_start
    result = TrainResult(out=Path(out), classes=ds.classes, cameras=cameras, holdout=holdout, epochs=cfg.epochs,
                         train_images=len(train_s), holdout_images=len(held), seconds=seconds,
                         seconds_per_epoch=train_seconds / cfg.epochs, figures=figures,
                         figures_before=figures_before, history=history)
    export_onnx(model, Path(out), cfg.input_hw, ds.classes, result.metadata(cfg))
    if held:
        progress(f"held-out {holdout} after {cfg.epochs} epochs (IoU 0.5, score >= 0.3):\n" + format_figures(figures))
    progress(f"trained in {seconds / 60:.1f} min; exported {out}")
    return result


def result_json(result: TrainResult) -> str:
    d = asdict(result)
    d["out"] = str(result.out)
    return json.dumps(d, indent=1)
