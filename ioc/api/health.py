"""`/healthz` (database and broker reachable) and `/metrics` (Prometheus text)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from psycopg import Error as PsycopgError
from psycopg_pool import PoolTimeout

from ioc.api.observability import CONTENT_TYPE

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Database and broker reachable: 200, else 503")
async def healthz(request: Request) -> JSONResponse:
    state = request.app.state
    database = "ok"
    try:
        async with state.pool.connection(timeout=3) as conn:
            await conn.execute("SELECT 1")
    except (PsycopgError, PoolTimeout) as exc:
        database = f"error: {exc}"
    broker = "ok" if await state.broker.ping() else "error: not connected"
    ok = database == "ok" and broker == "ok"
    body = {"status": "ok" if ok else "error", "database": database, "broker": broker, "broker_kind": state.broker.kind}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics (text format)")
async def metrics(request: Request) -> Response:
    state = request.app.state
    state.metrics.ws_clients.set(len(state.broker.fanout))
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)
