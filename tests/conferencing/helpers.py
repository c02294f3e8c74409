"""Helpers shared by the conferencing tests: tokens, relays and frame watchers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from conferencing.pattern import age_ms, colour_close, read_pattern
from contract.tokens import issue_join_token

SECRET = "relay-test-secret-0123456789abcdef"
RED = (200, 30, 30)
GREEN = (30, 200, 30)
BLUE = (30, 30, 200)
YELLOW = (210, 210, 30)


def token(sub: str, role: str = "participant", *, room: str = "m-1", pub: bool = True, unit: str = "26", ttl_s: int = 300) -> str:
    return issue_join_token(room=room, sub=sub, name=f"Đại biểu {sub}", unit=unit, role=role, pub=pub, ttl_s=ttl_s, secret=SECRET)


@dataclass
class Seen:
    colour: tuple[int, int, int]
    age_ms: int
    at: float


@dataclass
class FrameWatcher:
    """Decodes every video slot of a client and remembers what each slot shows."""

    name: str
    last: dict[int, Seen] = field(default_factory=dict)
    frames: dict[int, int] = field(default_factory=dict)
    tasks: list[asyncio.Task] = field(default_factory=list)

    def on_track(self, slot: int, kind: str, track: MediaStreamTrack) -> None:
        if kind == "video":
            self.tasks.append(asyncio.ensure_future(self._consume(slot, track)))

    async def _consume(self, slot: int, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                colour, stamp = read_pattern(frame.to_ndarray(format="rgb24"))
                self.last[slot] = Seen(colour, age_ms(stamp), time.time())
                self.frames[slot] = self.frames.get(slot, 0) + 1
        except MediaStreamError:
            pass

    def shows(self, slot: int, colour: tuple[int, int, int], *, fresh_s: float = 1.0) -> bool:
        seen = self.last.get(slot)
        return seen is not None and colour_close(seen.colour, colour) and time.time() - seen.at < fresh_s

    async def wait_for(self, slot: int, colour: tuple[int, int, int], timeout: float) -> float:
        """Seconds until `slot` shows `colour` (raises TimeoutError with what it showed)."""
        start = time.monotonic()
        while not self.shows(slot, colour):
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"{self.name} slot {slot} never showed {colour}: last {self.last.get(slot)}")
            await asyncio.sleep(0.01)
        return time.monotonic() - start

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
