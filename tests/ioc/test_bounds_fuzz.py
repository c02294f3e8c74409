"""Issue 8: a bounded API fuzz run (schemathesis) against the hub's OpenAPI: no 5xx.

Schemathesis generates requests from `/openapi.json` for every operation and sends them
to a real `ioc hub` process, once as an admin and once as a viewer (bearer tokens, so
the CSRF guard does not apply). Any 5xx fails the test with the request that caused it.
The run is bounded in examples per operation and in wall time (FUZZ_SECONDS).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
import warnings
from typing import Any

import httpx
import schemathesis

from tests.ioc.conftest import Factory
from tests.ioc.test_timeouts import hub_process  # noqa: F401  (the `ioc hub` process fixture)

FUZZ_SECONDS = 60.0
EXAMPLES_PER_OPERATION = 25
# Logout (API and page) would revoke the token the rest of the run uses.
SKIP_PATHS = ("/api/v1/auth/logout", "/logout")


def _fuzz(base_url: str, schema_dict: dict[str, Any], headers: dict[str, str], deadline: float
          ) -> tuple[Counter[int], list[str]]:
    from hypothesis.errors import NonInteractiveExampleWarning

    schema = schemathesis.openapi.from_dict(schema_dict)
    sent: Counter[int] = Counter()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIP_PATHS:
            continue
        strategy = operation.as_strategy()
        for _ in range(EXAMPLES_PER_OPERATION):
            if time.monotonic() > deadline:
                return sent, failures
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NonInteractiveExampleWarning)
                case = strategy.example()
            try:
                response = case.call(base_url=base_url, headers=headers, timeout=20)
            except Exception as exc:  # a dropped connection is a failure too
                failures.append(f"{operation.method.upper()} {operation.path}: {type(exc).__name__}: {exc}")
                continue
            sent[response.status_code] += 1
            if response.status_code >= 500:
                failures.append(f"{operation.method.upper()} {case.formatted_path} -> {response.status_code}:"
                                f" {response.text[:200]} (query={case.query!r} body={str(case.body)[:200]!r})")
    return sent, failures


async def test_fuzzing_the_api_as_an_admin_and_a_viewer_gives_no_5xx(
    hub_process: tuple[str, int], make: Factory  # noqa: F811
) -> None:
    host, port = hub_process
    base = f"http://{host}:{port}"
    tree = await make.tree()
    tokens = {}
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        for role in ("admin", "viewer"):
            login = await make.user(role, tree.province, login=False)
            r = await client.post("/api/v1/auth/login",
                                  json={"username": login.user.username, "password": login.password})
            assert r.status_code == 200, r.text
            tokens[role] = r.json()["access_token"]
        schema_dict = (await client.get("/openapi.json")).json()
    deadline = time.monotonic() + FUZZ_SECONDS
    report = []
    for role, token in tokens.items():
        share = deadline - (FUZZ_SECONDS / 2 if role == "admin" else 0)
        sent, failures = await asyncio.to_thread(_fuzz, base, schema_dict, {"Authorization": f"Bearer {token}"}, share)
        report.append((role, sent, failures))
    for role, sent, _ in report:
        print(f"fuzz: {role} sent {sum(sent.values())} requests, by status {dict(sorted(sent.items()))}")
        # Most requests must get past authentication, or the run fuzzed only the 401
        # (what 401s remain are the edge-only endpoints and the login's wrong passwords).
        assert sum(sent.values()) > 100 and sent[401] < sum(sent.values()) / 4, (role, sent)
    problems = [f"{role}: {f}" for role, _, failures in report for f in failures]
    assert not problems, "\n".join(problems[:20])
