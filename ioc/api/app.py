"""The FastAPI app factory of the hub.

The lifespan owns every async resource: it applies pending migrations, opens the
connection pool and starts the broker, and closes them in reverse order.

Example::

    app = create_app(Settings(database_url="postgresql://postgres@127.0.0.1/ioc", demo=True))
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import importlib
import logging
import gc
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import ioc
import web
from ioc.api import errors
from ioc.api.audit_denied import DeniedAudit
from ioc.api.auth import install_log_redaction
from ioc.api.csrf import CsrfGuard
from ioc.api.guards import NulGuard
from ioc.api.observability import HubMetrics
from ioc.api.ratelimit import LoginLimiter
from ioc.broker import Broker, make_broker
from contract.envelope import Event
from ioc.db import upgrade
from ioc.db.app_login import open_app_pool
from ioc.exceptions import ConfigError
from ioc.settings import Settings, get_settings

log = logging.getLogger(__name__)

# Hub routers, always present.
_ROUTERS = ("auth", "events", "evidence", "cameras", "edges", "metrics", "admin", "ws", "health")
# Routers of other areas, included when their module exists.
_OPTIONAL_ROUTERS = ("ioc.api.pages", "ioc.api.review", "ioc.api.meetings")


def create_app(settings: Settings | None = None, *, broker: Broker | None = None) -> FastAPI:
    """Build the hub app. `settings` default to the environment's; `broker` to the one
    the settings choose (in-memory, or NATS when `nats_url` is set)."""
    settings = settings or get_settings()
    if not settings.database_url:
        raise ConfigError("IOC_DATABASE_URL is not set (or run `ioc demo` for an embedded database)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            applied = await upgrade(settings.database_url)  # type: ignore[arg-type]
            if applied:
                log.info("applied migrations %s", applied)
        app.state.pool = await open_app_pool(settings)  # IOC_APP_DATABASE_URL: not the owner
        app.state.broker = broker or make_broker(settings)
        try:
            await app.state.broker.start()
            # Everything alive now (FastAPI, pydantic schemas, numpy, OpenCV: ~200,000
            # objects) lives as long as the process. Freezing it keeps full collections,
            # which ingest batches trigger, from scanning it: hub CPU 29 -> 22 us per event
            # in bench.ingest (docs/hub.md).
            gc.freeze()
            yield
        finally:
            await app.state.broker.close()
            await app.state.pool.close()

    app = FastAPI(
        title="IOC hub",
        version=ioc.__version__,
        description="Events, evidence, live stream and KPIs of the provincial operations centre.",
        lifespan=lifespan,
        # Swagger UI and ReDoc load their JavaScript from a CDN, which an offline centre
        # cannot reach (and which would run third-party code on the hub's origin): off.
        # The schema stays at /openapi.json for any local viewer (issue 8, item 16).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = HubMetrics()
    app.state.login_limiter = LoginLimiter(attempts=settings.login_attempts, window_s=settings.login_window_s,
                                           address_attempts=settings.login_attempts_per_address)
    install_log_redaction()
    errors.install(app)
    app.add_middleware(NulGuard)
    app.add_middleware(CsrfGuard)
    app.add_middleware(DeniedAudit)  # outside CsrfGuard: its refusals are audited too
    if settings.trusted_proxies:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        # Outermost, so every part of the hub sees the client behind a trusted proxy.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    for name in _ROUTERS:
        app.include_router(importlib.import_module(f"ioc.api.{name}").router)
    for module_name in _OPTIONAL_ROUTERS:
        module = _optional(module_name)
        if module is not None:
            app.include_router(module.router)
    _document_envelope(app)
    # check_dir=False: the web area may not have shipped static files yet.
    app.mount("/static", StaticFiles(directory=str(web.STATIC_DIR), check_dir=False), name="static")
    return app


def _document_envelope(app: FastAPI) -> None:
    """Put the event envelope in the OpenAPI components: `POST /api/v1/events` parses its
    body itself (fast path plus per-event errors), so FastAPI does not see the model."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        event = Event.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(event.pop("$defs", {}))
        components["Event"] = event
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _optional(module_name: str) -> object | None:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
