"""Errors raised by the edge worker (evidence packaging has its own tree in `edge.evidence`).

    EdgeError
    ├── ConfigError           the site file is unreadable or invalid; names file, line, field
    ├── OutboxError           the durable outbox cannot store or read (disk full, corrupt file)
    ├── HubError              talking to the hub failed
    │   ├── HubUnavailable    connection refused, timeout, 5xx: retry later
    │   ├── HubAuthError      401/403: the edge token is wrong or the edge may not do this
    │   └── HubRejected       another 4xx: the hub refused the request as malformed
    ├── ModelError            a model file is unknown, has the wrong SHA-256, or cannot be fetched
    └── ReplayError           a replay cannot run: unknown camera, missing or unreadable file
"""

from __future__ import annotations


class EdgeError(Exception):
    """Root of the edge worker's errors."""


class ConfigError(EdgeError):
    """The site config cannot be used; ``problems`` lists each as 'file:line: field: message'."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message if problems is None else message + "\n  " + "\n  ".join(self.problems))


class OutboxError(EdgeError):
    """The outbox database failed; nothing was acknowledged."""


class HubError(EdgeError):
    """A request to the hub failed."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HubUnavailable(HubError):
    """The hub is unreachable or answered 5xx; the request may be retried."""


class HubAuthError(HubError):
    """The hub refused the edge's token (401) or the action (403)."""


class HubRejected(HubError):
    """The hub refused the request as invalid (4xx other than 401/403)."""


class ModelError(EdgeError):
    """A model file could not be installed or fetched."""


class ReplayError(EdgeError):
    """`edge.replay` cannot run: the camera is not in the site, or the file cannot be read."""
