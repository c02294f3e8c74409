"""Live fan-out: many websocket subscribers on one hub process, a steady event stream.

A real hub process (`ioc hub`: uvicorn, one worker, in-memory broker) on a scratch PostgreSQL
database; an edge posts a steady stream of events through `POST /api/v1/events`; the
subscribers are `websockets` sans-I/O clients in a separate asyncio process, each
logged in as an operator and connected to `WS /ws/events`. For every event and every
subscriber the client process records the receipt time; latency is receipt minus the
moment the POST that carried the event was sent (one clock: same machine).

The baseline, in the same run and on the same hub, is the same stream to a handful of
subscribers: what one event costs end to end when fan-out costs nothing. On a machine
with two cores or more the hub is pinned to one core and the subscribers to another,
so that the hub's CPU per delivery and the clients' CPU are measured apart.
Goal: p99 < 250 ms at 100 events/s to 1,000 subscribers.

    python -m bench.fanout [--clients 250,1000] [--rate 100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import tempfile
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from bench._hub import HubProcess, Site, declare_cameras, scratch_database, seed_site_blocking
from bench._report import markdown_table, write_section
from contract import new_event_id

USER = ("bench_op", "bench-password-1", "operator", "79")
BATCH_EVERY_S = 0.05  # the edge posts every 50 ms, as a busy site's outbox would


# ----------------------------------------------------------------- subscriber process


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Tally:
    """What the subscriber process saw: receipt times per event id, system messages."""

    def __init__(self) -> None:
        self.receipts: dict[str, array] = {}
        self.counts = {"lagged": 0, "heartbeats": 0, "closed": 0}

    def record(self, frame: bytes, now: float) -> None:
        # Envelopes start with their id; slicing is ~50x cheaper than json.loads, and the
        # client process must keep up with 100,000 frames/s beside the hub.
        if frame.startswith(b'{"id":"'):
            event_id = frame[7:43].decode()
            slot = self.receipts.get(event_id)
            if slot is None:
                slot = self.receipts[event_id] = array("d")
            slot.append(now)
        elif b'"system.lagged"' in frame:
            self.counts["lagged"] += 1
        elif b'"system.heartbeat"' in frame:
            self.counts["heartbeats"] += 1


class _Subscriber(asyncio.Protocol):
    """One websocket subscriber on websockets' sans-I/O protocol (handshake, frame parsing,
    pongs and permessage-deflate are the library's): no task, future or queue per frame,
    so that one client process keeps up with 100,000 frames/s beside the hub (websockets'
    asyncio client cost ~6 µs per frame and made the clients, not the hub, the limit)."""

    def __init__(self, ws_url: str, tally: _Tally) -> None:
        # Offer permessage-deflate as every browser does (the hub may decline it).
        self.conn = ClientProtocol(parse_uri(ws_url), extensions=[ClientPerMessageDeflateFactory()], max_size=None)
        self.tally = tally
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closing = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conn.send_request(self.conn.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.conn.receive_data(data)
        for event in self.conn.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    self.tally.record(bytes(event.data), now)
            elif not self.opened.done():  # the handshake's response
                if self.conn.handshake_exc is not None:
                    self.opened.set_exception(self.conn.handshake_exc)
                else:
                    self.opened.set_result(None)
        self._flush()  # pongs, close frames

    def _flush(self) -> None:
        assert self.transport is not None
        for chunk in self.conn.data_to_send():
            if chunk:
                self.transport.write(chunk)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        elif not self.closing:
            self.tally.counts["closed"] += 1

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()


async def _subscribe(ws_url: str, n: int, ready: Any, stop: Any, out: Any) -> None:
    loop = asyncio.get_running_loop()
    tally = _Tally()
    host, port = urlsplit(ws_url).hostname, urlsplit(ws_url).port
    gate = asyncio.Semaphore(50)

    async def open_one() -> _Subscriber:
        async with gate:
            _, sub = await loop.create_connection(lambda: _Subscriber(ws_url, tally), host, port)
            await asyncio.wait_for(sub.opened, 60)
            return sub

    subscribers = await asyncio.gather(*(open_one() for _ in range(n)))
    ready.set()
    while not stop.is_set():
        await asyncio.sleep(0.1)
    for sub in subscribers:
        sub.close()
    out.put(({k: v.tobytes() for k, v in tally.receipts.items()}, tally.counts))


def pin(pid: int, cores: set[int] | None) -> None:
    """Bind every thread of process `pid` to `cores` (no-op for None), so that the hub's
    CPU and the subscribers' CPU are measured apart instead of competing for one core."""
    if not cores:
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread may end meanwhile
            os.sched_setaffinity(int(task.name), cores)


