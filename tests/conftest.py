"""Shared test fixtures: where the real data lives and how to demand a service.

Tests use real parts (DESIGN.md convention 8). A test that needs a service calls
`require_service`, which fails (never skips) when the service is unreachable.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()
ARTIFACTS = ROOT / "test-artifacts"


def require_service(host: str, port: int, name: str) -> None:
    """Fail the test with a clear message when a TCP service is not listening."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        pytest.fail(f"{name} is not reachable at {host}:{port} ({exc}); start it (see .ci/run)")


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder with the real model and videos (../shared/data)."""
    if not (SHARED_DATA / "yolox_nano.onnx").exists():
        pytest.fail(f"real test data missing: expected {SHARED_DATA} (see shared/data/README.md)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave screenshots and reports for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
