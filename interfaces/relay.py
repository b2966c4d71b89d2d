"""`platform relay`: publishes the event log to NATS JetStream until stopped."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from adapters.nats.relay import Progress, Relay
from eventstore.cipher import FieldCipher
from eventstore.port import EventStore
from interfaces.bootstrap import open_field_cipher, open_store
from interfaces.settings import Settings
from interfaces.settings.groups import NatsSettings


def build_relay(
    nats: NatsSettings, store: EventStore, progress: Progress | None = None, cipher: FieldCipher | None = None
) -> Relay:
    """The relay to this NATS stream, reading the given event store (sealed fields stay sealed on NATS)."""
    return Relay(store, nats.nats_url, nats.nats_stream, nats.nats_subject_prefix, progress=progress, cipher=cipher)


def run_relay(settings: Settings, stop: threading.Event | None = None, progress: Progress | None = None) -> None:
    """Runs the relay until ``stop`` is set; without one, until SIGINT or SIGTERM."""
    cipher = open_field_cipher(settings.keys)
    store = open_store(settings.stores, cipher)
    try:
        with _stop_event(stop) as stopping:
            asyncio.run(build_relay(settings.nats, store, progress, cipher).run(stopping))
    finally:
        store.close()
        cipher.close()


@contextmanager
def _stop_event(stop: threading.Event | None) -> Iterator[threading.Event]:
    """The given stop event, or one that SIGINT and SIGTERM set (signals can be caught in the main thread only)."""
    if stop is not None or threading.current_thread() is not threading.main_thread():
        yield stop or threading.Event()
        return
    stopping = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda _signum, _frame: stopping.set())
    try:
        yield stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
