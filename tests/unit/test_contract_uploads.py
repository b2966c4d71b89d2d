"""ContractUploads: a document arrives as bytes of a media type, is read through the port, and is registered or
drafted as a version (fake reader, in-memory event store)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from application.commands import CommandContext, CommandRunner
from application.contract_uploads import ContractUploads
from application.contracts import ContractService
from domain.contracts import contract_id_for
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
TENANT = str(uuid4())


def document(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "orders",
        "version": version,
        "status": "active",
        "schema": [{"name": "orders", "properties": [{"name": "order_id", "logicalType": "string"}]}],
    }


@dataclass
class FakeReader:
    """Answers the document it was given for each body, and notes what it was asked."""

    documents: dict[bytes, dict[str, Any]]
    asked: list[tuple[bytes, str, int | None]] = field(default_factory=list)

    def __call__(self, body: bytes, media_type: str, max_bytes: int | None = None) -> Mapping[str, Any]:
        self.asked.append((body, media_type, max_bytes))
        return self.documents[body]


@pytest.fixture
def store() -> Iterator[RecorderEventStore]:
    memory = open_event_store("memory")
    yield memory
    memory.close()


def context() -> CommandContext:
    return CommandContext("user:engineer", f"cmd-{uuid4()}", "corr")


def test_an_upload_registers_a_contract_then_drafts_its_next_version(store: RecorderEventStore) -> None:
    reader = FakeReader({b"v1": document("1.0.0"), b"v2": document("1.1.0")})
    contracts = ContractService(CommandRunner(store, lambda: NOW), max_document_bytes=4096)
    uploads = ContractUploads(contracts, reader)

    first = uploads.upload_contract(context(), TENANT, b"v1", "application/yaml")
    second = uploads.upload_version(context(), TENANT, "orders", b"v2", "application/json")

    assert (first.contract, first.version, second.contract, second.version) == ("orders", "1.0.0", "orders", "1.1.0")
    assert first.result.aggregate_id == second.result.aggregate_id == contract_id_for(TENANT, "orders")
    assert reader.asked == [(b"v1", "application/yaml", 4096), (b"v2", "application/json", 4096)]
    current = contracts.current_contract(TENANT, "orders")
    assert current is not None
    assert sorted(current.versions) == ["1.0.0", "1.1.0"]
