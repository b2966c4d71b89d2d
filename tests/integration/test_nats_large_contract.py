"""A contract larger than NATS's payload limit goes through the relay on a real JetStream: its message carries the
document's SHA-256 (``blobfields``), and a platform consumer reads the document back from the blob store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from nats.js import JetStreamContext

from adapters.nats import cloudevents
from application.commands import CommandContext, CommandRunner
from application.contracts import ContractService
from domain.contracts import canonical_json
from eventstore.adapters import open_event_store
from eventstore.blobs import InMemoryBlobs
from eventstore.recorder_store import RecorderEventStore
from tests.data.wide_contracts import wide_contract
from tests.integration import test_nats_relay
from tests.integration.test_nats_relay import relay_for, running, stream_messages, wait_until

pytestmark = pytest.mark.nats
js, prefix = test_nats_relay.js, test_nats_relay.prefix  # the fixtures
TENANT = "4f9a1c52-0000-4000-8000-000000000001"
NATS_MAX_PAYLOAD = 1024 * 1024


@pytest.fixture
def store() -> Iterator[RecorderEventStore]:
    events = open_event_store("memory", blobs=InMemoryBlobs())
    yield events
    events.close()


async def test_a_contract_over_the_nats_payload_limit_travels_as_its_hash(
    js: JetStreamContext, nats_url: str, stream_name: str, prefix: str, store: RecorderEventStore
) -> None:
    document = wide_contract(NATS_MAX_PAYLOAD + 100_000, columns=40)
    contracts = ContractService(
        CommandRunner(store, lambda: datetime.now(UTC)), max_document_bytes=2 * NATS_MAX_PAYLOAD
    )
    contracts.register_contract(CommandContext("user:test", "cmd-1", "corr-1"), TENANT, document)

    async with running(relay_for(store, nats_url, stream_name, prefix)):
        await wait_until(lambda: _published(js, stream_name))
        [message] = await stream_messages(js, stream_name)

    payload = message.data or b""
    attributes = json.loads(payload)
    back = cloudevents.decode(payload, blobs=store.blobs)
    assert len(canonical_json(document)) > NATS_MAX_PAYLOAD  # inline, the message could not be published
    assert len(payload) < 4096
    assert attributes["blobfields"] == "document,spec"
    assert back.event.document == document
    assert len(back.event.spec["objects"]) == len(document["schema"])


async def _published(js: JetStreamContext, stream: str) -> bool:
    return await test_nats_relay.message_count(js, stream) >= 1
