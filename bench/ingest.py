"""Ingest throughput: POST /api/v1/events against a raw psycopg COPY, same rows, same table.

A real hub process (`ioc hub`, one uvicorn worker) on a scratch PostgreSQL database receives
batches of 500 envelopes from several concurrent senders with an edge token. The
baseline, measured in the same run, COPYs rows with the same content straight into the
same `events` table over one psycopg connection, 500 rows per transaction (what the
API does per batch, minus HTTP, JSON, validation, scope checks, dedup and fan-out), and
once as a single COPY of everything (the storage ceiling). Rounds alternate
baseline/API so table growth does not favour either. Goal: API ≥ half the batched COPY.

    python -m bench.ingest [--events 20000] [--senders 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb

from bench._hub import HubProcess, declare_cameras, scratch_database, seed_site_blocking
from bench._report import markdown_table, write_section
from contract import new_event_id

BATCH = 500
TYPES = [("traffic.red_light", "warning"), ("traffic.wrong_way", "warning"), ("count.line_crossing", "info"),
         ("security.intrusion", "critical"), ("traffic.no_helmet", "info")]
COPY_SQL = ("COPY events (rx_seq, id, edge, seq, camera, unit, type, severity, ts, payload, evidence)"
            " FROM STDIN")


@dataclass
class Round:
    """One measured pass: how many events, how long, and the rate; for API rounds also the
    time the hub spent inside its ingest handler (from its Prometheus histogram) and the
    CPU time the hub process used (user + system, from /proc)."""

    name: str
    events: int
    seconds: float
    handler_seconds: float | None = None
    hub_cpu_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def make_events(n: int, edge: str, unit: str, cameras: list[str], seq0: int, rng: random.Random) -> list[dict[str, Any]]:
    """`n` realistic envelopes (plates, classes, tracks) from one edge, seq from `seq0`."""
    now = datetime.now(timezone.utc)
    out = []
    for i in range(n):
        type_, severity = TYPES[i % len(TYPES)]
        out.append({
            "id": str(new_event_id()),
            "edge": edge,
            "seq": seq0 + i,
            "camera": cameras[i % len(cameras)],
            "unit": unit,
            "type": type_,
            "severity": severity,
            "ts": (now - timedelta(milliseconds=(n - i) * 5)).isoformat().replace("+00:00", "Z"),
            "payload": {"track": rng.randint(1, 10_000), "class": rng.choice(["car", "motorbike", "truck", "bus"]),
                        "plate": f"{rng.randint(11, 99)}A-{rng.randint(100, 999)}.{rng.randint(10, 99)}",
                        "speed_kmh": round(rng.uniform(20, 90), 1)},
            "evidence": [],
        })
    return out


def copy_rows(events: list[dict[str, Any]], rx0: int) -> list[tuple[Any, ...]]:
    """The same events as `events` table rows, with fresh ids (ids are unique keys)."""
    return [
        (rx0 + i, uuid.UUID(str(new_event_id())), e["edge"], e["seq"], e["camera"], e["unit"], e["type"],
         e["severity"], datetime.fromisoformat(e["ts"].replace("Z", "+00:00")), Jsonb(e["payload"]), Jsonb(e["evidence"]))
        for i, e in enumerate(events)
    ]


def raw_copy(db_url: str, rows: list[tuple[Any, ...]], batch: int | None) -> float:
    """COPY `rows` into events, `batch` rows per transaction (None: one COPY); seconds taken."""
    with psycopg.connect(db_url) as conn:
        started = time.perf_counter()
        step = batch or len(rows)
        for start in range(0, len(rows), step):
            with conn.transaction(), conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
                for row in rows[start:start + step]:
                    copy.write_row(row)
        return time.perf_counter() - started


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def handler_seconds(hub_url: str) -> float:
    """Total seconds the hub has spent storing and publishing batches (`ioc_ingest_batch_seconds_sum`)."""
    for line in httpx.get(hub_url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("ioc_ingest_batch_seconds_sum"):
            return float(line.split()[1])
    raise RuntimeError("the hub's /metrics has no ioc_ingest_batch_seconds_sum")


async def post_all(url: str, token: str, bodies: list[bytes], senders: int) -> tuple[float, int]:
    """POST every body from `senders` concurrent clients; (seconds, events accepted)."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    accepted = 0

    async def sender() -> None:
        nonlocal accepted
        headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            while True:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                response = await client.post("/api/v1/events", content=body, headers=headers)
                response.raise_for_status()
                result = response.json()
                if result["rejected"]:
                    raise RuntimeError(f"hub rejected events: {result['rejected'][:3]}")
                accepted += len(result["accepted"])

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(senders)))
    return time.perf_counter() - started, accepted


