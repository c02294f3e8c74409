"""Maps hub errors to HTTP answers: `{"detail": "<clear message>"}` with the right status."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import DataError, OperationalError
from psycopg_pool import PoolTimeout
from pydantic import ValidationError

from ioc import exceptions as exc
from ioc.db.pool import RETRY_AFTER_S

_STATUS: list[tuple[type[exc.IocError], int]] = [
    (exc.EvidenceHashMismatch, 400),
    (exc.MalformedBody, 400),
    (exc.InvalidInput, 422),
    (exc.NotAuthenticated, 401),
    (exc.PermissionDenied, 403),
    (exc.NotFound, 404),
    (exc.Conflict, 409),
    (exc.TooLarge, 413),
    (exc.RateLimited, 429),
    (exc.DatabaseError, 503),
    (exc.BrokerError, 503),
]


def status_of(error: exc.IocError) -> int:
    """The HTTP status for a hub error (500 for anything unmapped)."""
    for cls, code in _STATUS:
        if isinstance(error, cls):
            return code
    return 500


async def _ioc_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, exc.IocError)
    headers = {}
    if isinstance(error, exc.NotAuthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, exc.RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, (exc.DatabaseError, exc.BrokerError)):
        headers["Retry-After"] = str(RETRY_AFTER_S)
    return JSONResponse({"detail": str(error)}, status_code=status_of(error), headers=headers)


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {err.get('msg')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


async def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = list(error.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        ctx = errors[0].get("ctx", {})
        return JSONResponse(
            {"detail": f"malformed JSON: {ctx.get('error', 'cannot parse body')}", "errors": _plain(errors)},
            status_code=400,
        )
    return JSONResponse({"detail": _describe(errors), "errors": _plain(errors)}, status_code=422)


def _plain(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # pydantic puts exception objects in ctx; keep the answer JSON-serialisable.
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg")), "type": e.get("type")} for e in errors]


async def _model_error(_: Request, error: Exception) -> JSONResponse:
    # A model built inside a handler from request values (a filter, a query) refused
    # them: the client's input, not a server fault.
    assert isinstance(error, ValidationError)
    errors = list(error.errors())
    return JSONResponse({"detail": _describe(errors), "errors": _plain(errors)}, status_code=422)


async def _data_error(_: Request, error: Exception) -> JSONResponse:
    # Last line of defence: a value PostgreSQL cannot hold (NUL, an out-of-range number,
    # text it cannot encode) that slipped past validation is the request's fault: 422,
    # never a 500. The checks in front (guards.NulGuard, events.storable) should catch
    # each such value first with a precise message.
    assert isinstance(error, DataError)
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return JSONResponse({"detail": f"a value of this request cannot be stored: {first}"}, status_code=422)


async def _database_away(_: Request, error: Exception) -> JSONResponse:
    # No pooled connection within POOL_WAIT_S, or the connection broke mid-request: the
    # database is away (down, blocked, overloaded). A quick 503 with Retry-After lets an
    # edge keep its outbox and retry later, and a page say "try again" (issue 8, item 11).
    what = "no database connection free within the wait" if isinstance(error, PoolTimeout) else "the database connection failed"
    return JSONResponse({"detail": f"the database is unavailable ({what}); retry later"}, status_code=503,
                        headers={"Retry-After": str(RETRY_AFTER_S)})


_ERROR_SCHEMAS: dict[str, Any] = {
    # What every 422 (and the 400 of malformed JSON) actually carries: one readable
    # `detail` string, and for validation errors the list of them under `errors`.
    # FastAPI's default declares `detail` as that list, which no answer matches.
    "HTTPValidationError": {
        "title": "HTTPValidationError", "type": "object", "required": ["detail"],
        "properties": {
            "detail": {"title": "Detail", "type": "string", "description": "what is wrong, in one sentence"},
            "errors": {"title": "Errors", "type": "array", "items": {"$ref": "#/components/schemas/ValidationError"},
                       "description": "each refused value, when the request failed validation"},
        },
    },
    "ValidationError": {
        "title": "ValidationError", "type": "object", "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {"title": "Location", "type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"title": "Message", "type": "string"},
            "type": {"title": "Error Type", "type": "string"},
        },
    },
}


def _declare_error_shape(app: FastAPI) -> None:
    """Make the OpenAPI schema of a 422 the shape the handlers above answer (issue 8, item 16)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(_ERROR_SCHEMAS)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Register the handlers on an app, and declare their answers' shape in its OpenAPI schema."""
    _declare_error_shape(app)
    app.add_exception_handler(exc.IocError, _ioc_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValidationError, _model_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(PoolTimeout, _database_away)
    app.add_exception_handler(OperationalError, _database_away)
