"""`ioc edge` (run the edge worker), `ioc edge check` and `ioc models install|fetch|list`.

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
models_app = typer.Typer(name="models", help="Install or download detector models (checked by SHA-256).",
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
        if isinstance(detector, YoloxConfig) and not detector.model.is_file():
            bad += 1
            typer.secho(f"FAIL {camera.id}: model {detector.model} not found "
                        "(`ioc models fetch yolox-nano` installs it)", fg="red")
            continue
        if not camera.enabled:
            typer.echo(f"skip {camera.id}: disabled")
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
    if bad:
        typer.secho(f"{bad} problem(s)", fg="red")
        raise typer.Exit(1)
    typer.echo(f"{config}: {len(site.cameras)} camera(s) ok")


@models_app.command("install")
def models_install(path: Path = typer.Argument(..., help="model file to install", dir_okay=False)) -> None:
    """Install a model file whose SHA-256 is on the known list under IOC_DATA_DIR/models."""
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
    """Known models and whether each is installed."""
    from edge.models import KNOWN_MODELS, installed

    for spec in KNOWN_MODELS.values():
        where = installed(spec.name)
        typer.echo(f"{spec.name:12} {spec.sha256}  {where or 'not installed'}")


def register(app: typer.Typer) -> None:
    """Add the `edge` and `models` groups to the `ioc` app."""
    app.add_typer(edge_app, name="edge")
    app.add_typer(models_app, name="models")
