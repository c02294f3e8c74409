"""The `ioc` command line.

Each area registers its own commands from its own module so that the hub, the edge
worker, the relay and the evidence tools stay independent:

    ioc/cli/hub.py       demo, hub, db, user, unit, replay, edge register
    ioc/cli/edge.py      edge (run), edge check, models
    ioc/cli/relay.py     relay
    ioc/cli/evidence.py  evidence verify
"""

from __future__ import annotations

import importlib
import logging

import typer

app = typer.Typer(
    name="ioc",
    help="IOC — intelligent operations centre: hub, edge worker, relay and tools.",
    no_args_is_help=True,
    add_completion=False,
)

_MODULES = ("edge", "hub", "relay", "evidence")


def _register_all() -> None:
    # Each module exposes register(app); edge goes first because hub adds
    # `edge register` to the edge group it defines.
    for name in _MODULES:
        try:
            module = importlib.import_module(f"ioc.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"ioc.cli.{name}":
                continue
            raise
        module.register(app)


def main() -> None:
    """Entry point of the `ioc` console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Per-request and per-command chatter of libraries drowns what an operator needs to see.
    for noisy in ("httpx", "httpcore", "pgserver", "aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _register_all()
    app()
