"""The import graph around the hub (issue 13): the hub process loads no media library, and
the processes below it (analytics, edge, video, conferencing) import no hub module.

The contract's own boundary is tests/contract/test_boundaries.py; the relay's (no
database, no FastAPI) is tests/conferencing/test_boundaries.py.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MEDIA = ("cv2", "aiortc", "av", "numpy", "onnxruntime", "torch")
LOWER = ("analytics", "edge", "video", "conferencing")


def _modules(package: str) -> list[str]:
    names = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__main__":  # running it would start the process
            continue
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


LOWER_MODULES = [m for package in LOWER for m in _modules(package)]

HUB_PROCESS = """
import json, secrets, sys
from ioc.cli import _register_all
_register_all()                      # what `ioc hub` does before it builds the app
from ioc.api.app import create_app
from ioc.settings import Settings
create_app(Settings(database_url="postgresql://postgres@127.0.0.1:5432/none", secret_key=secrets.token_hex(32),
                    relay_secret=secrets.token_hex(32), migrate_on_start=False, nats_url=None))
print(json.dumps(sorted(m for m in %r if m in sys.modules)))
""" % (MEDIA,)


def test_hub_process_loads_no_media_library() -> None:
    out = subprocess.run([sys.executable, "-c", HUB_PROCESS], capture_output=True, text=True, timeout=120,
                         check=True, cwd=ROOT).stdout
    assert json.loads(out.strip().splitlines()[-1]) == [], "the hub process loaded a media library"


def test_every_lower_package_is_listed() -> None:
    assert {m.split(".")[0] for m in LOWER_MODULES} == set(LOWER)
    assert len(LOWER_MODULES) > 40


def _hub_imports(module: str) -> list[str]:
    """`ioc` imports anywhere in the module's source, at the top or inside a function."""
    path = ROOT / Path(*module.split("."))
    source = path.with_suffix(".py") if path.with_suffix(".py").exists() else path / "__init__.py"
    found = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "ioc"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "ioc":
            found.append(node.module or "")
    return found


@pytest.mark.parametrize("module", LOWER_MODULES)
def test_lower_module_imports_no_hub_module(module: str) -> None:
    assert _hub_imports(module) == [], f"{module} imports the hub"


@pytest.mark.parametrize("package", LOWER)
def test_lower_package_loads_no_hub_module(package: str) -> None:
    """Every module of the package imported in one process: no `ioc` module gets loaded
    (catches what the source check cannot see, e.g. importlib by name)."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {_modules(package)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'ioc' or m.startswith('ioc.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [], f"{package} loads hub modules"
