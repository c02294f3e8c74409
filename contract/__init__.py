"""The contract shared by every process: config base, event envelope, ids, the evidence
manifest format and its verification (`contract.evidence_verify`), the Vietnamese plate
grammar (`contract.plates`) and the meeting join-token format (`contract.tokens`).

It sits at the bottom of the import graph: it imports no other package of the project, does
no I/O and imports neither FastAPI, psycopg, OpenCV nor aiortc, so the edge worker, the hub
and the relay all depend on it and on nothing of each other's.
"""

from contract.config import ConfigModel
from contract.envelope import EVENT_TYPE_PATTERN, Event, EvidenceRef, Severity
from contract.ids import new_event_id

__all__ = ["ConfigModel", "EVENT_TYPE_PATTERN", "Event", "EvidenceRef", "Severity", "new_event_id"]
