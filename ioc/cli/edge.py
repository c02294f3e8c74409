"""`ioc edge` (run the edge worker), `ioc edge check`, `ioc edge replay` and `ioc models install|fetch|list|train`.

The hub's CLI module adds `ioc edge register` to the `edge` group defined here
(`edge_app`), which is why `ioc.cli` registers this module first.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Optional

import typer

from edge.exceptions import ConfigError, ModelError

log = logging.getLogger(__name__)

edge_app = typer.Typer(name="edge", help="Run the edge worker of a site, or check its config.",
                       invoke_without_command=True, no_args_is_help=False)
models_app = typer.Typer(name="models", help="Install, download or train detector models (checked by SHA-256).",
                         no_args_is_help=True)


@edge_app.callback()
def edge(ctx: typer.Context,
         config: Optional[Path] = typer.Option(None, "--config", "-c", help="site YAML file", dir_okay=False)) -> None:
    """Run the edge worker: `ioc edge --config site.yaml` (Ctrl-C stops it cleanly)."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(2)
    from edge.config import load_site
    from edge.worker import EdgeWorker

    try:
        site, problems = load_site(config, strict=False)
    except ConfigError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    for messages in problems.cameras.values():
        for message in messages:
            typer.secho(f"camera left out: {message}", fg="yellow", err=True)
    worker = EdgeWorker(site, problems)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    typer.echo(f"edge {site.edge.id}: {len(worker.pipelines)} camera(s) running; preview {worker.preview_url or 'off'}")
    stop.wait()
    typer.echo("stopping...")
    worker.stop()


@edge_app.command("check")
def check(config: Path = typer.Argument(..., help="site YAML file", dir_okay=False),
          open_timeout: float = typer.Option(10.0, help="seconds to wait for each source")) -> None:
    """Validate a site file and open each camera source once; exit 1 on any problem."""
    from analytics.detectors import YoloxConfig
    from edge.config import load_site
    from video import CaptureOptions, SourceError, probe

    try:
        site, problems = load_site(config, strict=False)
    except ConfigError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    bad = 0
    for name, messages in problems.cameras.items():
        bad += 1
        typer.secho(f"FAIL {name}: invalid config", fg="red")
        for message in messages:
            typer.echo(f"     {message}")
    for camera in site.cameras:
        detector = site.detector_for(camera)
        if not camera.enabled:  # a disabled camera needs neither its source nor its model now
            typer.echo(f"skip {camera.id}: disabled")
            continue
        if isinstance(detector, YoloxConfig) and not detector.model.is_file():
            bad += 1
            typer.secho(f"FAIL {camera.id}: model {detector.model} not found "
                        "(`ioc models fetch yolox-nano` installs it)", fg="red")
            continue
        try:
            width, height, fps = probe(camera.url, CaptureOptions(open_timeout_s=open_timeout,
                                                                  stall_timeout_s=open_timeout))
        except SourceError as exc:
            bad += 1
            typer.secho(f"FAIL {camera.id}: {exc}", fg="red")
            continue
        rate = f" {fps:.1f} fps" if fps else ""
        typer.secho(f"ok   {camera.id}: {width}x{height}{rate}, detector {detector.type}, "
                    f"{len(camera.scene.rules)} rule(s)", fg="green")
        if isinstance(detector, YoloxConfig):
            from edge.cost import estimate
            from edge.models import ensure_class_map

            ensure_class_map(detector.model)
            try:
                typer.echo(f"     cost: {estimate(detector, camera, width, height).describe()}")
            except Exception as exc:  # onnxruntime's own error types: the model cannot run here
                bad += 1
                typer.secho(f"FAIL {camera.id}: model {detector.model} cannot run: {exc}", fg="red")
    if bad:
        typer.secho(f"{bad} problem(s)", fg="red")
        raise typer.Exit(1)
    typer.echo(f"{config}: {len(site.cameras)} camera(s) ok")


@edge_app.command("replay")
def replay_cmd(config: Path = typer.Argument(..., help="site YAML file", dir_okay=False),
               camera: str = typer.Option(..., "--camera", help="id of the camera whose pipeline runs"),
               source: Path = typer.Option(..., "--source", help="recorded video file to run it on", dir_okay=False),
               out: Optional[Path] = typer.Option(None, "--out", help="folder for events.jsonl, hit images and evidence",
                                                  file_okay=False),
               from_frame: int = typer.Option(0, "--from", min=0, help="first frame (0-based)"),
               to_frame: Optional[int] = typer.Option(None, "--to", min=0, help="last frame (inclusive)"),
               detect_fps: Optional[float] = typer.Option(None, "--detect-fps", min=0.1, max=1000.0,
                                                          help="analysis rate (default: the camera's detect_fps)"),
               start: Optional[str] = typer.Option(None, "--start", help="time of frame 0, ISO 8601 "
                                                   "(default 2025-01-06T08:00:00+07:00)")) -> None:
    """Run one camera's pipeline on a recorded file, frame-exact and as fast as it goes; print each event."""
    from analytics.exceptions import AnalyticsError
    from edge.config import load_site
    from edge.exceptions import EdgeError
    from edge.replay import parse_start, replay

    try:
        site, problems = load_site(config, strict=False)
        result = replay(site, camera, source, out, first_frame=from_frame, last_frame=to_frame, detect_fps=detect_fps,
                        start=parse_start(start), problems=problems, on_event=lambda e: typer.echo(e.line()))
    except (EdgeError, AnalyticsError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(result.summary())


@models_app.command("install")
def models_install(path: Path = typer.Argument(..., help="model file to install", dir_okay=False)) -> None:
    """Install a model file under IOC_DATA_DIR/models: a known SHA-256, or a trained model
    whose card (NAME.card.json beside it) names its SHA-256."""
    from edge.models import install

    try:
        target = install(path)
    except ModelError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"installed {target}")


