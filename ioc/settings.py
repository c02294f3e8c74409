"""Process settings of the hub, read from `IOC_*` environment variables.

Example::

    IOC_DATABASE_URL=postgresql://ioc@db/ioc IOC_SECRET_KEY=$(openssl rand -hex 32) ioc hub

Default secrets are accepted only in demo mode (`IOC_DEMO=1`, set by `ioc demo`), so a
production hub cannot start with a key that is printed in this file.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_SECRET = "ioc-demo-secret-change-me-0123456789abcdef"
DEMO_RELAY_SECRET = "ioc-demo-relay-secret-change-me-0123456789"


class Settings(BaseSettings):
    """Everything the hub reads from its environment.

    Example::

        settings = Settings(database_url="postgresql://postgres@127.0.0.1/ioc", demo=True)
        settings.data_dir / "evidence"
    """

    # Other areas read their own IOC_* variables from the same environment, so unknown
    # variables are ignored here rather than refused.
    model_config = SettingsConfigDict(env_prefix="IOC_", extra="ignore", validate_assignment=True)

    database_url: str | None = Field(
        None, description="PostgreSQL URL; `ioc demo` starts an embedded server when unset"
    )
    nats_url: str | None = Field(None, description="NATS URL; hub replicas share live events through JetStream")
    nats_stream: str = Field("IOC_LIVE", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="JetStream stream name")
    nats_subject: str = Field("ioc.live", pattern=r"^[a-z0-9_.-]{1,64}$", description="subject prefix of live messages")
    secret_key: SecretStr = Field(SecretStr(DEMO_SECRET), description="signs session and API tokens (HS256)")
    relay_secret: SecretStr = Field(SecretStr(DEMO_RELAY_SECRET), description="signs relay join tokens")
    data_dir: Path = Field(Path("var"), description="evidence files and the embedded database live here")
    host: str = Field("127.0.0.1", min_length=1, description="address the hub binds")
    port: int = Field(8000, ge=1, le=65535, description="port the hub binds")
    demo: bool = Field(False, description="demo mode: default secrets allowed, seeded data")
    db_role: str | None = Field(
        None, pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="SET ROLE on every pooled connection, e.g. ioc_app"
    )
    app_database_url: str | None = Field(
        None,
        description="URL the hub's connection pool logs in with: a login role that is a member of ioc_app and"
                    " not the owner (`CREATE ROLE ioc_hub LOGIN PASSWORD '...' IN ROLE ioc_app`), so the app's"
                    " connection cannot RESET ROLE back to the owner; migrations keep IOC_DATABASE_URL",
    )
    migrate_on_start: bool = Field(True, description="apply pending migrations when the hub starts")
    pool_min: int = Field(2, ge=1, le=100, description="minimum database connections")
    pool_max: int = Field(10, ge=1, le=200, description="maximum database connections")
    token_ttl_s: int = Field(12 * 3600, ge=60, le=30 * 86400, description="lifetime of login tokens")
    cookie_secure: bool = Field(False, description="send the session cookie over HTTPS only")
    login_attempts: int = Field(
        5, ge=1, le=1000, description="failed logins allowed per window for one account from one address"
    )
    login_attempts_per_address: int = Field(
        30, ge=1, le=100_000, description="failed logins allowed per window from one address, all accounts together"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list, max_length=100,
        description="addresses or networks of reverse proxies whose X-Forwarded-For/-Proto are believed;"
                    ' none by default: IOC_TRUSTED_PROXIES=\'["10.0.0.5", "10.1.0.0/24"]\'',
    )
    login_window_s: int = Field(60, ge=1, le=3600, description="window of the login rate limit")
    ws_queue: int = Field(256, ge=8, le=100_000, description="live messages buffered per websocket client")
    ws_heartbeat_s: float = Field(15.0, gt=0, le=300, description="seconds between websocket heartbeats")
    evidence_max_bytes: int = Field(64 * 2**20, ge=1024, le=2**32, description="largest evidence file accepted")
    camera_offline_s: int = Field(60, ge=5, le=3600, description="a camera unseen this long is shown offline")
    camera_hosts_allow: list[str] = Field(
        default_factory=list, max_length=200,
        description="networks (CIDR, e.g. 10.20.0.0/16) and host names the hub may open camera streams on"
                    " besides public addresses (URL shares) and an edge's own address (previews);"
                    ' IOC_CAMERA_HOSTS_ALLOW=\'["10.20.0.0/16", "cam-gw.local"]\'',
    )

    @field_validator("camera_hosts_allow")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        from ioc.services.outbound import parse_allow  # the one parser, also used at request time

        parse_allow(value)
        return [v.strip().lower() for v in value]

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError as exc:
                raise ValueError(f"IOC_TRUSTED_PROXIES: {item!r} is not an address or network") from exc
        return [v.strip() for v in value]

    @model_validator(mode="after")
    def _no_default_secret_outside_demo(self) -> "Settings":
        if self.demo:
            return self
        for name, default in (("secret_key", DEMO_SECRET), ("relay_secret", DEMO_RELAY_SECRET)):
            value = getattr(self, name).get_secret_value()
            if value == default:
                raise ValueError(
                    f"IOC_{name.upper()} is the built-in demo value; set a random secret "
                    f"(e.g. `openssl rand -hex 32`) or run in demo mode (IOC_DEMO=1)"
                )
            if len(value) < 32:
                raise ValueError(f"IOC_{name.upper()} must be at least 32 characters")
            if not random_enough(value):
                raise ValueError(
                    f"IOC_{name.upper()} looks guessable (too few different characters or a repeated pattern);"
                    " use a random secret, e.g. `openssl rand -hex 32`"
                )
        return self


SECRET_MIN_BITS = 80


def random_enough(value: str) -> bool:
    """Whether a secret looks random: its Shannon entropy estimate (bits per character
    times length) reaches SECRET_MIN_BITS, and it is no short pattern repeated.

    `openssl rand -hex 16` (32 hex digits) scores 94 to 126 bits, `-hex 32` about 240;
    36 times `a` scores 0, `abab…` 36.
    """
    if re.fullmatch(r"(.{1,16}?)\1+", value, flags=re.DOTALL):
        return False
    counts = Counter(value)
    per_char = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return per_char * len(value) >= SECRET_MIN_BITS and len(counts) >= 8


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings()