def core_plan() -> tuple[set[int] | None, set[int] | None]:
    """(hub cores, subscriber cores): one core each when the machine has two or more."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return {cores[0]}, {cores[1]}


def subscriber_process(ws_url: str, n: int, ready: Any, stop: Any, out: Any, cores: set[int] | None = None) -> None:
    """Entry point of the client process: `n` websockets until `stop` is set."""
    pin(os.getpid(), cores)
    asyncio.run(_subscribe(ws_url, n, ready, stop, out))


# ----------------------------------------------------------------- publisher


def _envelope(site: Site, seq: int) -> dict[str, Any]:
    from datetime import datetime, timezone

    return {
        "id": str(new_event_id()), "edge": site.edge_id, "seq": seq, "camera": site.cameras[seq % len(site.cameras)],
        "unit": site.commune, "type": "traffic.red_light", "severity": "warning",
        "ts": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "payload": {"plate": f"59-X1 {seq % 1000:03d}.{seq % 100:02d}", "class": "motorbike", "track": seq},
        "evidence": [],
    }


async def publish(
    hub_url: str, site: Site, rate: float, seconds: float, seq0: int
) -> tuple[dict[str, float], int, list[float]]:
    """Post `rate` events/s for `seconds`; returns ({event id: time its POST was sent},
    number of POSTs that failed — their events are left out, seconds each POST took)."""
    sent: dict[str, float] = {}
    took: list[float] = []
    per_batch = max(1, round(rate * BATCH_EVERY_S))
    headers = {"Authorization": "Bearer " + site.edge_token}
    seq = seq0
    posts: list[tuple[list[str], asyncio.Task[httpx.Response]]] = []
    async with httpx.AsyncClient(base_url=hub_url, timeout=60) as client:

        async def post(batch: list[dict[str, Any]]) -> httpx.Response:
            t0 = time.perf_counter()
            answer = await client.post("/api/v1/events", json={"events": batch}, headers=headers)
            took.append(time.perf_counter() - t0)
            return answer

        start = time.perf_counter()
        tick = 0
        while time.perf_counter() - start < seconds:
            batch = [_envelope(site, seq + i) for i in range(per_batch)]
            seq += per_batch
            now = time.time()
            for ev in batch:
                sent[ev["id"]] = now
            # Do not wait for the answer before the next tick: a steady stream, not ping-pong.
            task = asyncio.create_task(post(batch))
            posts.append(([ev["id"] for ev in batch], task))
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * BATCH_EVERY_S - time.perf_counter()))
        answers = await asyncio.gather(*(task for _, task in posts), return_exceptions=True)
    failed = 0
    for (ids, _), answer in zip(posts, answers):
        if isinstance(answer, BaseException) or answer.status_code != 200:
            failed += 1
            for event_id in ids:
                sent.pop(event_id, None)
    return sent, failed, took


# ----------------------------------------------------------------- measurement


@dataclass
class Result:
    """Figures of one fan-out run."""

    clients: int
    rate: float
    seconds: float  # from the first POST to the last receipt
    events: int
    deliveries: int
    lagged: int
    closed: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    hub_cores: float
    client_cores: float
    hub_cpu_s: float
    failed_posts: int
    post_p99_ms: float  # how long the POSTs took (ingest: HTTP, validation, commit, publish)

    @property
    def hub_us_per_delivery(self) -> float:
        """Hub CPU time per delivered message (ingest included), in microseconds."""
        return self.hub_cpu_s / max(1, self.deliveries) * 1e6

    @property
    def expected(self) -> int:
        return self.events * self.clients

    @property
    def deliveries_per_s(self) -> float:
        return self.deliveries / self.seconds


def measure(hub: HubProcess, site: Site, token: str, clients: int, rate: float, seconds: float, seq0: int) -> Result:
    """One run: connect `clients`, stream for `seconds` (after a 2 s warm-up), collect."""
    ctx = mp.get_context("spawn")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    ws_url = hub.url.replace("http://", "ws://") + "/ws/events?token=" + token
    proc = ctx.Process(target=subscriber_process, args=(ws_url, clients, ready, stop, out, core_plan()[1]),
                       daemon=True)
    proc.start()
    try:
        if not ready.wait(timeout=120):
            raise RuntimeError(f"{clients} subscribers did not connect within 120 s")
        asyncio.run(publish(hub.url, site, rate, 2.0, seq0))  # warm-up, not counted (nor checked)
        time.sleep(1.0)
        cpu0, wall0 = (cpu_seconds(hub.proc.pid), cpu_seconds(proc.pid)), time.monotonic()
        sent, failed_posts, took = asyncio.run(publish(hub.url, site, rate, seconds, seq0 + 10**6))
        time.sleep(2.0)  # let the tail arrive
        hub_cpu, client_cpu = cpu_seconds(hub.proc.pid) - cpu0[0], cpu_seconds(proc.pid) - cpu0[1]
        window = time.monotonic() - wall0
        stop.set()
        raw, counts = out.get(timeout=120)
    finally:
        stop.set()
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
    latencies: list[float] = []
    last_receipt = 0.0
    for event_id, sent_at in sent.items():
        blob = raw.get(event_id)
        if blob is None:
            continue
        received = array("d")
        received.frombytes(blob)
        latencies.extend(t - sent_at for t in received)
        last_receipt = max(last_receipt, max(received))
    latencies.sort()
    deliveries = len(latencies)
    if not latencies:
        raise RuntimeError(f"no event reached any subscriber ({failed_posts} POSTs failed)")

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    # Deliveries per second over the time they really took (a hub that falls behind
    # keeps delivering after the publisher has stopped).
    span = max(seconds, last_receipt - min(sent.values()))
    return Result(clients=clients, rate=rate, seconds=span, events=len(sent), deliveries=deliveries,
                  lagged=counts["lagged"], closed=counts["closed"], p50_ms=pct(0.50), p99_ms=pct(0.99),
                  max_ms=latencies[-1] * 1000, hub_cores=hub_cpu / window, client_cores=client_cpu / window,
                  hub_cpu_s=hub_cpu, failed_posts=failed_posts,
                  post_p99_ms=sorted(took)[min(len(took) - 1, int(0.99 * len(took)))] * 1000 if took else 0.0)


def login_token(hub_url: str) -> str:
    response = httpx.post(hub_url + "/api/v1/auth/login", json={"username": USER[0], "password": USER[1]}, timeout=10)
    response.raise_for_status()
    return response.json()["access_token"]


def run(clients: list[int], rate: float, seconds: float, baseline_clients: int) -> list[Result]:
    """Baseline run, then a run per subscriber count, all on one hub."""
    plans = [baseline_clients, *clients]
    results = []
    with tempfile.TemporaryDirectory() as tmp, scratch_database("bench") as db_url:
        with HubProcess.start(db_url, Path(tmp) / "hub") as hub:
            pin(hub.proc.pid, core_plan()[0])
            site = seed_site_blocking(db_url, cameras=8, users=[USER])
            declare_cameras(hub.url, site)
            token = login_token(hub.url)
            for index, n in enumerate(plans):
                r = measure(hub, site, token, n, rate, seconds, seq0=1 + index * 10**7)
                results.append(r)
                print(f"{n:5d} subscribers: {r.deliveries:,}/{r.expected:,} "
                      f"deliveries ({r.deliveries_per_s:,.0f}/s), p50 {r.p50_ms:.0f} ms, p99 {r.p99_ms:.0f} ms, "
                      f"max {r.max_ms:.0f} ms, POST p99 {r.post_p99_ms:.0f} ms, lagged notices {r.lagged}, "
                      f"failed POSTs {r.failed_posts}, "
                      f"CPU hub {r.hub_cores:.2f} / subscribers {r.client_cores:.2f} cores, "
                      f"hub {r.hub_us_per_delivery:.1f} µs per delivery")
    return results


def fanout_us_per_delivery(r: Result, baseline: Result) -> float:
    """Hub CPU per delivery with ingest taken out: the baseline's CPU per event (ingest plus
    its few deliveries, so a slight overestimate of ingest) times this run's events."""
    ingest_s = baseline.hub_cpu_s / max(1, baseline.events) * r.events
    return max(0.0, r.hub_cpu_s - ingest_s) / max(1, r.deliveries) * 1e6


