"""Issue 8 defect 4 (hub side): one poison event is rejected on its own, never a 500.

PostgreSQL's jsonb cannot hold a NUL character (`\\u0000`, in a value or a key), a lone
UTF-16 surrogate, NaN or Infinity, and deep nesting costs stack in every reader. Each
such event used to fail the whole batch with a 500, so the edge retried the batch
forever and nothing behind it was delivered. Now each is a per-event rejection with its
reason and the rest of the batch is stored. Bodies are written by hand: a broken edge
sends bytes, not Python objects.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import psycopg
import pytest

from tests.ioc.conftest import EdgeLogin, Factory, Hub

# Ingest writes the events hypertable: run on plain PostgreSQL and on TimescaleDB.
pytestmark = pytest.mark.both_databases

DEEP = '{"a":' * 500 + "1" + "}" * 500

# (name, JSON text of the payload, or a callable(event JSON text) -> JSON text, words of the reason)
POISON: list[tuple[str, Any, str]] = [
    ("NUL in a payload string", '{"plate":"59\\u0000X1"}', "NUL"),
    ("NUL in a payload key", '{"pl\\u0000ate":"59X1"}', "NUL"),
    ("NUL deep inside", '{"a":[{"b":["ok","\\u0000"]}]}', "NUL"),
    ("NaN", '{"speed":NaN}', "not a finite number"),
    ("Infinity", '{"speed":Infinity}', "not a finite number"),
    ("-Infinity", '{"speed":-Infinity}', "not a finite number"),
    ("overflowing number", '{"speed":1e999}', "not a finite number"),
    ("lone surrogate", '{"plate":"\\ud800"}', "surrogate"),
    ("lone low surrogate in a key", '{"\\udfff":1}', "surrogate"),
    ("nesting 500", DEEP, "nested"),
    ("NUL in an evidence kind", lambda e: e.replace('"evidence":[]', '"evidence":[{"sha256":"' + "a" * 64
                                                   + '","kind":"over\\u0000view","mime":"image/jpeg"}]'), "NUL"),
    ("NUL in an evidence mime", lambda e: e.replace('"evidence":[]', '"evidence":[{"sha256":"' + "b" * 64
                                                   + '","kind":"overview","mime":"image/\\u0000jpeg"}]'), "NUL"),
]


def _text(make: Factory, edge: EdgeLogin, cam: str, seq: int, payload: str | None = None) -> tuple[str, str]:
    event = make.event(edge, cam, seq=seq, payload="@PAYLOAD@")
    text = json.dumps(event, separators=(",", ":"))
    return event["id"], text.replace('"@PAYLOAD@"', payload if payload is not None else '{"track":1}')


async def _post(hub: Hub, edge: EdgeLogin, texts: list[str]) -> Any:
    body = ('{"events":[' + ",".join(texts) + "]}").encode()
    return await hub.client.post("/api/v1/events", content=body,
                                 headers=edge.headers | {"Content-Type": "application/json"})


@pytest.mark.parametrize(("name", "poison", "words"), POISON, ids=[p[0] for p in POISON])
async def test_a_poison_event_is_rejected_alone_and_the_batch_goes_in(
    hub: Hub, make: Factory, db: psycopg.AsyncConnection, name: str, poison: Any, words: str
) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    before_id, before = _text(make, edge, cam, 1)
    if callable(poison):
        bad_id, bad = _text(make, edge, cam, 2)
        bad = poison(bad)
    else:
        bad_id, bad = _text(make, edge, cam, 2, poison)
    after_id, after = _text(make, edge, cam, 3)
    r = await _post(hub, edge, [before, bad, after])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == [before_id, after_id]
    assert [(x["index"], x["id"]) for x in body["rejected"]] == [(1, bad_id)]
    assert words in body["rejected"][0]["reason"], body["rejected"][0]
    rows = await (await db.execute("SELECT id::text AS id FROM events WHERE edge = %s ORDER BY seq", (edge.id,))).fetchall()
    assert [x["id"] for x in rows] == [before_id, after_id]
    # Alone, it is a 422 with the same per-event reason (the edge parks it), not a 500.
    again_id, again = (bad_id, bad)
    r = await _post(hub, edge, [again])
    assert r.status_code == 422 and r.json()["rejected"][0]["id"] == again_id, r.text


async def test_good_unicode_and_numbers_still_go_in(hub: Hub, make: Factory, db: psycopg.AsyncConnection) -> None:
    tree = await make.tree()
    cam = f"cam-{secrets.token_hex(3)}"
    edge = await make.edge(tree.communes[0], cameras=[(cam, tree.communes[0])])
    payload = '{"place":"Ngã tư Hàng Xanh \\ud83d\\ude97","speed":97.3,"big":1e300,"deep":' + '{"a":' * 20 + "1" + "}" * 20 + "}"
    event_id, text = _text(make, edge, cam, 1, payload)
    r = await _post(hub, edge, [text])
    assert r.status_code == 200 and r.json()["accepted"] == [event_id], r.text
    row = await (await db.execute("SELECT payload FROM events WHERE id = %s", (event_id,))).fetchone()
    assert row["payload"]["place"].endswith("🚗") and float(row["payload"]["big"]) == 1e300
