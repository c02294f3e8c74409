"""A real RTSP server for tests: GStreamer's gst-rtsp-server (Debian packages
``gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good gstreamer1.0-plugins-bad``)
serving an MP4 file's H.264 track, run by the system Python in a child process so that a
test can kill it mid-stream (SIGKILL, like a camera losing power) and start it again.

ffmpeg alone cannot be this server: its RTSP muxer only pushes (ANNOUNCE/RECORD) to a
server; cameras are pulled from (DESCRIBE/PLAY).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"

_SERVER = r'''
import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer
Gst.init(None)
port, mount, video = sys.argv[1], sys.argv[2], sys.argv[3]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(f'( filesrc location="{video}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )')
factory.set_shared(False)
server.get_mount_points().add_factory("/" + mount, factory)
if server.attach(None) == 0:
    sys.exit("cannot bind 127.0.0.1:" + port)
print("ready", flush=True)
GLib.MainLoop().run()
'''


class RtspServer:
    """Serves ``video`` at ``rtsp://127.0.0.1:{port}/{mount}`` until `kill`.

    Example::

        server = RtspServer(Path("highway_720p.mp4"), port).start()
        url = server.url
        server.kill(); server.start()   # the camera "reboots"
    """

    def __init__(self, video: Path, port: int, mount: str = "cam") -> None:
        self.video = Path(video)
        self.port = port
        self.mount = mount
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{self.mount}"

    @staticmethod
    def available() -> str | None:
        """None when the server can run here, else what is missing."""
        if not Path(SYSTEM_PYTHON).exists():
            return f"{SYSTEM_PYTHON} not found"
        check = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                                "from gi.repository import GstRtspServer"], capture_output=True, text=True)
        if check.returncode != 0:
            return ("GStreamer RTSP server missing: apt-get install -y gir1.2-gst-rtsp-server-1.0 python3-gi "
                    "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad (" + check.stderr.strip()[-200:] + ")")
        return None

    def start(self, timeout: float = 10.0) -> "RtspServer":
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        self.proc = subprocess.Popen([SYSTEM_PYTHON, "-c", _SERVER, str(self.port), self.mount, str(self.video)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"RTSP server exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"RTSP server did not listen on {self.port} within {timeout} s")

    def kill(self) -> None:
        """SIGKILL: the stream stops mid-packet, as when a camera loses power."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        if self.proc is not None:
            for pipe in (self.proc.stdout, self.proc.stderr):
                if pipe:
                    pipe.close()
        self.proc = None


if __name__ == "__main__":  # manual use: python -m tests.video.rtsp_server VIDEO PORT
    srv = RtspServer(Path(sys.argv[1]), int(sys.argv[2])).start()
    print(srv.url)
    try:
        srv.proc.wait()  # type: ignore[union-attr]
    except KeyboardInterrupt:
        srv.kill()