def run(events: int, senders: int, rounds: int) -> dict[str, Any]:
    """Measure and return the figures (also printed)."""
    rng = random.Random(7)
    results: list[Round] = []
    with tempfile.TemporaryDirectory() as tmp, scratch_database("bench") as db_url:
        with HubProcess.start(db_url, Path(tmp) / "hub") as hub:
            site = seed_site_blocking(db_url, cameras=8)
            declare_cameras(hub.url, site)
            seq = 1
            rx = 10**12  # far above the hub's own receive sequence
            # Warm up the hub (imports, pool, prepared plans) outside the measurement.
            warm = make_events(BATCH, site.edge_id, site.commune, site.cameras, seq, rng)
            seq += BATCH
            asyncio.run(post_all(hub.url, site.edge_token, [json.dumps({"events": warm}).encode()], 1))
            for r in range(rounds):
                batch = make_events(events, site.edge_id, site.commune, site.cameras, seq, rng)
                seq += events
                rows = copy_rows(batch, rx)
                rx += events
                seconds = raw_copy(db_url, rows, BATCH)
                results.append(Round("raw COPY, 500 rows/transaction", events, seconds))
                print(f"round {r + 1}: raw COPY   {events / seconds:9.0f} rows/s")
                bodies = [json.dumps({"events": batch[i:i + BATCH]}).encode() for i in range(0, events, BATCH)]
                inside, cpu = handler_seconds(hub.url), process_cpu_seconds(hub.proc.pid)
                seconds, accepted = asyncio.run(post_all(hub.url, site.edge_token, bodies, senders))
                cpu = process_cpu_seconds(hub.proc.pid) - cpu
                inside = handler_seconds(hub.url) - inside
                if accepted != events:
                    raise RuntimeError(f"hub accepted {accepted} of {events} events")
                results.append(Round(f"POST /api/v1/events, {senders} senders", events, seconds, inside, cpu))
                print(f"round {r + 1}: API        {events / seconds:9.0f} events/s, hub CPU {cpu / events * 1e6:.1f} µs/event")
            big = copy_rows(make_events(events, site.edge_id, site.commune, site.cameras, seq, rng), rx)
            seconds = raw_copy(db_url, big, None)
            results.append(Round("raw COPY, one transaction", events, seconds))
            print(f"single COPY            {events / seconds:9.0f} rows/s")
            with psycopg.connect(db_url) as conn:
                stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
            expected = BATCH + events * (2 * rounds + 1)
            if stored != expected:
                raise RuntimeError(f"events table holds {stored} rows, expected {expected}")

    def median_rate(prefix: str) -> float:
        return statistics.median(r.rate for r in results if r.name.startswith(prefix))

    api = median_rate("POST")
    hub_cpu_us = statistics.median(r.hub_cpu_seconds / r.events * 1e6 for r in results if r.hub_cpu_seconds is not None)
    copy_batched = median_rate("raw COPY, 500")
    copy_single = median_rate("raw COPY, one")
    return {"results": results, "api": api, "copy_batched": copy_batched, "copy_single": copy_single,
            "hub_cpu_us": hub_cpu_us, "ratio": api / copy_batched, "ratio_single": api / copy_single,
            "events": events, "senders": senders, "rounds": rounds}


def report(fig: dict[str, Any]) -> str:
    """The markdown section for docs/benchmarks.md."""
    rows = [[r.name, r.events, f"{r.seconds:.2f}", f"{r.rate:,.0f}",
             f"{r.seconds / (r.events / BATCH) * 1000:.1f}" if r.name != "raw COPY, one transaction" else "—",
             f"{r.handler_seconds / (r.events / BATCH) * 1000:.1f}" if r.handler_seconds is not None else "—",
             f"{r.hub_cpu_seconds / r.events * 1e6:.1f}" if r.hub_cpu_seconds is not None else "—"]
            for r in fig["results"]]
    verdict = "met" if fig["ratio"] >= 0.5 else "NOT met"
    return (
        f"Real hub process (`ioc hub`: uvicorn, 1 worker, in-memory broker) and PostgreSQL on the same machine; "
        f"{fig['events']:,} events per round in batches of {BATCH}, {fig['senders']} concurrent senders; "
        f"{fig['rounds']} rounds alternating baseline and API.\n\n"
        + markdown_table(["path", "events", "seconds", "events/s", "wall ms per 500", "hub handler ms per 500",
                          "hub CPU µs per event"], rows)
        + f"\n\nMedian API rate **{fig['api']:,.0f} events/s** = **{fig['ratio']:.0%}** of the raw batched COPY "
        f"({fig['copy_batched']:,.0f} rows/s) and {fig['ratio_single']:.0%} of one single COPY "
        f"({fig['copy_single']:,.0f} rows/s). Goal (≥ 50 % of raw COPY): **{verdict}**. "
        f"The hub process used a median **{fig['hub_cpu_us']:.1f} µs of CPU per event** (user + system, "
        "HTTP, JSON, validation, checks, COPY formatting and fan-out included).\n\n"
        "The API path does more than the baseline for each batch: HTTP and JSON, pydantic validation of every "
        "envelope, the edge's camera and unit checks, deduplication through `event_keys`, the receive sequence, "
        "and publishing to the live fan-out; the benchmark client shares the machine's CPU with the hub. "
        "The last column is the hub's own `ioc_ingest_batch_seconds` per batch (summed over concurrent "
        "requests, so with several senders it includes waiting for the ingest lock): the time spent inside "
        "`ioc.services.events.ingest` (validation, dedup through `event_keys`, COPY, commit, publish) as "
        "opposed to HTTP and JSON around it."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per round (multiple of 500)")
    parser.add_argument("--senders", type=int, default=4, help="concurrent HTTP senders")
    parser.add_argument("--rounds", type=int, default=2, help="baseline/API rounds")
    args = parser.parse_args()
    if args.events % BATCH:
        parser.error(f"--events must be a multiple of {BATCH}")
    fig = run(args.events, args.senders, args.rounds)
    print(f"API {fig['api']:,.0f} events/s = {fig['ratio']:.0%} of raw batched COPY ({fig['copy_batched']:,.0f} rows/s); "
          f"hub CPU {fig['hub_cpu_us']:.1f} µs/event")
    path = write_section("ingest", "Ingest: POST /api/v1/events vs raw COPY", report(fig))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
