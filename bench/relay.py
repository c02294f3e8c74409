"""Relay benchmark: forwarding encoded media vs aiortc's MediaRelay re-encoding, then the cascade.

Part 1 — one publisher (640x360, 25 fps, VP8, pre-encoded so the publisher costs
nothing) sent through a relay process pinned to one CPU to N lightweight subscribers
(N = 1, 5, 10, 25, 50, 100, added step by step). Two relays in the same run:

- ``forward``: `conferencing.server.Relay` (encoded frames forwarded, never decoded);
- ``mediarelay``: the aiortc way — the relay decodes the publisher's track and hands
  `MediaRelay.subscribe(track, buffered=False)` proxies to every subscriber's sender,
  which encodes VP8 once per subscriber.

For each N: relay CPU (utime+stime from /proc over the window, % of one core), CPU per
subscriber, delivered frame rate (frames reassembled by each subscriber — no decoding:
the subscribers tap aiortc's jitter buffer and count frames), and latency measured by
one extra probe that decodes the barcode (frame index) and compares with the time the
publisher sent that frame; "added" subtracts the same probe's latency on a direct
publisher → probe connection measured in the same run.

Part 2 — the cascade at scale: a province relay and D district relays (separate
processes), a chair publishing at the province and E simulated communes spread over the
districts (tap-only endpoints that count frames and check their VP8 frame tags). For
growing E it records each relay's CPU and the endpoints' frame rate; the per-endpoint
and per-link costs measured here give the load of a 200-endpoint meeting (see the
method in the report).

Run: ``python -m bench.relay`` (about 3 minutes); ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._report import markdown_table, write_section

SECRET = "bench-relay-secret-0123456789abcdef"
STEPS = [1, 5, 10, 25, 50, 100]
FPS = 25
WIDTH, HEIGHT = 640, 360
CLK_TCK = os.sysconf("SC_CLK_TCK")
RESULTS = Path("/tmp/bench-relay-results.json")

logger = logging.getLogger("bench.relay")


# --------------------------------------------------------------------------- relay processes
async def _serve_forward(port: int, unit: str, parent: str | None) -> None:
    from conferencing.config import RelayConfig
    from conferencing.server import Relay

    relay = Relay(RelayConfig(unit=unit, port=port, parent_url=parent, max_participants=1000,
                              parent_rooms=["bench"] if parent else []), secret=SECRET)
    await relay.start()
    await asyncio.Event().wait()


async def _serve_mediarelay(port: int) -> None:
    """A minimal aiortc relay in the documented style: decode once, encode per subscriber."""
    import websockets
    from aiortc import RTCSessionDescription
    from aiortc.contrib.media import MediaRelay

    from conferencing.media import new_peer_connection

    media = MediaRelay()
    source: dict[str, Any] = {}
    pcs = set()

    async def handler(ws: Any) -> None:
        pc = new_peer_connection()
        pcs.add(pc)
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] == "join":
                    await ws.send(json.dumps({"type": "joined", "you": {"id": "x"}, "room": {}}))
                elif msg["type"] == "offer":
                    await pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="offer"))
                    for t in pc.getTransceivers():
                        if t._offerDirection == "recvonly":
                            t.direction = "recvonly"
                            source["video" if t.kind == "video" else "audio"] = t.receiver.track
                        elif t.kind == "video" and "video" in source:
                            t.sender.replaceTrack(media.subscribe(source["video"], buffered=False))
                            t.direction = "sendonly"
                        else:
                            t.direction = "inactive"
                    await pc.setLocalDescription(await pc.createAnswer())
                    await ws.send(json.dumps({"type": "answer", "sdp": pc.localDescription.sdp, "slots": []}))
        finally:
            pcs.discard(pc)
            await pc.close()

    async with websockets.serve(handler, "127.0.0.1", port, max_size=2**20):
        await asyncio.Event().wait()


def spawn_relay(mode: str, port: int, cpu: int | None, unit: str = "bench", parent: str | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "bench.relay", "--serve", mode, "--port", str(port), "--unit", unit]
    if parent:
        cmd += ["--parent", parent]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    log = open(f"/tmp/bench-relay-{unit}-{mode}-{port}.log", "w")  # noqa: SIM115 (lives as long as the process)
    return subprocess.Popen(cmd, env={**os.environ, "IOC_RELAY_SECRET": SECRET}, stdout=log, stderr=log)


def core_share(cpu: int, seconds: float = 2.0) -> float:
    """The share of CPU `cpu` a busy loop pinned to it gets right now (other jobs take the rest)."""
    spin = subprocess.Popen(["taskset", "-c", str(cpu), sys.executable, "-c",
                             f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"])
    time.sleep(0.2)
    c0, t0 = cpu_seconds(spin.pid), time.monotonic()
    time.sleep(seconds - 0.5)
    share = (cpu_seconds(spin.pid) - c0) / (time.monotonic() - t0)
    spin.wait(10)
    return share


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- publisher process
class SharedTimes:
    """Send time per frame index, shared with the publisher process (0.0 = not sent yet)."""

    def __init__(self, array: Any) -> None:
        self.array = array

    def __setitem__(self, index: int, value: float) -> None:
        self.array[index] = value

    def __getitem__(self, index: int) -> float:
        return self.array[index]

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and 0 <= index < len(self.array) and self.array[index] > 0

    def get(self, index: int, default: float | None = None) -> float | None:
        return self.array[index] if index in self else default


def _publisher_main(url: str, join_token: str, packets: list[bytes], array: Any) -> None:
    """The publisher in its own process, so a busy subscriber process cannot delay it."""
    os.sched_setaffinity(0, {1 % os.cpu_count()})
    logging.basicConfig(level=logging.WARNING)

    async def run() -> None:
        from conferencing.client import RelayClient
        from conferencing.pattern import EncodedPatternTrack

        def publish() -> list:
            track = EncodedPatternTrack(packets, fps=FPS)
            track.sent = SharedTimes(array)  # type: ignore[assignment]
            return [(None, track)]

        client = RelayClient(url, join_token, publish=publish, slots=[], name="publisher")
        await client.start()
        await asyncio.Event().wait()

    asyncio.run(run())


def start_publisher(url: str, join_token: str, packets: list[bytes]) -> tuple[Any, SharedTimes]:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    array = ctx.Array("d", len(packets), lock=False)
    proc = ctx.Process(target=_publisher_main, args=(url, join_token, packets, array), daemon=True)
    proc.start()
    return proc, SharedTimes(array)


# --------------------------------------------------------------------------- endpoints
class TapCounter:
    """A subscriber that never decodes: counts reassembled frames and checks VP8 frame tags."""

    def __init__(self, lookup: dict[bytes, int] | None = None, sent: dict[int, float] | None = None) -> None:
        self.frames = 0
        self.bad = 0
        self.last_ts: int | None = None
        # Forwarded frames are the published bytes: knowing them is knowing when they left.
        self.lookup = lookup or {}
        self.sent = sent or {}
        self.latencies: list[float] = []

    def hook(self, slot: int, kind: str, receiver: Any) -> None:
        from conferencing.forwarding import tap_receiver

        if kind == "video":
            tap_receiver(receiver, self._frame)

    def _frame(self, codec: str, data: bytes, timestamp: int) -> None:
        # A VP8 frame tag: 3 bytes, key frames carry the start code 9d 01 2a.
        key = data[0] & 1 == 0 if data else False
        if not data or (key and data[3:6] != b"\x9d\x01\x2a") or (self.last_ts is not None and timestamp < self.last_ts):
            self.bad += 1
        self.last_ts = timestamp
        self.frames += 1
        index = self.lookup.get(data)
        if index is not None and index in self.sent:
            self.latencies.append(time.time() - self.sent[index])


class Probe:
    """Decodes the barcode (frame index) and compares with the publisher's send time."""

    def __init__(self, sent: dict[int, float]) -> None:
        self.sent = sent
        self.latencies: list[float] = []
        self.task: asyncio.Task | None = None

    def on_track(self, slot: int, kind: str, track: Any) -> None:
        if kind == "video":
            self.task = asyncio.ensure_future(self._run(track))

    async def _run(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        from conferencing.pattern import read_pattern

        try:
            while True:
                frame = await track.recv()
                _, index = read_pattern(frame.to_ndarray(format="rgb24"))
                sent = self.sent.get(index)
                if sent is not None:
                    self.latencies.append(time.time() - sent)
        except MediaStreamError:
            pass


def token(sub: str, role: str, room: str = "bench", pub: bool = False) -> str:
    from contract.tokens import issue_join_token

    return issue_join_token(room=room, sub=sub, name=sub, unit="bench", role=role, pub=pub, secret=SECRET)


async def direct_latency(packets: list[bytes], seconds: float) -> tuple[float, float]:
    """(decoding probe, tap) latency on a direct publisher → subscriber connection (no relay)."""
    from aiortc import RTCSessionDescription

    from conferencing.media import new_peer_connection
    from conferencing.pattern import EncodedPatternTrack

    from conferencing.forwarding import tap_receiver

    track = EncodedPatternTrack(packets, fps=FPS)
    probe = Probe(track.sent)
    tap = TapCounter({p: i for i, p in enumerate(packets)}, track.sent)
    a, b, c = new_peer_connection(), new_peer_connection(), new_peer_connection()
    a.addTransceiver(track, direction="sendonly")
    b.on("track", lambda t: probe.on_track(0, t.kind, t))
    # A second, tapping receiver on its own connection from a second sender of the same packets.
    track2 = EncodedPatternTrack(packets, fps=FPS)
    track2.sent = track.sent
    tap.sent = track2.sent
    d = new_peer_connection()
    d.addTransceiver(track2, direction="sendonly")
    await d.setLocalDescription(await d.createOffer())
    await c.setRemoteDescription(RTCSessionDescription(d.localDescription.sdp, "offer"))
    tap_receiver(c.getTransceivers()[0].receiver, tap._frame)
    await c.setLocalDescription(await c.createAnswer())
    await d.setRemoteDescription(RTCSessionDescription(c.localDescription.sdp, "answer"))
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(RTCSessionDescription(a.localDescription.sdp, "offer"))
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(RTCSessionDescription(b.localDescription.sdp, "answer"))
    await asyncio.sleep(seconds)
    for pc in (a, b, c, d):
        await pc.close()
    decoded = statistics.median(probe.latencies[5:]) if len(probe.latencies) > 10 else float("nan")
    tapped = statistics.median(tap.latencies[5:]) if len(tap.latencies) > 10 else float("nan")
    return decoded, tapped


async def join_many(url: str, n: int, start: int, *, slots: list[str], room: str = "bench",
                    timeout: float = 30, lookup: dict[bytes, int] | None = None,
                    sent: dict[int, float] | None = None) -> list[tuple[Any, TapCounter]]:
    from conferencing.client import RelayClient

    out: list[tuple[Any, TapCounter]] = []
    for batch in range(0, n, 10):
        group = []
        for i in range(start + batch, start + min(n, batch + 10)):
            counter = TapCounter(lookup, sent)
            client = RelayClient(url, token(f"s{i}", "viewer", room), slots=slots, receive_audio=False,
                                 on_receiver=counter.hook, name=f"s{i}", reconnect=False)
            await client.start()
            group.append((client, counter))
        try:
            await asyncio.gather(*(c.wait_connected(timeout) for c, _ in group))
        except TimeoutError:
            logger.warning("some subscribers did not connect within %.0f s", timeout)
        out.extend(group)
    return out


async def ingress_frames(mode: str, port: int) -> int | None:
    """Frames the forwarding relay received from the publisher so far (None for the baseline)."""
    if mode != "forward":
        return None
    import httpx

    async with httpx.AsyncClient(timeout=5) as http:
        rooms = (await http.get(f"http://127.0.0.1:{port}/rooms")).json()["rooms"]
    return sum(r["frames_in"] for r in rooms)


async def settle(subs: list[tuple[Any, TapCounter]], limit_s: float = 12.0) -> bool:
    """Wait until subscribers receive at the published rate (no join backlog left)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = [c.frames for _, c in subs]
        t0 = time.monotonic()
        await asyncio.sleep(1.0)
        rate = statistics.mean(c.frames - b for (_, c), b in zip(subs, before)) / (time.monotonic() - t0)
        if abs(rate - FPS) < FPS * 0.1:
            return True
    return False


# --------------------------------------------------------------------------- part 1
async def fanout_run(mode: str, packets: list[bytes], steps: list[int], window: float, relay_cpu: int) -> list[dict]:
    """One relay process, one publisher process, subscribers added step by step; one row per step."""
    from conferencing.client import RelayClient

    port = free_port()
    proc = spawn_relay(mode, port, relay_cpu)
    url = f"ws://127.0.0.1:{port}/ws"
    rows: list[dict] = []
    subs: list[tuple[Any, TapCounter]] = []
    lookup = {p: i for i, p in enumerate(packets)}
    publisher = None
    try:
        await wait_port(port)
        publisher, sent = start_publisher(url, token("pub", "chair", pub=True), packets)
        deadline = time.monotonic() + 30
        while not sent.get(0) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        probe = Probe(sent)  # type: ignore[arg-type]
        probe_client = RelayClient(url, token("probe", "viewer"), slots=["chair"], receive_audio=False,
                                   on_track=probe.on_track, name="probe", reconnect=False)
        await probe_client.start()
        await probe_client.wait_connected(20)
        # Idle cost (publisher + probe) to subtract from the per-subscriber figure.
        await asyncio.sleep(1.0)
        c0, t0 = cpu_seconds(proc.pid), time.monotonic()
        await asyncio.sleep(window / 2)
        idle = (cpu_seconds(proc.pid) - c0) / (time.monotonic() - t0)
        for n in steps:
            subs += await join_many(url, n - len(subs), len(subs), slots=["chair"], timeout=30,
                                    lookup=lookup, sent=sent)  # type: ignore[arg-type]
            steady = await settle(subs)
            counts = [c.frames for _, c in subs]
            probe.latencies.clear()
            for _, c in subs:
                c.latencies.clear()
            in0 = await ingress_frames(mode, port)
            c0, t0, me0 = cpu_seconds(proc.pid), time.monotonic(), cpu_seconds(os.getpid())
            await asyncio.sleep(window)
            elapsed = time.monotonic() - t0
            in1 = await ingress_frames(mode, port)
            ingress = (in1 - in0) / elapsed if in0 is not None and in1 is not None else float("nan")
            cpu = (cpu_seconds(proc.pid) - c0) / elapsed
            client_cpu = (cpu_seconds(os.getpid()) - me0) / elapsed
            fps = [(c.frames - before) / elapsed for (_, c), before in zip(subs, counts)]
            connected = sum(1 for cl, _ in subs if cl.connected.is_set())
            lat = statistics.median(probe.latencies) if probe.latencies else float("nan")
            taps = sorted(x for _, c in subs for x in c.latencies)
            tap_med = taps[len(taps) // 2] if taps else float("nan")
            tap_p95 = taps[int(len(taps) * 0.95)] if taps else float("nan")
            row = {
                "mode": mode, "n": n, "connected": connected, "cpu": cpu, "idle_cpu": idle,
                "cpu_per_sub": max(cpu - idle, 0.0) / n, "fps_mean": statistics.mean(fps), "fps_min": min(fps),
                "latency_ms": lat * 1000, "bad_frames": sum(c.bad for _, c in subs), "client_cpu": client_cpu,
                "steady": steady, "us_per_frame": max(cpu - idle, 0.0) / max(sum(fps), 1e-9) * 1e6,
                "tap_ms": tap_med * 1000, "tap_p95_ms": tap_p95 * 1000, "ingress_fps": ingress,
            }
            rows.append(row)
            print(f"{mode:10s} N={n:3d} conn={connected:3d} in={ingress:4.1f}fps cpu={cpu*100:5.1f}% per-sub={row['cpu_per_sub']*100:5.2f}% "
                  f"fps mean={row['fps_mean']:5.1f} min={row['fps_min']:5.1f} probe latency={lat*1000:6.1f} ms "
                  f"tap latency={tap_med*1000:.1f}/{tap_p95*1000:.1f} ms cost={row['us_per_frame']:.0f} us/frame steady={steady} "
                  f"client cpu={client_cpu*100:.0f}%", flush=True)
        for client, _ in subs:
            await client.stop()
        await probe_client.stop()
    finally:
        if publisher is not None:
            publisher.terminate()
            publisher.join(10)
        proc.terminate()
        proc.wait(10)
    return rows


# --------------------------------------------------------------------------- part 2
async def cascade_run(districts: int, totals: list[int], window: float, packets: list[bytes]) -> list[dict]:
    """Province + district relay processes, the chair at the province, communes added step by step."""

    p_port = free_port()
    procs = {"province": spawn_relay("forward", p_port, 0, unit="province")}
    d_ports = [free_port() for _ in range(districts)]
    for i, port in enumerate(d_ports):
        procs[f"district{i + 1}"] = spawn_relay("forward", port, 0, unit=f"d{i + 1}", parent=f"ws://127.0.0.1:{p_port}/ws")
    rows: list[dict] = []
    subs: list[tuple[Any, TapCounter]] = []
    publisher = None
    try:
        for port in [p_port, *d_ports]:
            await wait_port(port)
        await asyncio.sleep(1.5)  # districts link up
        lookup = {p: i for i, p in enumerate(packets)}
        publisher, sent = start_publisher(f"ws://127.0.0.1:{p_port}/ws", token("chair", "chair", pub=True), packets)
        deadline = time.monotonic() + 30
        while not sent.get(0) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for total in totals:
            # Round-robin over the districts, joined in parallel batches per district.
            need = total - len(subs)
            share = [need // districts + (1 if i < need % districts else 0) for i in range(districts)]
            for i, count in enumerate(share):
                subs += await join_many(f"ws://127.0.0.1:{d_ports[i]}/ws", count, len(subs), slots=["chair"],
                                        timeout=30, lookup=lookup, sent=sent)  # type: ignore[arg-type]
            steady = await settle(subs) if subs else True
            counts = [c.frames for _, c in subs]
            for _, c in subs:
                c.latencies.clear()
            ports = {"province": p_port, **{f"district{i + 1}": port for i, port in enumerate(d_ports)}}
            # Only the province has the chair's stream as a local publisher; districts get it on their link.
            ports = {"province": p_port}
            in0 = {name: await ingress_frames("forward", port) for name, port in ports.items()}
            before = {name: cpu_seconds(p.pid) for name, p in procs.items()}
            t0, me0 = time.monotonic(), cpu_seconds(os.getpid())
            await asyncio.sleep(window)
            elapsed = time.monotonic() - t0
            client_cpu = (cpu_seconds(os.getpid()) - me0) / elapsed
            in1 = {name: await ingress_frames("forward", port) for name, port in ports.items()}
            ingress = {name: ((in1[name] or 0) - (in0[name] or 0)) / elapsed for name in ports}
            cpu = {name: (cpu_seconds(p.pid) - before[name]) / elapsed for name, p in procs.items()}
            fps = [(c.frames - b) / elapsed for (_, c), b in zip(subs, counts)] or [float("nan")]
            row = {
                "endpoints": total, "districts": districts, "cpu": cpu, "fps_mean": statistics.mean(fps),
                "fps_min": min(fps), "below_20fps": sum(1 for f in fps if f < 20), "bad_frames": sum(c.bad for _, c in subs),
                "per_district": total / districts, "client_cpu": client_cpu, "steady": steady, "ingress": ingress,
                "tap_ms": statistics.median(lat) * 1000 if (lat := [x for _, c in subs for x in c.latencies]) else float("nan"),
            }
            rows.append(row)
            cpus = " ".join(f"{k}={v*100:.1f}%" for k, v in cpu.items())
            print(f"cascade E={total:3d} {cpus} fps mean={row['fps_mean']:.1f} min={row['fps_min']:.1f} "
                  f"latency={row['tap_ms']:.1f} ms chair in={ingress['province']:.1f}fps "
                  f"<20fps={row['below_20fps']}", flush=True)
            if row["fps_mean"] < FPS * 0.5:
                print("cascade: endpoints get less than half the frame rate; stopping here", flush=True)
                break
        for client, _ in subs:
            await client.stop()
    finally:
        if publisher is not None:
            publisher.terminate()
            publisher.join(10)
        for p in procs.values():
            p.terminate()
            p.wait(10)
    return rows


# --------------------------------------------------------------------------- report
def _ms(value: float) -> str:
    return "–" if value != value else f"{value:.1f}"  # NaN: not measurable for this relay


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg()) + f" (1/5/15 min, {os.cpu_count()} CPUs)"


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares line y = a + b x."""
    mx, my = statistics.mean(xs), statistics.mean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    return my - b * mx, b


def report(fan: list[dict], direct_ms: float, direct_tap_ms: float, cascade: list[dict], share: float) -> str:
    """The markdown section for docs/benchmarks.md."""
    rows = []
    for r in fan:
        rows.append([r["mode"], r["n"], r["connected"], _ms(r["ingress_fps"]), f"{r['cpu'] * 100:.1f}", f"{r['cpu_per_sub'] * 100:.2f}",
                     f"{r['fps_mean']:.1f}", f"{r['fps_min']:.1f}", f"{r['latency_ms']:.0f}",
                     f"{r['latency_ms'] - direct_ms:.0f}", _ms(r["tap_ms"]), _ms(r["tap_ms"] - direct_tap_ms),
                     _ms(r["tap_p95_ms"]), f"{r['us_per_frame']:.0f}" if r["fps_mean"] >= 1 and r["us_per_frame"] > 0 else "–",
                     f"{r['client_cpu'] * 100:.0f}"])
    fw = [r for r in fan if r["mode"] == "forward"]
    mr = [r for r in fan if r["mode"] == "mediarelay"]

    def held(rows_: list[dict]) -> int:
        # Full frame rate *and* no backlog: a burst above 25 fps is a queue draining, not health.
        return max((r["n"] for r in rows_ if abs(r["fps_mean"] - FPS) <= FPS * 0.1 and r["fps_min"] >= FPS * 0.8
                    and r["latency_ms"] < 250), default=0)
    a, b = fit([r["n"] for r in fw], [r["cpu"] for r in fw]) if len(fw) > 1 else (0.0, 0.0)
    capacity = (1.0 - a) / b if b > 0 else float("inf")

    def cost(rows_: list[dict]) -> float:
        # CPU per delivered frame, median over the steps that delivered frames: robust to
        # other jobs taking part of the pinned core (a starved relay delivers fewer frames).
        costs = [r["us_per_frame"] for r in rows_ if r["fps_mean"] >= 1 and r["us_per_frame"] > 0]
        return statistics.median(costs) if costs else float("nan")

    def per_core(rows_: list[dict]) -> float:
        # Subscribers one full core feeds at 25 fps.
        c = cost(rows_)
        return 1e6 / (c * FPS) if c == c and c > 0 else float("nan")
    text = [
        "One publisher, 640x360, 25 fps, VP8 (pre-encoded, ~500 kbit/s), relay process pinned to one CPU "
        "(`taskset -c 0`), subscribers in the benchmark process on the other CPU. Subscribers do not decode: they "
        "count frames reassembled by aiortc's jitter buffer. Latency two ways: (1) *probe*: one extra subscriber "
        "decodes the barcode (frame index) and compares with the publisher's send time (works for both relays; it "
        "includes the probe's own decode queue); (2) *tap*: every subscriber looks its reassembled frame up among the "
        "published frames (forwarding delivers them byte for byte) — no decoding, all subscribers, forwarding only. "
        f"A direct publisher → subscriber connection in the same run measured **{direct_ms:.0f} ms** (probe) and "
        f"**{direct_tap_ms:.1f} ms** (tap); \"added\" subtracts them. Load average at the end of the run: {_load()}; "
        f"**a busy loop pinned to CPU 0 got {share * 100:.0f}% of it** at the start — the relay can never use more "
        "than the share other jobs leave, so the frame rate falls when the relay's demand passes that share, well "
        "before a whole core is used. The cost per delivered frame (last-but-one column) does not depend on that "
        "share, so capacity per full core is computed from it.",
        "",
        markdown_table(["relay", "N", "connected", "ingress fps", "relay CPU %", "CPU % per sub", "fps mean", "fps min",
                        "probe latency ms", "probe added ms", "tap latency ms", "tap added ms", "tap p95 ms",
                        "relay µs CPU per delivered frame", "subscribers' CPU %"], rows),
        "",
        f"- Held at full frame rate with probe latency under 250 ms in this run, with the share of the core "
        f"other jobs left: forwarding **{held(fw)}** subscribers, MediaRelay re-encoding **{held(mr)}**.",
        "- Delivered/received (relay egress per subscriber over its ingress): "
        + ", ".join(f"N={r['n']}: {r['fps_mean'] / r['ingress_fps']:.2f}" for r in fw if r["ingress_fps"] > 1)
        + " — where the ratio is about 1 the relay forwarded every frame it got, and the frame-rate shortfall or "
        "burst comes from the publisher's process (starved on the shared CPU), not from forwarding.",
        f"- Forwarding CPU fits {a * 100:.1f}% + {b * 100:.2f}% per subscriber of one core, i.e. about "
        f"**{capacity:.0f} subscribers** per core before saturation (linear fit over the steps above).",
        f"- CPU per delivered subscriber-frame (median over the steps): forwarding {cost(fw):.0f} µs, "
        f"MediaRelay {cost(mr):.0f} µs → one full core feeds about "
        f"**{per_core(fw):.0f}** subscribers at 25 fps by forwarding and **{per_core(mr):.0f}** by re-encoding.",
        "- The machine is shared by other jobs (2 cores), so absolute figures are noisy; both relays ran back to back "
        "in the same run.",
    ]
    if cascade:
        text += cascade_report(cascade)
    return "\n".join(text)


def cascade_report(cascade: list[dict]) -> list[str]:
    """The cascade table and the method that turns measured costs into a 200-endpoint figure."""
    keys = sorted(cascade[0]["cpu"])
    dkeys = [k for k in keys if k.startswith("district")]
    idle = cascade[0] if cascade[0]["endpoints"] == 0 else None
    crow = []
    for r in cascade:
        crow.append([r["endpoints"], *(f"{r['cpu'][k] * 100:.1f}" for k in keys),
                     _ms(r["fps_mean"]), _ms(r["fps_min"]), _ms(r["tap_ms"]), r["below_20fps"], r["bad_frames"],
                     f"{r['client_cpu'] * 100:.0f}"])
    loaded = [r for r in cascade if r["endpoints"] > 0 and r["fps_mean"] >= 1]
    base = statistics.mean(idle["cpu"][k] for k in dkeys) if idle else 0.0
    costs = [
        sum(r["cpu"][k] - (idle["cpu"][k] if idle else 0.0) for k in dkeys) / (r["fps_mean"] * r["endpoints"]) * 1e6
        for r in loaded
    ]
    cost = statistics.median(costs) if costs else float("nan")
    per_endpoint = cost * FPS / 1e6  # share of a core per endpoint at 25 fps
    prov = statistics.mean(r["cpu"]["province"] for r in cascade)
    full = [r["endpoints"] for r in loaded if r["fps_mean"] >= FPS * 0.9 and r["tap_ms"] < 250]
    largest = max(full) if full else 0
    per_core = (0.8 - base) / per_endpoint if per_endpoint > 0 else float("nan")
    tg = base + 20 * per_endpoint
    last = cascade[-1]
    return [
        "",
        "### Cascade at scale",
        "",
        f"Province relay + {len(dkeys)} district relays (separate processes, all pinned to CPU 0), a chair "
        "publishing at the province, simulated communes (tap-only endpoints: frames counted, VP8 frame tags and "
        "timestamps checked, never decoded) spread evenly over the districts; the endpoints run in the benchmark "
        "process on the other CPU. The first row has no communes: the relays' idle cost (links, chair stream).",
        "",
        markdown_table(["endpoints", *[f"{k} CPU %" for k in keys], "fps mean", "fps min",
                        "chair → commune latency ms (2 relays, tap)", "endpoints < 20 fps",
                        "bad frames", "endpoints' CPU %"], crow),
        "",
        f"- Largest meeting held at ≥ 90% of the frame rate and < 250 ms in this run: **{largest} endpoints** "
        f"(+ chair); at the last step the busiest relay used {max(last['cpu'].values()) * 100:.0f}% of a core and "
        f"the simulated endpoints {last['client_cpu'] * 100:.0f}% of theirs.",
        f"- **Method for 200 endpoints.** Measured: a district relay's cost per delivered endpoint-frame is "
        f"**{cost:.0f} µs** (CPU above its idle row divided by frames delivered, median over the steps), i.e. "
        f"{per_endpoint * 100:.2f}% of a core per endpoint at 25 fps, on top of an idle cost of {base * 100:.1f}%. "
        f"The province relay ({prov * 100:.1f}% here) carries one link per district, not the communes. So one "
        f"district relay core at 80% serves about **{per_core:.0f} endpoints**, and a 200-endpoint meeting shaped "
        f"like Tiền Giang (1 province + 10 districts × 20 communes) puts each district relay at "
        f"**{tg * 100:.0f}% of a core** and the province at about {prov * 100 / max(len(dkeys), 1) * 10:.0f}% "
        f"(10 links, scaled from {len(dkeys)}). "
        + ("This run also held 200 endpoints outright (last row); the per-endpoint cost tells how far the same "
           "relays would go on whole cores." if largest >= 200 else
           "The figure follows from the measured per-endpoint cost: this 2-core machine cannot also run 200 "
           "simulated endpoints beside the relays."),
    ]


async def main(args: argparse.Namespace) -> None:
    from conferencing.pattern import encode_pattern

    os.sched_setaffinity(0, {1 % os.cpu_count()})
    steps = [1, 5] if args.quick else STEPS
    window = 3.0 if args.quick else args.window
    packets = encode_pattern("vp8", frames=250, width=WIDTH, height=HEIGHT, fps=FPS, bitrate=500_000)
    share = core_share(0)
    print(f"a busy loop pinned to CPU 0 gets {share * 100:.0f}% of it (load average {_load()})", flush=True)
    direct, direct_tap = await direct_latency(packets, 4.0)
    print(f"direct publisher → subscriber latency: probe {direct * 1000:.1f} ms, tap {direct_tap * 1000:.1f} ms", flush=True)
    fan: list[dict] = []
    for mode in [m for m in args.modes.split(",") if m]:
        fan += await fanout_run(mode, packets, steps, window, 0)
    totals = [0, 10, 20] if args.quick else [0, 20, 50, 80, 120, 160, 200]
    cascade = await cascade_run(2, totals, window, packets) if not args.no_cascade else []
    RESULTS.write_text(json.dumps({"fan": fan, "direct": direct, "direct_tap": direct_tap, "cascade": cascade,
                                   "share": share}))
    body = report(fan, direct * 1000, direct_tap * 1000, cascade, share)
    print(body)
    if not args.quick and args.modes == "forward,mediarelay" and not args.no_cascade:
        write_section("relay", "Conferencing relay: forwarding vs re-encoding, cascade at scale", body)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", choices=["forward", "mediarelay"], help="(internal) run one relay process")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--unit", default="bench")
    parser.add_argument("--parent", default=None)
    parser.add_argument("--quick", action="store_true", help="N = 1, 5 only; no report written")
    parser.add_argument("--no-cascade", action="store_true")
    parser.add_argument("--from-json", default=None, help="print the report of a saved run, measure nothing")
    parser.add_argument("--write", action="store_true", help="with --from-json: also write docs/benchmarks.md")
    parser.add_argument("--modes", default="forward,mediarelay", help="relays to compare, comma-separated")
    parser.add_argument("--window", type=float, default=5.0, help="seconds measured per step")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.from_json:
        # Re-render the report from a finished run's numbers (after changing the wording).
        data = json.loads(Path(args.from_json).read_text())
        body = report(data["fan"], data["direct"] * 1000, data["direct_tap"] * 1000, data["cascade"], data["share"])
        print(body)
        if args.write:
            write_section("relay", "Conferencing relay: forwarding vs re-encoding, cascade at scale", body)
        return
    if args.serve == "forward":
        logging.getLogger("conferencing").setLevel(logging.INFO)  # link losses and rejoins in the log
        asyncio.run(_serve_forward(args.port, args.unit, args.parent))
    elif args.serve == "mediarelay":
        asyncio.run(_serve_mediarelay(args.port))
    else:
        asyncio.run(main(args))


if __name__ == "__main__":
    cli()
