"""Errors raised by `video/`.

Library errors (PyAV's ``av.error.FFmpegError``, OpenCV failures, OS errors) are
mapped to these with ``raise ... from exc`` so callers never import ``av``::

    VideoError
    ├── SourceError            a camera or file cannot give frames
    │   ├── SourceOpenError    cannot open: unreachable URL, missing or corrupt file
    │   ├── SourceStalled      opened, but no frame arrived for the watchdog period
    │   └── SourceEnded        a file that does not loop reached its end
    ├── ClipError              a clip could not be encoded (no frames, no encoder)
    └── SnapshotError          a JPEG could not be encoded or decoded
"""

from __future__ import annotations


class VideoError(Exception):
    """Root of every error raised by the video package."""


class SourceError(VideoError):
    """A source cannot deliver frames; the message names the URL and the cause."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{redact(url)}: {reason}")
        self.url = url
        self.reason = reason


class SourceOpenError(SourceError):
    """Opening failed: connection refused, timeout, no video stream, corrupt file."""


class SourceStalled(SourceError):
    """The source stayed open but produced no frame for the watchdog period."""


class SourceEnded(SourceError):
    """A non-looping file source reached its end."""


class ClipError(VideoError):
    """Encoding a clip failed (no frames given, or no usable H.264/MPEG-4 encoder)."""


class SnapshotError(VideoError):
    """Encoding or decoding a JPEG failed."""


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (camera URLs often embed credentials)."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.split("@", 1) if "@" in rest.split("/", 1)[0] else ("", rest)
    if not creds:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
