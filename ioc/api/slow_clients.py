"""Bounds on slow clients (issue 8, item 14): a request's headers and its body must arrive in time.

uvicorn closes an idle keep-alive connection (`timeout_keep_alive`) but has no limit on
how long the headers of a request, or its body, may take: a client sending one byte every
few seconds (slowloris) holds a connection, and a task, for as long as it likes.

- `HeaderTimeoutH11` is uvicorn's h11 protocol with a header deadline: from the moment a
  connection opens (or the previous response ends) the next request's headers must be
  complete within `header_timeout_s`, else the connection is closed.
- `BodyTimeout` is ASGI middleware: each chunk of a request body must arrive within
  `body_timeout_s`, else the answer is 408 and the connection is closed. Once the body is
  complete, `receive` is passed through untouched (streaming responses wait on it for the
  client's disconnect).

Example::

    uvicorn.run(BodyTimeout(app), **server_limits())
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0
"""Seconds a client has to send a request's complete headers."""
BODY_TIMEOUT_S = 15.0
"""Seconds a client may pause between two chunks of a request body."""
KEEP_ALIVE_S = 5
"""Seconds an idle keep-alive connection stays open between requests."""


class HeaderTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers are not complete in time."""

    header_timeout_s: float = HEADER_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        # Still waiting for (the rest of) a request line and headers: give up on it.
        if not self.transport.is_closing() and self.conn.their_state in (h11.IDLE, h11.DONE):
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state not in (h11.IDLE, h11.DONE):
            self._disarm()  # the headers are in; the body has its own bound (BodyTimeout)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm()  # the websocket protocol takes the transport over
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._arm()  # the next request's headers have the same deadline
        super().on_response_complete()


class BodyTimeoutError(Exception):
    """A request body chunk did not arrive within the body timeout."""


class BodyTimeout:
    """Pure ASGI middleware: 408 and close when a request body stalls longer than `timeout_s`."""

    def __init__(self, app: Any, timeout_s: float = BODY_TIMEOUT_S) -> None:
        self.app = app
        self.timeout_s = timeout_s

    def __getattr__(self, name: str) -> Any:
        # Callers (tests, the demo) reach the FastAPI app's `state` through the wrapper.
        return getattr(self.app, name)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False
        started = False
        timed_out = False
        answered = False

        async def answer_408() -> None:
            nonlocal answered
            answered = True
            body = json.dumps({"detail": f"no request body data for {self.timeout_s:g} s"}).encode()
            await send({"type": "http.response.start", "status": 408,
                        "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        async def bounded_receive() -> Any:
            nonlocal body_done, timed_out
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError as exc:
                timed_out = True
                raise BodyTimeoutError(f"no request body data for {self.timeout_s:g} s") from exc
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if timed_out and not started:
                # Starlette's error middleware answers an escaped exception with a 500:
                # the client stalled, so it gets the 408 (and the connection is closed).
                if not answered:
                    await answer_408()
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except Exception:
            if not timed_out or started:
                raise
            if not answered:
                await answer_408()


def server_limits() -> dict[str, Any]:
    """uvicorn keyword arguments bounding slow and idle clients (used by `ioc hub` and `ioc demo`)."""
    return {"http": HeaderTimeoutH11, "timeout_keep_alive": KEEP_ALIVE_S, "h11_max_incomplete_event_size": 64 * 1024}
