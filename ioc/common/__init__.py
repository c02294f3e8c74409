"""The contract shared by every process: config base, event envelope, ids.

Nothing here does I/O or imports FastAPI, psycopg, OpenCV or aiortc, so the edge
worker, the hub and the relay can all depend on it.
"""

from ioc.common.config import ConfigModel
from ioc.common.envelope import EVENT_TYPE_PATTERN, Event, EvidenceRef, Severity
from ioc.common.ids import new_event_id

__all__ = ["ConfigModel", "EVENT_TYPE_PATTERN", "Event", "EvidenceRef", "Severity", "new_event_id"]