@models_app.command("fetch")
def models_fetch(name: str = typer.Argument(..., help="model name, e.g. yolox-nano"),
                 url: Optional[str] = typer.Option(None, help="download from here instead of the official release")) -> None:
    """Download a known model, check its SHA-256 and install it under IOC_DATA_DIR/models."""
    from edge.models import fetch

    try:
        target = fetch(name, url=url)
    except ModelError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"installed {target}")


@models_app.command("list")
def models_list() -> None:
    """Known models and whether each is installed; trained models with their data and figures."""
    from edge.models import KNOWN_MODELS, installed, models_dir, trained_models, verify_installed

    for spec in KNOWN_MODELS.values():
        where = installed(spec.name)
        typer.echo(f"{spec.name:12} {spec.sha256}  {where or 'not installed'}")
    for card in trained_models():
        state = verify_installed(card)
        t = card.training
        where = models_dir() / card.filename
        typer.echo(f"{card.name:12} {card.sha256}  {where if state == 'ok' else state.upper() + ': ' + str(where)}")
        typer.echo(f"{'':12} trained: classes {', '.join(card.classes)}; data {t.get('data', '?')}; "
                   f"cameras {', '.join(t.get('cameras') or []) or '?'}, held out {t.get('holdout') or '-'}; "
                   f"{t.get('epochs', '?')} epochs at {'x'.join(str(v) for v in t.get('input_size') or []) or '?'}")
        fig = (t.get("figures") or {}).get("classes") or {}
        if fig:
            parts = [f"{name} R {f['recall'] if f['recall'] is not None else '-'} P {f['precision'] if f['precision'] is not None else '-'}"
                     for name, f in fig.items()]
            typer.echo(f"{'':12} held-out {t.get('holdout')} at IoU 0.5: " + "; ".join(parts))


def _parse_hw(value: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r}: expected HEIGHTxWIDTH, e.g. 384x640") from exc
    return h, w


@models_app.command("train")
def models_train(
    data: Path = typer.Argument(..., help="labelled folder: images/ and labels/ (VOC .xml or YOLO .txt), classes.txt"),
    out: str = typer.Option(..., "--out", help="name of the new model, installed as IOC_DATA_DIR/models/NAME.onnx"),
    fmt: str = typer.Option("voc", "--format", help="label format: voc or yolo"),
    holdout: Optional[str] = typer.Option(None, "--holdout", help="camera held out for measuring (default: the one with fewest images)"),
    epochs: int = typer.Option(20, "--epochs", min=1, max=1000, help="passes over the training images"),
    input_size: str = typer.Option("384x640", "--input-size", help="model input HEIGHTxWIDTH, multiples of 32"),
    batch: int = typer.Option(8, "--batch", min=1, max=256, help="images per step"),
    threads: int = typer.Option(2, "--threads", min=1, max=256, help="CPU threads for PyTorch"),
    camera_pattern: str = typer.Option(r"^([^_]+)_", "--camera-pattern",
                                       help="regex on the file name whose first group is the camera"),
    ignore_unknown: bool = typer.Option(False, "--ignore-unknown", help="drop boxes of classes not in classes.txt"),
    base: Optional[Path] = typer.Option(None, "--base", dir_okay=False,
                                        help="starting YOLOX-Nano ONNX (default: the installed stock yolox-nano)"),
    replace: bool = typer.Option(False, "--replace", help="replace an installed trained model of the same name"),
) -> None:
    """Fine-tune YOLOX-Nano on labelled frames, measure it on a held-out camera, install it."""
    import tempfile

    from edge.models import (KNOWN_MODELS, TrainedModel, check_trained_name, install_trained, installed, models_dir,
                             sha256_file)

    try:
        name = check_trained_name(out)
    except ModelError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    target = models_dir() / f"{name}.onnx"
    if target.exists() and not replace:
        typer.secho(f"{target} exists; choose another --out or pass --replace", fg="red", err=True)
        raise typer.Exit(2)
    base = base or installed("yolox-nano") or models_dir() / KNOWN_MODELS["yolox-nano"].filename
    try:
        from training.exceptions import TrainingError
        from training.train import TrainConfig, prepare, require_torch, train
    except ImportError as exc:  # pragma: no cover - the package ships with ioc
        typer.secho(f"the training package is missing: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    cfg = TrainConfig(data=data, base=base, fmt=fmt, camera_pattern=camera_pattern, holdout=holdout, epochs=epochs,
                      batch=batch, input_hw=_parse_hw(input_size), threads=threads, ignore_unknown=ignore_unknown)
    try:
        prepare(cfg)  # every input check before the minutes of training
        require_torch()
    except TrainingError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    with tempfile.TemporaryDirectory(prefix="ioc-train-") as tmp:
        path = Path(tmp) / f"{name}.onnx"
        try:
            result = train(cfg, path, progress=typer.echo)
        except TrainingError as exc:
            typer.secho(str(exc), fg="red", err=True)
            raise typer.Exit(1) from exc
        card = TrainedModel(name=name, filename=f"{name}.onnx", sha256=sha256_file(path), classes=tuple(result.classes),
                            training=result.metadata(cfg))
        try:
            installed_at = install_trained(path, card, replace=replace)
        except ModelError as exc:
            typer.secho(str(exc), fg="red", err=True)
            raise typer.Exit(1) from exc
    typer.echo(f"installed {installed_at} (sha256 {card.sha256}, classes {', '.join(card.classes)})")


def register(app: typer.Typer) -> None:
    """Add the `edge` and `models` groups to the `ioc` app."""
    app.add_typer(edge_app, name="edge")
    app.add_typer(models_app, name="models")
