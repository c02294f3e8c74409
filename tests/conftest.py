"""Shared test fixtures: where the real data lives and how to demand a service.

Tests use real parts (DESIGN.md convention 8). A test that needs a service calls
`require_service`, which fails (never skips) when the service is unreachable.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
# ../shared beside the checkout; IOC_SHARED_DIR when the checkout lies elsewhere (.ci/run sets it).
SHARED_DATA = (Path(os.environ.get("IOC_SHARED_DIR") or ROOT.parent / "shared") / "data").resolve()
ARTIFACTS = ROOT / "test-artifacts"


def require_service(host: str, port: int, name: str) -> None:
    """Fail the test with a clear message when a TCP service is not listening."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        pytest.fail(f"{name} is not reachable at {host}:{port} ({exc}); start it (see .ci/run)")


# ---- database servers: plain PostgreSQL and TimescaleDB (tests/ioc/conftest.py builds on these)
DATABASE_KINDS = ("postgresql", "timescaledb")


def server_url(kind: str) -> str:
    """The admin URL of the test server of `kind` ("postgresql" or "timescaledb"), checked
    to be listening; TimescaleDB missing fails under CI=true, skips elsewhere."""
    if kind == "postgresql":
        url = os.environ.get("IOC_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    else:
        url = os.environ.get("IOC_TEST_TIMESCALE_URL", "")
        if not url:
            why = "IOC_TEST_TIMESCALE_URL is not set (bash ../shared/timescaledb/start.sh prints it; .ci/run sets it)"
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail(why)
            pytest.skip(why)
    parts = urlsplit(url)
    require_service(parts.hostname or "127.0.0.1", parts.port or 5432, "TimescaleDB" if kind != "postgresql" else "PostgreSQL")
    return url


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_databases: run on plain PostgreSQL and on TimescaleDB")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_server" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("db_server", DATABASE_KINDS, indirect=True, scope="session")


@pytest.fixture(scope="session")
def db_server(request: pytest.FixtureRequest) -> str:
    """Admin URL of the server this test runs on: plain PostgreSQL unless parametrised."""
    return server_url(getattr(request, "param", "postgresql"))


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def shared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real model and videos of ../shared/data, as a user's machine holds them once
    installed: a folder of links to every shared file, plus the side class map that
    ``ioc models install`` writes beside the stock YOLOX-Nano (the shared folder is read-only)."""
    if not (SHARED_DATA / "yolox_nano.onnx").exists():
        pytest.fail(f"real test data missing: expected {SHARED_DATA} (see shared/data/README.md)")
    from edge.models import spec_for_hash, write_class_map

    mirror = tmp_path_factory.mktemp("shared-data")
    for entry in SHARED_DATA.iterdir():
        (mirror / entry.name).symlink_to(entry)
    spec = spec_for_hash("e8af074932d4ed7e232278e3055cefcdea3edf178874a3694ae292649fb464dd")
    assert spec is not None
    write_class_map(spec, mirror / "yolox_nano.onnx")
    return mirror


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave screenshots and reports for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _stop_leaked_decoders() -> list[str]:
    """End aiortc decoder threads a test left behind (a receiver never stopped).

    aiortc's decoder threads are not daemons and wait on their queue forever, which
    would keep the test process from exiting. Their worker stops on a None task."""
    import queue

    names = []
    for thread in threading.enumerate():
        args = getattr(thread, "_args", ())
        if thread.name.endswith("-decoder") and len(args) > 1 and isinstance(args[1], queue.Queue):
            args[1].put(None)
            names.append(thread.name)
    return names


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Say which threads a test leaked, and make sure they cannot hang the run's exit."""
    decoders = _stop_leaked_decoders()
    if decoders:
        sys.stderr.write(f"\nwarning: {len(decoders)} aiortc decoder thread(s) were left running by tests\n")
    deadline = time.monotonic() + 5
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    session.config._ioc_stuck_threads = stuck  # type: ignore[attr-defined]
    session.config._ioc_exitstatus = int(exitstatus)  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    stuck = getattr(config, "_ioc_stuck_threads", [])
    if stuck:
        # A leaked non-daemon thread would block interpreter shutdown forever; report it and
        # leave with pytest's own exit status rather than hang CI.
        sys.stderr.write(f"error: non-daemon threads still running at exit: {', '.join(sorted(set(stuck)))}\n")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(getattr(config, "_ioc_exitstatus", 1))
