"""The webhook dispatcher: the process manager that delivers each subscribed event to each endpoint, in order.

It follows the event log. Its state (endpoints, what each still has to receive, what failed) is rebuilt from the
log on every start, so it keeps no checkpoint: an event is queued for every active endpoint of its tenant that
subscribed to its CloudEvents type when the log reached it. Each endpoint has one delivery in flight at a time,
its oldest, so deliveries arrive in log order per endpoint; endpoints proceed side by side, each in a worker
thread, so a slow one holds up only itself.

Effects are exactly-once in the log and at-least-once on the wire: attempt ``n`` of a delivery is recorded under
a command id derived from the delivery (itself derived from endpoint and event) and ``n``, so a repeated trigger
records nothing twice; a crash between the request and its record repeats the request, with the same
``webhook-id`` for the receiver to recognise. A 410 disables the endpoint; a recovery requeues what failed since
its time.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from application.commands import CommandContext
from application.webhooks import DeliveryStart, Message, Sender, WebhookService
from domain.errors import DomainError
from domain.tenants import Tenant
from domain.webhooks import DEFAULT_SCHEDULE, Delivery, DeliveryClosedError, Outcome, WebhookEndpoint, delivery_id_for
from eventstore.envelope import RecordedEvent
from eventstore.port import EventStore

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("platform.webhooks")
_propagator = TraceContextTextMapPropagator()
ACTOR = "system:webhooks"
BATCH = 1000
GONE = "the endpoint answered 410 Gone"


@dataclass(frozen=True, order=True)
class _Item:
    """An event waiting for an endpoint, ordered by its place in the log."""

    position: int
    event_id: str
    event_type: str


@dataclass
class _Endpoint:
    tenant_id: str
    url: str
    secret_name: str
    types: frozenset[str]
    active: bool = True
    queue: list[_Item] = field(default_factory=list)
    failed: dict[UUID, tuple[datetime, _Item]] = field(default_factory=dict)
    gone: UUID | None = None
    """A delivery answered 410 while the endpoint is still active: the endpoint is to be disabled."""


@dataclass(frozen=True)
class _Due:
    endpoint_id: UUID
    delivery_id: UUID
    endpoint: _Endpoint
    item: _Item
    attempt: int


@dataclass
class _State:
    """What the log says: the endpoints, their queues, and each begun delivery's attempts and next time."""

    type_of: Callable[[RecordedEvent], str]
    position: int = 0
    endpoints: dict[UUID, _Endpoint] = field(default_factory=dict)
    by_tenant: dict[str, list[UUID]] = field(default_factory=dict)
    begun: dict[UUID, tuple[UUID, _Item]] = field(default_factory=dict)
    attempts: dict[UUID, tuple[int, datetime | None]] = field(default_factory=dict)
    requeue: dict[UUID, str] = field(default_factory=dict)
    """Failed deliveries a recovery asked for again, with the recovery's event id."""

    def see(self, recorded: RecordedEvent) -> None:
        self.position = recorded.position
        event = recorded.event
        if isinstance(event, WebhookEndpoint.Event):
            self._see_endpoint(recorded)
        elif isinstance(event, Delivery.Event):
            self._see_delivery(event)
        elif isinstance(event, Tenant.Offboarded):
            for endpoint_id in self.by_tenant.pop(str(event.originator_id), []):
                self.endpoints.pop(endpoint_id, None)
        elif recorded.tenant_id in self.by_tenant:
            self._queue(recorded)

    def _queue(self, recorded: RecordedEvent) -> None:
        event_type = self.type_of(recorded)
        for endpoint_id in self.by_tenant[str(recorded.tenant_id)]:
            endpoint = self.endpoints[endpoint_id]
            if endpoint.active and event_type in endpoint.types:
                endpoint.queue.append(_Item(recorded.position, recorded.event_id, event_type))

    def _see_endpoint(self, recorded: RecordedEvent) -> None:
        event, endpoint_id = recorded.event, recorded.event.originator_id
        if isinstance(event, WebhookEndpoint.Subscribed):
            types = frozenset(event.event_types)
            self.endpoints[endpoint_id] = _Endpoint(event.tenant_id, event.url, event.secret_name, types)
            self.by_tenant.setdefault(event.tenant_id, []).append(endpoint_id)
            return
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None:
            return
        match event:
            case WebhookEndpoint.Disabled():
                endpoint.active, endpoint.gone = False, None
            case WebhookEndpoint.Enabled():
                endpoint.active = True
            case WebhookEndpoint.RecoveryRequested():
                since = datetime.fromisoformat(event.since)
                for delivery_id, (failed_at, _) in endpoint.failed.items():
                    if failed_at >= since:
                        self.requeue[delivery_id] = recorded.event_id

    def _see_delivery(self, event: Delivery.Event) -> None:
        delivery_id = event.originator_id
        if isinstance(event, Delivery.Started):
            item = _Item(event.position, event.event_id, event.event_type)
            self.begun[delivery_id] = (UUID(event.endpoint_id), item)
            return
        begun = self.begun.get(delivery_id)
        endpoint = self.endpoints.get(begun[0]) if begun else None
        if begun is None or endpoint is None:
            return
        item = begun[1]
        match event:
            case Delivery.Attempted():
                self.attempts[delivery_id] = (event.attempt, _time(event.next_at))
            case Delivery.Delivered():
                _remove(endpoint.queue, item)
                self.begun.pop(delivery_id, None)
                self.attempts.pop(delivery_id, None)
            case Delivery.Failed():
                _remove(endpoint.queue, item)
                endpoint.failed[delivery_id] = (datetime.fromisoformat(event.at), item)
                if event.gone and endpoint.active:
                    endpoint.gone = delivery_id
            case Delivery.Requeued():
                endpoint.failed.pop(delivery_id, None)
                bisect.insort(endpoint.queue, item)
                self.requeue.pop(delivery_id, None)
                self.attempts[delivery_id] = (self.attempts.get(delivery_id, (0, None))[0], None)

    def due(self, now: datetime, busy: set[UUID]) -> list[_Due]:
        """The oldest waiting delivery of each active endpoint that is not busy, where its time has come."""
        found = []
        for endpoint_id, endpoint in self.endpoints.items():
            if not endpoint.active or endpoint.gone or not endpoint.queue or endpoint_id in busy:
                continue
            item = endpoint.queue[0]
            delivery_id = delivery_id_for(endpoint_id, item.event_id)
            attempts, next_at = self.attempts.get(delivery_id, (0, None))
            if next_at is None or next_at <= now:
                found.append(_Due(endpoint_id, delivery_id, endpoint, item, attempts + 1))
        return found

    def next_due(self, now: datetime) -> datetime | None:
        """When the earliest waiting delivery is due (``now`` if one is due already); None when none waits."""
        times = []
        for endpoint_id, endpoint in self.endpoints.items():
            if endpoint.active and not endpoint.gone and endpoint.queue:
                delivery_id = delivery_id_for(endpoint_id, endpoint.queue[0].event_id)
                times.append(self.attempts.get(delivery_id, (0, None))[1] or now)
        return min(times, default=None)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _remove(queue: list[_Item], item: _Item) -> None:
    index = bisect.bisect_left(queue, item)
    if index < len(queue) and queue[index] == item:
        del queue[index]


