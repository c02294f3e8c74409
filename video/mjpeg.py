"""A small MJPEG-over-HTTP server: ``GET /{key}.mjpg`` streams the newest JPEG of a key.

Producers `publish` JPEG bytes at whatever rate they like; every client gets the newest
picture when it changes (slow clients skip pictures, they never queue). ``GET /{key}.jpg``
answers the newest single picture; ``GET /`` lists the keys. Standard-library
``ThreadingHTTPServer``: a preview is a handful of clients at a few fps, and it needs no
dependency or event loop shared with the capture threads.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)

BOUNDARY = "iocframe"
_KEY = re.compile(r"^/([A-Za-z0-9_.:-]{1,64})\.(mjpg|jpg)$")


class MjpegServer:
    """Serves the newest JPEG per key as a multipart MJPEG stream.

    Example::

        server = MjpegServer("127.0.0.1", 0).start()
        server.publish("cam-01", jpeg_bytes)
        # GET http://127.0.0.1:{server.port}/cam-01.mjpg
        server.stop()
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._frames: dict[str, tuple[int, bytes]] = {}
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "ioc-edge-preview"

            def log_message(self, fmt: str, *args: object) -> None:
                log.debug("preview %s " + fmt, self.address_string(), *args)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                owner._handle(self)

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8081``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> "MjpegServer":
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="mjpeg-server", daemon=True)
        self._thread.start()
        return self

    def publish(self, key: str, jpeg: bytes) -> None:
        """Make ``jpeg`` the newest picture of ``key`` and wake its clients."""
        with self._cond:
            version = self._frames.get(key, (0, b""))[0] + 1
            self._frames[key] = (version, jpeg)
            self._cond.notify_all()

    def stop(self) -> None:
        """Stop serving and end every client's stream."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path.split("?", 1)[0]
        if path == "/":
            body = json.dumps({"streams": sorted(self._frames)}).encode()
            self._send(req, 200, "application/json", body)
            return
        match = _KEY.match(path)
        if not match or match.group(1) not in self._frames:
            self._send(req, 404, "text/plain", b"no such stream\n")
            return
        key, ext = match.groups()
        if ext == "jpg":
            self._send(req, 200, "image/jpeg", self._frames[key][1])
            return
        req.send_response(200)
        req.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        req.send_header("Cache-Control", "no-store")
        req.send_header("Connection", "close")
        req.end_headers()
        seen = 0
        try:
            while not self._stopping.is_set():
                with self._cond:
                    if self._frames[key][0] == seen:
                        self._cond.wait(1.0)
                    version, jpeg = self._frames[key]
                if version == seen:
                    continue
                seen = version
                req.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                req.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # client went away

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, code: int, ctype: str, body: bytes) -> None:
        req.send_response(code)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)
