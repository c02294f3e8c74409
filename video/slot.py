"""A latest-frame slot: one per consumer, holding only the newest frame.

A real-time consumer that falls behind must skip frames, never work through a queue of
stale ones (the lag would grow without bound). `put` replaces an untaken frame and
counts it as dropped.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds the newest item for one consumer; older untaken items are dropped and counted.

    Example::

        slot = LatestSlot[Frame]("detector")
        slot.put(frame)               # producer thread, never blocks
        item = slot.get(timeout=1.0)  # consumer thread; None on timeout or after close()
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._item: T | None = None
        self._cond = threading.Condition()
        self._closed = False
        self.delivered = 0
        self.dropped = 0

    def put(self, item: T) -> None:
        """Offer an item; replaces (and counts as dropped) one the consumer has not taken."""
        with self._cond:
            if self._closed:
                return
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def get(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting up to ``timeout`` s; None on timeout or when closed."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            if item is not None:
                self.delivered += 1
            return item

    def close(self) -> None:
        """Wake the consumer; later `get` calls return None at once."""
        with self._cond:
            self._closed = True
            self._item = None
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True once `close` was called."""
        return self._closed
