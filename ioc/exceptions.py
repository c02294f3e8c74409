"""Errors of the hub. Services raise these; only the API layer maps them to HTTP.

    IocError
    ├── ConfigError            bad settings or environment (no default secret outside demo)
    ├── DatabaseError          the database is unreachable or a migration failed
    │   └── MigrationError
    ├── BrokerError            NATS / in-memory broker failure
    ├── InvalidInput           well-formed request, unacceptable content         → 422
    │   ├── MalformedBody      the body is not parseable (bad JSON)               → 400
    │   └── EvidenceHashMismatch  uploaded bytes do not hash to the named sha256   → 400
    ├── NotAuthenticated       no or bad credentials                              → 401
    ├── PermissionDenied       authenticated, but role or unit scope forbids it   → 403
    ├── NotFound               no such object (or not in the caller's scope)      → 404
    ├── Conflict               would overwrite something that needs an admin      → 409
    ├── TooLarge               batch or file over the limit                       → 413
    └── RateLimited            too many attempts; carries retry_after seconds     → 429
"""

from __future__ import annotations


class IocError(Exception):
    """Base of every hub error; `str(exc)` is a message fit for the API client."""


class ConfigError(IocError):
    """Settings or environment cannot work."""


class DatabaseError(IocError):
    """The database failed (unreachable, broken connection)."""


class MigrationError(DatabaseError):
    """A migration file failed to apply; nothing of that file was kept."""


class BrokerError(IocError):
    """The live-event broker failed."""


class InvalidInput(IocError):
    """The request is well-formed but its content is unacceptable."""


class MalformedBody(InvalidInput):
    """The request body cannot be parsed at all."""


class EvidenceHashMismatch(InvalidInput):
    """Uploaded evidence does not hash to the sha256 in the URL."""


class NotAuthenticated(IocError):
    """Missing, expired or wrong credentials."""


class PermissionDenied(IocError):
    """The caller's role or unit scope does not allow this."""


class NotFound(IocError):
    """No such object, or none the caller may see."""


class Conflict(IocError):
    """The change conflicts with existing state."""


class TooLarge(IocError):
    """A batch or a file is over its limit."""


class RateLimited(IocError):
    """Too many attempts; retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
