"""Capped exponential backoff with jitter: the one retry schedule of every reconnect loop
(edge delivery and heartbeats, camera capture, relay clients, attendance, camera shares).

Without jitter, hundreds of edges that lost the hub together retry together: at 0.5 s,
1 s, 2 s ... after the outage, every one of them in the same instant, and the hub that
just came back takes the whole fleet's backlog in one burst each time. Each delay here is
drawn uniformly from [cap/2, cap] where cap doubles from `initial_s` up to `max_s`
("equal jitter"): never longer than the unjittered schedule, never shorter than half of
it, so a loop still backs off, and two loops that failed in the same instant are apart
after one retry.

Example::

    backoff = Backoff(initial_s=0.5, max_s=15.0)
    while not stop.is_set():
        try:
            deliver()
            backoff.reset()
        except HubError:
            stop.wait(backoff.next())     # 0.25-0.5 s, 0.5-1 s, 1-2 s, ... 7.5-15 s
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays for successive failures; `reset()` after a success starts again at the bottom.

    `jitter=False` gives the plain doubling schedule (for tests that need exact delays).
    """

    def __init__(self, initial_s: float = 0.5, max_s: float = 30.0, *, factor: float = 2.0,
                 jitter: bool = True, rng: random.Random | None = None) -> None:
        if not 0 < initial_s <= max_s:
            raise ValueError(f"backoff needs 0 < initial_s <= max_s, got {initial_s} and {max_s}")
        if factor < 1:
            raise ValueError(f"backoff factor must be >= 1, got {factor}")
        self.initial_s = float(initial_s)
        self.max_s = float(max_s)
        self.factor = float(factor)
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._cap = self.initial_s
        self.attempts = 0

    @property
    def cap_s(self) -> float:
        """The longest the next delay can be."""
        return self._cap

    def next(self) -> float:
        """The delay before the next attempt, in seconds; grows the schedule."""
        cap = self._cap
        self._cap = min(self._cap * self.factor, self.max_s)
        self.attempts += 1
        return self._rng.uniform(cap / 2, cap) if self.jitter else cap

    def reset(self) -> None:
        """After a success (or a connection that lasted): the next failure waits the least."""
        self._cap = self.initial_s
        self.attempts = 0
