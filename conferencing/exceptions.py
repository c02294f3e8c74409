"""Errors raised by the relay.

The tree::

    ConferencingError
    ├── SignallingError            a websocket message is malformed or not allowed now
    │   └── PermissionDenied       the sender's role may not do this
    ├── RoomError                  the room cannot take this participant
    │   ├── RoomEnded              the chair ended the meeting
    │   └── RoomFull               max_participants reached
    ├── MediaError                 a codec or track the relay does not forward
    └── CascadeError               the link to the parent relay failed

    TokenError (contract.exceptions, re-exported here): a join token is refused (reason in .code)
    ├── TokenMissing, TokenExpired, TokenSignatureInvalid, TokenWrongRoom, TokenClaimsInvalid

Library errors (PyJWT, aiortc, json) are mapped with ``raise ... from exc``; only the
signalling layer turns them into ``{"type": "error", "code": ..., "message": ...}``.
"""

from __future__ import annotations

# Join-token errors belong to the token format in `contract`; re-exported here because the
# relay raises them. They are not ConferencingError subclasses: the server catches both.
from contract.exceptions import (TokenClaimsInvalid, TokenError, TokenExpired, TokenMissing,  # noqa: F401
                                 TokenSignatureInvalid, TokenWrongRoom)


class ConferencingError(Exception):
    """Base of every relay error; `code` is the stable machine-readable reason."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class SignallingError(ConferencingError):
    """A signalling message is malformed, too large, or not valid in this state."""

    code = "bad_message"


class PermissionDenied(SignallingError):
    """The participant's role does not allow this action."""

    code = "forbidden"


class RoomError(ConferencingError):
    """The room cannot accept this participant or action."""

    code = "room"


class RoomEnded(RoomError):
    """The meeting has been ended by its chair."""

    code = "room_ended"


class RoomFull(RoomError):
    """The room holds its configured maximum of participants."""

    code = "room_full"


class MediaError(ConferencingError):
    """A codec or track kind that the relay cannot forward."""

    code = "media"


class CascadeError(ConferencingError):
    """The link to the parent relay could not be set up or was lost."""

    code = "cascade"
