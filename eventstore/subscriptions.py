"""Subscriptions: a background reader feeding a bounded queue, drained one event or a batch at a time.

Push sources (PostgreSQL LISTEN/NOTIFY, EventStoreDB, in-memory) and polling (SQLite) share this shape.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator

from eventstore.envelope import RecordedEvent

_STOP = object()


class QueueSubscription:
    """Runs ``source(stop_event)`` in a thread; ``source`` yields events until stop is set."""

    def __init__(self, source: Callable[[threading.Event], Iterable[RecordedEvent]], maxsize: int = 10_000) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=maxsize)
        self._stopped = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(source,), daemon=True, name="subscription")
        self._thread.start()

    def _run(self, source: Callable[[threading.Event], Iterable[RecordedEvent]]) -> None:
        try:
            for event in source(self._stopped):
                while not self._stopped.is_set():
                    try:
                        self._queue.put(event, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stopped.is_set():
                    return
        except BaseException as error:  # handed to the reader, who decides
            self._error = error
        finally:
            self._put_stop()

    def _put_stop(self) -> None:
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_STOP)

    def _take(self, timeout: float | None) -> RecordedEvent | None:
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _STOP:
            self._put_stop()
            if self._error is not None:
                raise self._error
            raise StopIteration
        assert isinstance(item, RecordedEvent)
        return item

    def __iter__(self) -> Iterator[RecordedEvent]:
        while True:
            try:
                event = self._take(timeout=None)
            except StopIteration:
                return
            if event is not None:
                yield event

    def next_batch(self, limit: int, timeout: float) -> list[RecordedEvent]:
        batch: list[RecordedEvent] = []
        try:
            first = self._take(timeout=timeout)
            if first is None:
                return batch
            batch.append(first)
            while len(batch) < limit:
                event = self._take(timeout=0)
                if event is None:
                    break
                batch.append(event)
        except StopIteration:
            if not batch:
                raise
        return batch

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)


def polling_source(
    read_all: Callable[[int, int], list[RecordedEvent]], after: int, interval: float = 0.05, batch: int = 500
) -> Callable[[threading.Event], Iterable[RecordedEvent]]:
    """Reads the log after a position, and again every ``interval`` seconds once caught up."""

    def source(stop: threading.Event) -> Iterator[RecordedEvent]:
        position = after
        while not stop.is_set():
            events = read_all(position, batch)
            yield from events
            if events:
                position = events[-1].position
            if len(events) < batch:
                stop.wait(interval)

    return source
