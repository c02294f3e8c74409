"""Settings: IOC_* variables, and no default secret outside demo mode."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ioc.settings import DEMO_SECRET, Settings

STRONG = "9f2c4e7a1b3d5f60718293a4b5c6d7e8f9a0b1c2"  # hex, as `openssl rand -hex 20` prints


@pytest.mark.parametrize(("env", "words"), [
    ({}, "IOC_SECRET_KEY is the built-in demo value"),
    ({"IOC_SECRET_KEY": STRONG}, "IOC_RELAY_SECRET is the built-in demo value"),
    ({"IOC_SECRET_KEY": "short", "IOC_RELAY_SECRET": STRONG}, "at least 32 characters"),
    # 36 times `a` passed the length rule as both secrets (issue 8, defect 13).
    ({"IOC_SECRET_KEY": "a" * 36, "IOC_RELAY_SECRET": STRONG}, "IOC_SECRET_KEY looks guessable"),
    ({"IOC_SECRET_KEY": STRONG, "IOC_RELAY_SECRET": "a" * 36}, "IOC_RELAY_SECRET looks guessable"),
    ({"IOC_SECRET_KEY": "ab" * 18, "IOC_RELAY_SECRET": STRONG}, "looks guessable"),
    ({"IOC_SECRET_KEY": "abcdefgh" * 5, "IOC_RELAY_SECRET": STRONG}, "looks guessable"),
    ({"IOC_SECRET_KEY": "s" * 40, "IOC_RELAY_SECRET": STRONG}, "looks guessable"),
    ({"IOC_SECRET_KEY": STRONG, "IOC_RELAY_SECRET": STRONG, "IOC_PORT": "70000"}, "less than or equal to 65535"),
])
def test_refused(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], words: str) -> None:
    for key in ("IOC_SECRET_KEY", "IOC_RELAY_SECRET", "IOC_DEMO", "IOC_PORT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=words):
        Settings()


def test_demo_mode_allows_default_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_DEMO", "1")
    monkeypatch.delenv("IOC_SECRET_KEY", raising=False)
    assert Settings().secret_key.get_secret_value() == DEMO_SECRET


def test_reads_ioc_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"IOC_SECRET_KEY": STRONG, "IOC_RELAY_SECRET": STRONG, "IOC_DATABASE_URL": "postgresql://db/ioc",
           "IOC_NATS_URL": "nats://n:4222", "IOC_DATA_DIR": "/srv/ioc", "IOC_HOST": "0.0.0.0", "IOC_PORT": "9000"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = Settings()
    assert (s.database_url, s.nats_url, str(s.data_dir), s.host, s.port) == (
        "postgresql://db/ioc", "nats://n:4222", "/srv/ioc", "0.0.0.0", 9000)
    assert STRONG not in repr(s)  # secrets are not printed
