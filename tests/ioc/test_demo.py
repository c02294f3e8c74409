"""`ioc demo` end to end as a real process: embedded PostgreSQL (pgserver, as the user
running the tests — root on CI), seeded province, hub, printed passwords; Ctrl-C stops
everything, the database server included."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import free_port


@pytest.mark.slow
def test_demo_runs_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    data = Path("/tmp") / f"iocdemo-{os.getpid()}-{port}"  # short: the socket lives in it
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ioc.cli", "demo", "--port", str(port), "--data-dir", str(data)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "IOC demo is running" not in log.read_text():
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
        text = log.read_text()
        assert f"http://127.0.0.1:{port}/wall/1" in text and f"http://127.0.0.1:{port}/console" in text
        password = re.search(r"admin\s+/ (\S+)", text).group(1)  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
        token = httpx.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": password}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        units = httpx.get(f"{base}/api/v1/units", headers=headers).json()
        assert [u["level"] for u in units].count("commune") == 4 and [u["level"] for u in units].count("district") == 2
        cams = httpx.get(f"{base}/api/v1/cameras", headers=headers).json()
        assert len(cams) >= 4
        kpis = httpx.get(f"{base}/api/v1/metrics/latest", headers=headers).json()["items"]
        assert {k["series"] for k in kpis} >= {"dvc.on_time_rate"}
        postmaster = int((data / "pg" / "postmaster.pid").read_text().split()[0])
        assert psutil.pid_exists(postmaster)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, log.read_text()[-3000:]
    assert "embedded PostgreSQL stopped" in log.read_text()
    for _ in range(50):
        if not psutil.pid_exists(postmaster):
            break
        time.sleep(0.1)
    assert not psutil.pid_exists(postmaster)
    shutil.rmtree(data, ignore_errors=True)
