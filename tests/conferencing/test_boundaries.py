"""The relay runs without the hub: no conferencing module pulls in the database or FastAPI."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The demo hook that starts relays from the hub's data lives in the hub (ioc/demo_relays.py).
RELAY_MODULES = [
    "contract.tokens", "conferencing.exceptions", "conferencing.config", "conferencing.protocol",
    "conferencing.forwarding", "conferencing.media", "conferencing.room", "conferencing.server",
    "conferencing.cascade", "conferencing.client", "conferencing.attendance", "conferencing.recording",
    "conferencing.pattern", "ioc.cli.relay",
]
FORBIDDEN = ("psycopg", "ioc.db", "ioc.services", "fastapi", "ioc.api")


@pytest.mark.parametrize("module", RELAY_MODULES)
def test_relay_module_does_not_import_the_hub(module: str) -> None:
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        f"bad = sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r})); print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "", f"{module} imports {out.stdout.strip()}"