class WebhookDispatcher:
    """Delivers the events endpoints subscribed to, as the event log says they are due."""

    def __init__(
        self,
        store: EventStore,
        webhooks: WebhookService,
        sender: Sender,
        payload: Callable[[RecordedEvent], bytes],
        type_of: Callable[[RecordedEvent], str],
        clock: Callable[[], datetime],
        schedule: Sequence[float] = DEFAULT_SCHEDULE,
        workers: int = 8,
        interval: float = 0.2,
    ) -> None:
        self.store = store
        self.webhooks = webhooks
        self.sender = sender
        self.payload = payload
        self.clock = clock
        self.schedule = tuple(schedule)
        self.workers = workers
        self.interval = interval
        self.state = _State(type_of)
        self._pool: ThreadPoolExecutor | None = None
        self._busy: dict[UUID, Future[None]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- following the log

    def _read(self) -> None:
        while True:
            batch = self.store.read_all(self.state.position, BATCH)
            for recorded in batch:
                self.state.see(recorded)
            if len(batch) < BATCH:
                return

    def next_due(self) -> datetime | None:
        """When a waiting delivery is next due, as far as the log has been read; None when none waits."""
        return self.state.next_due(self.clock())

    def deliver_due(self) -> int:
        """Reads the log and makes every attempt due now, waiting for each; the number of attempts made."""
        made = 0
        while True:
            self._pass()
            if not self._busy:
                return made
            made += len(self._busy)
            wait(list(self._busy.values()))
            self._collect()

    def run(self) -> None:
        """Delivers as attempts fall due until stop() is called (call either this or deliver_due, not both)."""
        while not self._stop.is_set():
            try:
                self._collect()
                self._pass()
            except Exception:  # the loop must outlive a bad moment (a database restart); it picks up again
                log.exception("webhook dispatcher pass failed; trying again")
            if self._busy:
                wait(list(self._busy.values()), timeout=self.interval, return_when=FIRST_COMPLETED)
            else:
                self._stop.wait(self.interval)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._pool is not None:
            # An attempt under way is left to finish (at most the sender's timeout); it is recorded or repeated.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._busy.clear()

    def _pass(self) -> None:
        self._read()
        self._housekeeping()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="webhook")
        for due in self.state.due(self.clock(), set(self._busy)):
            self._busy[due.endpoint_id] = self._pool.submit(self._deliver, due)

    def _collect(self) -> None:
        for endpoint_id, future in list(self._busy.items()):
            if not future.done():
                continue
            del self._busy[endpoint_id]
            error = None if future.cancelled() else future.exception()
            if error is not None:  # nothing was recorded: the next pass tries again
                log.error("webhook delivery to %s failed", endpoint_id, exc_info=error)

    def _housekeeping(self) -> None:
        """Disables endpoints that answered 410 and requeues what recoveries asked for, then reads the result."""
        done = 0
        for endpoint_id, endpoint in self.state.endpoints.items():
            if endpoint.gone and endpoint.active and endpoint_id not in self._busy:
                context = CommandContext(ACTOR, f"{endpoint.gone}|gone", str(endpoint.gone), str(endpoint.gone))
                self.webhooks.disable_endpoint(context, UUID(endpoint.tenant_id), endpoint_id, GONE, gone=True)
                done += 1
        for delivery_id, recovery in list(self.state.requeue.items()):
            context = CommandContext(ACTOR, f"{delivery_id}|requeue|{recovery}", recovery, recovery)
            try:
                self.webhooks.requeue_delivery(context, delivery_id, recovery)
            except DeliveryClosedError:  # no longer failed: requeued by another recovery, or by another process
                self.state.requeue.pop(delivery_id, None)
            done += 1
        if done:
            self._read()

    # --- one attempt (in a worker thread: it reads the store and records, and leaves the state alone)

    def _deliver(self, due: _Due) -> None:
        recorded = self._event_at(due.item.position)
        parent = _propagator.extract({"traceparent": recorded.metadata.traceparent or ""})
        attributes: dict[str, str | int] = {"platform.delivery_id": str(due.delivery_id)}
        attributes["platform.attempt"] = due.attempt
        with _tracer.start_as_current_span("webhook delivery", context=parent, attributes=attributes):
            at = self.clock()
            outcome = self._send(due, recorded, at)
            context = CommandContext(
                ACTOR, f"{due.delivery_id}|attempt|{due.attempt}", recorded.metadata.correlation_id, recorded.event_id
            )
            start = DeliveryStart(
                due.endpoint.tenant_id, due.endpoint_id, due.item.event_id, due.item.event_type, due.item.position
            )
            try:
                self.webhooks.record_attempt(context, start, outcome, at, self.schedule)
            except DeliveryClosedError:  # another dispatcher ended it first
                log.info("delivery %s had already ended", due.delivery_id)

    def _send(self, due: _Due, recorded: RecordedEvent, at: datetime) -> Outcome:
        try:
            secret = self.webhooks.signing_secret(due.endpoint.tenant_id, due.endpoint.secret_name)
        except DomainError as error:
            return Outcome(None, f"the signing secret cannot be read: {error}")
        message = Message(due.endpoint.url, recorded.event_id, at, self.payload(recorded), secret)
        return self.sender.send(message)

    def _event_at(self, position: int) -> RecordedEvent:
        found = self.store.read_all(position - 1, 1)
        if not found or found[0].position != position:
            raise LookupError(f"no event at position {position}")
        return found[0]
