"""Issue 8 item 16: what the API declares is what it answers, and it loads nothing from a CDN.

Before, every 422 answered `{"detail": "<string>", "errors": [...]}` while the OpenAPI
schema declared `detail` as an array of errors (FastAPI's default), and `/docs` served
a page pulling Swagger UI from cdn.jsdelivr.net (an offline centre has no CDN). Now the
declared 422 schema is the answered one, and `/docs` and `/redoc` are off, while
`/openapi.json` stays.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.ioc.conftest import Factory, Hub


def _matches(body: Any, schema: dict[str, Any], components: dict[str, Any]) -> list[str]:
    """Problems of `body` against the small subset of JSON Schema the error schemas use."""
    if "$ref" in schema:
        return _matches(body, components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "anyOf" in schema:
        return [] if any(not _matches(body, s, components) for s in schema["anyOf"]) else [f"{body!r}: no anyOf fits"]
    kind = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "integer": int}
    if kind and not isinstance(body, types[kind]):
        return [f"{body!r:.80} is not {kind}"]
    problems = []
    if kind == "object":
        problems += [f"missing {k}" for k in schema.get("required", []) if k not in body]
        for key, sub in schema.get("properties", {}).items():
            if key in body:
                problems += [f"{key}: {p}" for p in _matches(body[key], sub, components)]
    if kind == "array":
        for item in body:
            problems += _matches(item, schema.get("items", {}), components)
    return problems


# (method, path, json body or None, who) — each answers 422 on purpose.
BAD_REQUESTS = [
    ("GET", "/api/v1/events?limit=-5", None, "viewer"),
    ("GET", "/api/v1/events?since=not-a-time", None, "viewer"),
    ("GET", "/api/v1/events?q=%00", None, "viewer"),
    ("POST", "/api/v1/auth/login", {"username": 5}, None),
]


@pytest.mark.parametrize(("method", "path", "body", "who"), BAD_REQUESTS, ids=[f"{m} {p}" for m, p, _, _ in BAD_REQUESTS])
async def test_a_422_matches_the_declared_schema(
    hub: Hub, make: Factory, method: str, path: str, body: Any, who: str | None
) -> None:
    schema = (await hub.client.get("/openapi.json")).json()
    components = schema["components"]["schemas"]
    declared = components["HTTPValidationError"]
    assert declared["properties"]["detail"]["type"] == "string"
    headers = {}
    if who:
        tree = await make.tree()
        headers = (await make.user(who, tree.province)).headers
    r = await hub.client.request(method, path, json=body, headers=headers)
    assert r.status_code == 422, r.text
    assert _matches(r.json(), declared, components) == [], r.text


async def test_every_declared_422_uses_the_error_schema(hub: Hub) -> None:
    schema = (await hub.client.get("/openapi.json")).json()
    refs = set()
    for item in schema["paths"].values():
        for op in item.values():
            content = op.get("responses", {}).get("422", {}).get("content", {})
            for media in content.values():
                refs.add(media.get("schema", {}).get("$ref"))
    assert refs <= {"#/components/schemas/HTTPValidationError"}, refs


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_no_page_loads_a_cdn(hub: Hub, path: str) -> None:
    r = await hub.client.get(path)
    assert r.status_code == 404
    assert "cdn." not in r.text
    assert (await hub.client.get("/openapi.json")).status_code == 200
