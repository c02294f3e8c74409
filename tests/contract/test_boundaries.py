"""The contract is the bottom of the import graph: it imports no other package of the project."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROJECT = ("ioc", "analytics", "edge", "video", "conferencing", "web", "bench")
MODULES = ["contract", "contract.config", "contract.envelope", "contract.ids", "contract.evidence_verify", "contract.storable",
           "contract.exceptions", "contract.tokens", "contract.backoff", "contract.plates.grammar", "contract.plates.provinces"]


@pytest.mark.parametrize("module", MODULES)
def test_contract_imports_no_project_package(module: str) -> None:
    code = (f"import json, sys, {module}; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in %r)))" % (PROJECT,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [], f"{module} pulls in project packages"


@pytest.mark.parametrize("module", MODULES)
def test_contract_imports_no_media_library(module: str) -> None:
    code = (f"import json, sys, {module}; "
            "print(json.dumps(sorted(m for m in ('cv2', 'av', 'aiortc', 'numpy', 'fastapi', 'psycopg') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_storable_docstring() -> None:
    import doctest

    import contract.storable

    result = doctest.testmod(contract.storable)
    assert result.attempted > 0 and result.failed == 0
