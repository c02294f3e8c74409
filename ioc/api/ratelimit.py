"""Login rate limiting: a sliding window of failed attempts per (address, account) pair
and per address, kept in this process's memory.

Why per pair and not per account: a per-account limit lets anyone lock a named account
by guessing wrong five times (issue 8, defect 12). Here a stranger's failures count
against their own address only: the account's owner, from another address, still logs
in. Guessing one account from many addresses costs one budget per address; the per
address limit stops one address from trying many accounts.

The address is the connection's peer; `X-Forwarded-For` replaces it only when the peer is
one of `IOC_TRUSTED_PROXIES` (uvicorn's proxy middleware, added by `create_app` with that
list; uvicorn's own, which trusts 127.0.0.1 by default, is switched off in `ioc hub`).

Why in memory: it needs no extra service, and behind several replicas an attacker's
budget only multiplies by the replica count; a shared limit would need Redis or the
database on every login.

Example::

    limiter = LoginLimiter(attempts=5, address_attempts=30, window_s=60)
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
    """Counts failed logins per (address, username) and per address over a sliding window."""

    def __init__(
        self, *, attempts: int, window_s: float, address_attempts: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.address_attempts = address_attempts if address_attempts is not None else attempts * 6
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

    @staticmethod
    def _keys(address: str, username: str) -> tuple[str, str]:
        return f"p:{address}|{username.lower()}", f"a:{address}"

    def check(self, address: str, username: str) -> None:
        """RateLimited when this address used up its failures for this account, or in all."""
        pair, addr = self._keys(address, username)
        for key, limit in ((pair, self.attempts), (addr, self.address_attempts)):
            times = self._recent(key)
            if len(times) >= limit:
                retry = max(1, math.ceil(times[0] + self.window_s - self._clock()))
                raise RateLimited(f"too many failed logins; try again in {retry} s", retry_after=retry)

    def failed(self, address: str, username: str) -> None:
        """Record one failed attempt."""
        now = self._clock()
        for key in self._keys(address, username):
            self._failures[key].append(now)

    def succeeded(self, address: str, username: str) -> None:
        """A successful login clears this pair's failures (not the address's)."""
        self._failures.pop(self._keys(address, username)[0], None)