def report(results: list[Result]) -> str:
    """The markdown section for docs/benchmarks.md (`results[0]` is the baseline)."""
    baseline = results[0]
    rows = [[f"{r.clients:,}", f"{r.rate:.0f}", f"{r.events:,}",
             f"{r.deliveries:,} / {r.expected:,}", f"{r.deliveries_per_s:,.0f}", f"{r.p50_ms:.0f}",
             f"{r.p99_ms:.0f}", f"{r.max_ms:.0f}", f"{r.post_p99_ms:.0f}", r.lagged, r.failed_posts, f"{r.hub_cores:.2f}",
             f"{r.client_cores:.2f}", f"{r.hub_us_per_delivery:.1f}",
             "—" if r is baseline else f"{fanout_us_per_delivery(r, baseline):.1f}"]
            for r in results]
    hub_cores, client_cores = core_plan()
    pinning = (f"The hub process is pinned to core {min(hub_cores)} and the subscriber process to core "
               f"{min(client_cores)} (`sched_setaffinity`, as `taskset` does), so that each side's CPU is "
               "measured apart; PostgreSQL and the publisher are not pinned. "
               if hub_cores and client_cores else "One core only: hub and subscribers share it. ")
    full = max(results, key=lambda r: r.clients)
    verdict = "met" if full.p99_ms < 250 and full.deliveries == full.expected else "NOT met"
    need = full.hub_us_per_delivery * full.rate * full.clients / 1e6
    return (
        "Real hub process (`ioc hub`: uvicorn, 1 worker, in-memory broker; PostgreSQL on the same machine). An edge posts "
        f"the stream through `POST /api/v1/events` every {BATCH_EVERY_S * 1000:.0f} ms; subscribers are "
        "`websockets` sans-I/O clients (no task per frame, so the clients keep up) in one separate asyncio "
        "process, logged in as an operator of the province, "
        "offering permessage-deflate as browsers do (`ioc hub` declines it, so the hub's fan-out writes each "
        "event's websocket frame, encoded once, straight to idle clients' sockets: docs/hub.md). "
        "Latency = receipt at the subscriber − the moment the POST carrying the event was sent "
        "(so it includes HTTP, validation, the database commit and the fan-out); \"POST p99\" is how long "
        "the edge's POSTs took, so a spike seen there too comes from ingest (database, machine load), not "
        "fan-out. The first row is the baseline "
        "on the same hub in the same run; its hub CPU per event is what ingest costs, which the last column "
        "takes out to leave the fan-out's own cost per delivery. " + pinning.rstrip() + "\n\n"
        + markdown_table(["subscribers", "events/s", "events", "deliveries / expected", "deliveries/s",
                          "p50 ms", "p99 ms", "max ms", "POST p99 ms", "lagged notices", "failed POSTs", "hub CPU (cores)",
                          "subscribers CPU (cores)", "hub µs per delivery", "fan-out µs per delivery"], rows)
        + f"\n\nGoal (p99 < 250 ms at {full.rate:.0f} events/s to {full.clients:,} subscribers, nothing lost): "
        f"**{verdict}**.\n\n"
        f"At {full.hub_us_per_delivery:.1f} µs of hub CPU per delivery, {full.rate:.0f} events/s to "
        f"{full.clients:,} subscribers needs about {need:.2f} cores in the hub's single event-loop thread "
        "(one process can use at most one). The machine's cores also run PostgreSQL, the publisher and the "
        "subscribers, and other sessions' work: load average when the run ended "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. The CPU columns say how much each side got."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="250,1000",
                        help="websocket subscribers; a comma-separated list measures each (e.g. 250,1000)")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured stream length")
    parser.add_argument("--baseline-clients", type=int, default=10, help="subscribers of the baseline run")
    args = parser.parse_args()
    try:
        clients = [int(n) for n in args.clients.split(",")]
    except ValueError:
        parser.error("--clients must be numbers separated by commas")
    results = run(clients, args.rate, args.seconds, args.baseline_clients)
    path = write_section("fanout", "Live fan-out: websocket subscribers on one hub", report(results))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
