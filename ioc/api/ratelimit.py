"""Login rate limiting: a sliding window of failed attempts per client address and per
username, kept in this process's memory.

Why in memory: it needs no extra service, and behind several replicas an attacker's
budget only multiplies by the replica count; a shared limit would need Redis or the
database on every login.

Example::

    limiter = LoginLimiter(attempts=5, window_s=60)
    limiter.check("10.0.0.1", "op1")       # raises RateLimited when over the limit
    limiter.failed("10.0.0.1", "op1")
"""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from typing import Callable

from ioc.exceptions import RateLimited


class LoginLimiter:
    """Counts failed logins per address and per username over a sliding window."""

    def __init__(self, *, attempts: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._clock = clock
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        times = self._failures[key]
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

    def check(self, address: str, username: str) -> None:
        """RateLimited when the address or the username used up its failures."""
        for key in (f"a:{address}", f"u:{username.lower()}"):
            times = self._recent(key)
            if len(times) >= self.attempts:
                retry = max(1, math.ceil(times[0] + self.window_s - self._clock()))
                raise RateLimited(f"too many failed logins; try again in {retry} s", retry_after=retry)

    def failed(self, address: str, username: str) -> None:
        """Record one failed attempt."""
        now = self._clock()
        self._failures[f"a:{address}"].append(now)
        self._failures[f"u:{username.lower()}"].append(now)

    def succeeded(self, address: str, username: str) -> None:
        """A successful login clears the username's failures (not the address's)."""
        self._failures.pop(f"u:{username.lower()}", None)
