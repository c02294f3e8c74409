"""The delivery loop: outbox → hub, in batches, with retry and capped exponential backoff.

For each batch: upload the evidence files it names that the hub does not have yet
(``PUT /api/v1/evidence/{sha256}``, so events arrive complete), then ``POST
/api/v1/events``. Accepted and duplicate ids are acknowledged and removed from the
outbox; rejected ones are parked with the hub's reason (dead letters, counted in the
heartbeat's ``outbox_rejected``) and never resent, so one bad event blocks nothing
behind it. A batch the hub answers with a 500 is sent again event by event: an event
the hub fails on while accepting the others is parked the same way. Any failure
leaves the batch in the outbox and waits 0.5 s, 1 s, 2 s ... up to ``backoff_max_s``, each delay
drawn between half and all of that (`contract.backoff`), so edges that lost the hub
together do not come back in lockstep.
Live events (younger than ``live_window_s``) go before the backlog so the wall stays
current while a long outage drains; the backlog drains oldest first, so each camera's
backlog reaches the hub in sequence order.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from contract.backoff import Backoff
from edge.exceptions import EdgeError, HubAuthError, HubError, HubRejected
from edge.hub import HubClient
from edge.outbox import Outbox, unstorable

log = logging.getLogger(__name__)


@dataclass
class DeliveryStats:
    """Counters of the delivery loop (shown in heartbeats and logs)."""

    posted: int = 0
    delivered: int = 0
    duplicates: int = 0
    rejected: int = 0
    failures: int = 0
    evidence_uploaded: int = 0
    last_error: str | None = None
    last_success_mono: float | None = None


class Delivery:
    """Background thread that empties the outbox into the hub.

    Example::

        delivery = Delivery(outbox, HubClient(url, token))
        delivery.start()
        ...
        delivery.stop()
    """

    def __init__(self, outbox: Outbox, hub: HubClient, batch_size: int = 200, live_window_s: float = 10.0,
                 backoff_initial_s: float = 0.5, backoff_max_s: float = 15.0,
                 ready: threading.Event | None = None) -> None:
        self.outbox = outbox
        self.hub = hub
        self.batch_size = batch_size
        self.live_window_s = live_window_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.stats = DeliveryStats()
        # The hub rejects events of cameras it has not been told about, so posting waits
        # until the cameras are declared (set by the heartbeat thread).
        self.ready = ready
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the delivery thread."""
        self._thread = threading.Thread(target=self._run, name="delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop after the request in flight (if any) finishes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def deliver_once(self) -> int:
        """Deliver one batch; returns how many events the hub acknowledged (0 when idle).

        Raises `HubError` when the hub cannot be reached or refuses the edge.
        """
        batch = self.outbox.next_batch(self.batch_size, self.live_window_s)
        if not batch.events:
            return 0
        # An event queued before `add_event` checked payloads (an older version of this
        # edge) may hold what no hub can store, or what cannot even be sent as JSON (NaN):
        # park it here, or it would fail its whole batch on every attempt.
        sendable = []
        for event in batch.events:
            problem = unstorable(event.get("payload"))
            if problem:
                self._park(event["id"], f"not sent: the hub cannot store it: {problem}")
            else:
                sendable.append(event)
        if not sendable:
            return 0
        batch.live = min(batch.live, len(sendable))
        batch.events = sendable
        for sha256, mime in batch.evidence:
            try:
                self.hub.put_evidence(sha256, self.outbox.evidence_data(sha256), mime)
            except HubRejected as exc:
                # The hub refuses this file for good (e.g. too large): the events still go,
                # and the hub marks them incomplete, which is better than holding them forever.
                log.error("hub refused evidence %s: %s", sha256, exc)
            self.outbox.mark_evidence_uploaded(sha256)
            self.stats.evidence_uploaded += 1
        ids = [e["id"] for e in batch.events]
        try:
            result = self.hub.post_events(batch.events)
        except HubRejected as exc:
            # The whole request was refused (the hub rejects bad events one by one, so this
            # is unusual): send them singly so only the bad ones get parked.
            return self._one_by_one(batch.events, exc)
        except HubError as exc:
            self.outbox.note_attempt(ids, str(exc))
            if exc.status == 500 and len(batch.events) > 1:
                # A server error, not an outage (those are 502-504 or no answer): maybe one
                # event the hub trips over. Singly, the others get through.
                return self._one_by_one(batch.events, exc)
            raise
        self.stats.posted += len(batch.events)
        acknowledged = result.accepted + result.duplicates
        self.outbox.mark_delivered(acknowledged)
        for item in result.rejected:
            reason = str(item.get("reason", "rejected"))
            event_id = item.get("id") or ids[int(item.get("index", -1))]
            log.error("hub rejected event %s: %s", event_id, reason)
            self.outbox.mark_rejected(str(event_id), reason)
        self.stats.delivered += len(result.accepted)
        self.stats.duplicates += len(result.duplicates)
        self.stats.rejected += len(result.rejected)
        self.stats.last_success_mono = time.monotonic()
        if batch.live and len(batch.events) > batch.live:
            log.info("delivered %d live and %d backlog events", batch.live, len(batch.events) - batch.live)
        return len(acknowledged)

    def _one_by_one(self, events: list[dict], first_error: HubError) -> int:
        log.warning("hub refused a batch of %d (%s); sending them one by one", len(events), first_error)
        done = 0
        server_errors: list[tuple[str, HubError]] = []
        for event in events:
            try:
                result = self.hub.post_events([event])
            except HubRejected as exc:
                self._park(event["id"], str(exc))
                continue
            except HubError as exc:
                if exc.status != 500:
                    raise  # the hub went away meanwhile: retry the rest later
                server_errors.append((event["id"], exc))
                continue
            self.outbox.mark_delivered(result.accepted + result.duplicates)
            for item in result.rejected:
                self._park(event["id"], str(item.get("reason", "rejected")))
            self.stats.delivered += len(result.accepted)
            self.stats.duplicates += len(result.duplicates)
            done += len(result.accepted) + len(result.duplicates)
        if server_errors and done == 0:
            # Every event failed: the hub itself is broken, not one event. Keep them all.
            raise server_errors[0][1]
        for event_id, exc in server_errors:
            # The hub stored the others and failed on this one alone: a poison event. Parked
            # (kept, counted in the heartbeat, `Outbox.requeue_rejected` sends it again).
            self._park(event_id, f"the hub failed on this event alone while accepting others: {exc}")
        return done

    def _park(self, event_id: str, reason: str) -> None:
        log.error("hub rejected event %s, parked in the outbox: %s", event_id, reason)
        self.outbox.mark_rejected(str(event_id), reason)
        self.stats.rejected += 1

    def _run(self) -> None:
        backoff = Backoff(self.backoff_initial_s, max(self.backoff_initial_s, self.backoff_max_s))
        while self.ready is not None and not self.ready.is_set():
            if self._stop.wait(0.2):
                return
        while not self._stop.is_set():
            try:
                sent = self.deliver_once()
            except HubAuthError as exc:
                self._failed(exc, "the hub refuses this edge's token; check hub.token in the site config")
            except (HubError, EdgeError) as exc:
                self._failed(exc, "will retry")
            except Exception as exc:  # a bug must not end delivery: log and retry
                log.exception("delivery failed unexpectedly")
                self._failed(exc, "will retry")
            else:
                backoff.reset()
                if self.stats.last_error is not None:
                    log.info("hub reachable again; outbox depth %d", self.outbox.depth())
                    self.stats.last_error = None
                if sent == 0:
                    self.outbox.wait_for_change(1.0)  # woken at once by a new event
                continue
            if self._stop.wait(backoff.next()):
                return

    def _failed(self, exc: Exception, hint: str) -> None:
        self.stats.failures += 1
        message = str(exc)
        if message != self.stats.last_error:
            log.warning("delivery failed (%s): %s", hint, message)
        self.stats.last_error = message
