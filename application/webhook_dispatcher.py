"""The webhook dispatcher: the process manager that delivers each subscribed event to each endpoint, in order.

It follows the event log from its checkpoint (``application.following``); its state is the queues
(``application/webhook_queues.py``), saved at each pass once the housekeeping is recorded (safe: every effect is
an idempotent command). Each endpoint has one delivery in flight at a time, its oldest, so deliveries arrive in
log order per endpoint; endpoints proceed side by side, each in a worker thread, so a slow one holds up only
itself. Several dispatchers share the work by ``shard`` (index, count): each serves the endpoints whose id falls
in its shard, so every endpoint has one dispatcher and its order holds.

Effects are exactly-once in the log and at-least-once on the wire: attempt ``n`` of a delivery is recorded under
a command id derived from the delivery (itself derived from endpoint and event) and ``n``, so a repeated trigger
records nothing twice; a crash between the request and its record repeats the request, with the same
``webhook-id`` for the receiver to recognise. A 410 disables the endpoint; a recovery requeues what failed since
its time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from application.checkpoints import Checkpoints, Fact
from application.commands import CommandContext
from application.following import Follower
from application.webhook_queues import Due, Queues
from application.webhooks import DeliveryStart, Message, Sender, WebhookService
from domain.errors import DomainError
from domain.values import Shard, TenantId, tenant_id_of
from domain.webhooks import DEFAULT_SCHEDULE, DeliveryClosedError, Outcome
from eventstore.envelope import RecordedEvent
from eventstore.port import EventStore

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("platform.webhooks")
_propagator = TraceContextTextMapPropagator()
ACTOR = "system:webhooks"
GONE = "the endpoint answered 410 Gone"


class DeadLetters(Protocol):
    """Where deliveries that failed their last attempt are reported (the dead letters' service)."""

    def record(
        self,
        context: CommandContext,
        tenant_id: TenantId | None,
        source: str,
        subject: str,
        step: str,
        error: str,
        attempts: int,
        cause: tuple[str, str] | None = None,
    ) -> object: ...


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
        dead_letters: DeadLetters | None = None,
        shard: tuple[int, int] = (0, 1),
        workers: int = 8,
        interval: float = 0.2,
        checkpoints: Checkpoints | None = None,
    ) -> None:
        index, count = Shard.of(*shard)
        self.store = store
        self.webhooks = webhooks
        self.sender = sender
        self.payload = payload
        self.clock = clock
        self.schedule = tuple(schedule)
        self.dead_letters = dead_letters
        self.workers = workers
        self.interval = interval
        self.state = Queues(type_of, lambda endpoint_id: endpoint_id.int % count == index)
        self.name = f"webhook_dispatcher_{index}_of_{count}"
        self.follower = Follower(store, [self], checkpoints)
        self._pool: ThreadPoolExecutor | None = None
        self._busy: dict[UUID, Future[None]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- following the log (the queues are its state)

    def see(self, recorded: RecordedEvent) -> None:
        self.state.see(recorded)

    def saved(self) -> dict[str, Any]:
        return self.state.saved()

    def restore(self, state: dict[str, Any]) -> None:
        self.state.restore(state)

    def new_facts(self) -> list[Fact]:
        return []

    def work(self) -> int:
        """The dispatcher's work is done by its own passes (``deliver_due``, ``run``), in worker threads."""
        return 0

    def _read(self) -> None:
        self.follower.read()

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
        self.follower.save()
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
        """Reports dead letters, disables endpoints that answered 410, requeues what recoveries asked for."""
        self._report_dead_letters()
        done = 0
        for endpoint_id, endpoint in self.state.endpoints.items():
            if endpoint.gone and endpoint.active and endpoint_id not in self._busy:
                context = CommandContext(ACTOR, f"{endpoint.gone}|gone", str(endpoint.gone), str(endpoint.gone))
                self.webhooks.disable_endpoint(context, endpoint.tenant_id, endpoint_id, GONE, gone=True)
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

    def _report_dead_letters(self) -> None:
        if self.dead_letters is None:
            self.state.letters.clear()
            return
        for delivery_id, letter in list(self.state.letters.items()):
            context = CommandContext(ACTOR, f"dead-letter|{letter.failed_event_id}", str(delivery_id), str(delivery_id))
            subject = str(delivery_id)
            self.dead_letters.record(
                context, letter.tenant_id, "webhook", subject, "deliver", letter.error, letter.attempts, letter.cause
            )
            del self.state.letters[delivery_id]

    # --- one attempt (in a worker thread: it reads the store and records, and leaves the state alone)

    def _deliver(self, due: Due) -> None:
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

    def _send(self, due: Due, recorded: RecordedEvent, at: datetime) -> Outcome:
        try:
            secret = self.webhooks.signing_secret(due.endpoint.tenant_id, due.endpoint.secret_name)
        except DomainError as error:
            return Outcome(None, f"the signing secret cannot be read: {error}")
        url = due.endpoint.url or self.webhooks.endpoint(tenant_id_of(due.endpoint.tenant_id), due.endpoint_id).url
        message = Message(url, recorded.event_id, at, self.payload(recorded), secret)
        return self.sender.send(message)

    def _event_at(self, position: int) -> RecordedEvent:
        found = self.store.read_all(position - 1, 1)
        if not found or found[0].position != position:
            raise LookupError(f"no event at position {position}")
        return found[0]
