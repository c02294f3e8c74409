"""Event ids: UUID v7, so ids sort by creation time and index well."""

import uuid

from uuid6 import uuid7


def new_event_id() -> uuid.UUID:
    """A fresh UUID v7 (time-ordered) as a standard `uuid.UUID`."""
    return uuid.UUID(str(uuid7()))
