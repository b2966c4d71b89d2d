"""The event catalogue: every event class of domain/ listed with a JSON Schema its real events satisfy, and an
AsyncAPI 3.0 document whose structure holds together."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from uuid import uuid4

import msgspec
import pytest
from faststream.nats import NatsBroker
from jsonschema import Draft7Validator, Draft202012Validator
from opentelemetry import trace

from adapters.catalogue.asyncapi import asyncapi_document, server_of, subject_matches
from adapters.catalogue.events import event_types, json_schemas
from adapters.nats import cloudevents
from adapters.nats.work import PipelineWorker, subscribe_pipeline_work
from application.commands import CommandContext, CommandRunner
from application.tenants import SlugTakenError, TenantService
from domain.deadletters import DeadLetter
from domain.pipeline import PipelineRun, manifest, run_id_for
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore

DOMAIN = Path(__file__).resolve().parents[2] / "domain"


def _dotted(node: ast.expr) -> str:
    return ast.unparse(node)


def declared_event_types() -> set[str]:
    """CloudEvents types read from the source: classes nested in an aggregate that extend an event class."""
    found = set()
    for path in DOMAIN.rglob("*.py"):
        inside = path.relative_to(DOMAIN).parts
        context = inside[0] if len(inside) > 1 else path.stem  # a package under domain/ is one context
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.ClassDef) or "Aggregate" not in {_dotted(b) for b in node.bases}:
                continue
            for inner in node.body:
                if isinstance(inner, ast.ClassDef) and any(
                    _dotted(b).endswith((".Event", ".Created")) for b in inner.bases
                ):
                    found.add(f"platform.{context}.{node.name}{inner.name}")
    return found


def test_every_event_class_in_domain_is_in_the_catalogue_and_nothing_else() -> None:
    declared = declared_event_types()
    assert len(declared) > 40  # the walk over the source found the events (a broken walk finds none)
    assert {t.type for t in event_types()} == declared


def test_each_type_is_named_as_the_relay_names_it_on_nats(store: RecorderEventStore) -> None:
    record_some_events(store)
    by_class = {t.cls: t for t in event_types()}
    for recorded in store.read_all(0, 1000):
        listed = by_class[type(recorded.event)]
        assert listed.type == cloudevents.event_type(recorded)
        assert cloudevents.nats_subject("platform", recorded).endswith(listed.subject("platform").split("}", 1)[1])
        assert listed.topic == recorded.topic


@pytest.mark.parametrize("event_type", sorted(json_schemas()))
def test_every_data_schema_is_a_valid_json_schema(event_type: str) -> None:
    schema = json_schemas()[event_type]
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert "originator_id" not in schema["properties"]


# --- real events against their schemas -------------------------------------------------------------------


@pytest.fixture
def store() -> Iterator[RecorderEventStore]:
    memory = open_event_store("memory")
    yield memory
    memory.close()


def context() -> CommandContext:
    return CommandContext("user:test", str(uuid4()), "corr")


def record_some_events(store: RecorderEventStore) -> None:
    """Tenant lifecycle, a pipeline run through every step and a dead letter, recorded as the platform does."""
    runner = CommandRunner(store, lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    tenants = TenantService(runner)
    tenant = tenants.onboard_tenant(context(), "acme", "Acme", "trial").aggregate_id
    tenants.change_entitlements(context(), tenant, ["exports"], {"rows": 10})
    tenants.suspend_tenant(context(), tenant, "unpaid")
    tenants.reinstate_tenant(context(), tenant)
    raw = manifest("raw/a.csv", "a" * 64, 100, 10, "csv")
    gdp = manifest("gdp/a.parquet", "b" * 64, 90, 9, "parquet", "s1")
    run_id = run_id_for(str(tenant), "sales", "1.0.0", "orders", raw["sha256"])
    at = "2026-01-02T03:04:05+00:00"
    ingested = lambda: PipelineRun.ingest(str(tenant), "sales", "1.0.0", "orders", "test", raw, at)  # noqa: E731
    runner.create(context(), "ingest", run_id, make=ingested, tenant_of=lambda r: r.tenant_id, exists=SlugTakenError)
    counts = {"rows_in": 10, "rows_out": 9, "rejected": 1, "duplicates": 0}
    for change in (
        lambda r: r.fail_step("normalize", "disk full", 0.5, 3),
        lambda r: r.normalized(gdp, None, counts, [{"rule": "not_null", "passed": True}], at, at),
        lambda r: r.kpis_built([gdp], gdp, 3, [{"kpi": "revenue", "value": 1.5}], at, at),
        lambda r: r.published("sales", 1, [gdp], [gdp], at, at),
    ):
        runner.update(context(), "step", run_id, change, lambda r: r.tenant_id)
    letter = DeadLetter.record(str(tenant), "webhook", "delivery-1", "deliver", "HTTP 500", 8, None, None)
    runner.create(context(), "dead_letter", letter.id, make=lambda: letter, tenant_of=lambda d: str(tenant),
                  exists=SlugTakenError)  # fmt: skip


def test_the_data_of_real_events_satisfies_the_schema_of_their_type(store: RecorderEventStore) -> None:
    record_some_events(store)
    recorded = store.read_all(0, 1000)
    assert len({r.type for r in recorded}) == 10
    for event in recorded:
        schema = json_schemas()[cloudevents.event_type(event)]
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(dict(event.data))]
        assert not errors, (event.type, errors)


def test_a_schema_refuses_data_of_the_wrong_shape() -> None:
    schema = json_schemas()["platform.pipeline.PipelineRunIngested"]
    assert not Draft202012Validator(schema).is_valid({"tenant_id": "t"})
    raw = manifest("raw/a.csv", "a" * 64, 100, None, "csv")
    data = {"originator_topic": "x", "tenant_id": "t", "contract": "c", "contract_version": "1", "object": "o",
            "source": "s", "raw": raw, "at": "2026-01-01T00:00:00+00:00"}  # fmt: skip
    assert Draft202012Validator(schema).is_valid(data)
    assert not Draft202012Validator(schema).is_valid(data | {"raw": {**raw, "bytes": "many"}})


def test_encrypted_fields_are_named_and_may_arrive_sealed() -> None:
    secret = next(t for t in event_types() if t.type == "platform.secrets.SecretStored")
    assert secret.encrypted_fields == ("value",)
    value = json_schemas()["platform.secrets.SecretStored"]["properties"]["value"]
    assert Draft202012Validator({"$schema": "https://json-schema.org/draft/2020-12/schema", **value}).is_valid(
        "sealed-token"
    )
    assert "sealed" in str(value)


# --- AsyncAPI ---------------------------------------------------------------------------------------------

CHANNEL_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
COMPONENT_KEY = re.compile(r"^[A-Za-z0-9._-]+$")


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[unquote(part).replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def check_structure(document: dict[str, Any]) -> None:
    """What AsyncAPI 3.0 requires of the parts we use, and that every reference resolves."""
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"]
    assert document["info"]["version"]
    for ref in refs(document):
        resolve(document, ref)  # raises KeyError when it points nowhere
    for key, channel in document["channels"].items():
        assert CHANNEL_KEY.fullmatch(key), key
        used = set(re.findall(r"{([^}]+)}", channel["address"]))
        assert used == set(channel.get("parameters", {})), key
    for key, operation in document["operations"].items():
        assert CHANNEL_KEY.fullmatch(key), key
        assert operation["action"] in ("send", "receive")
        channel_ref = operation["channel"]["$ref"]
        assert channel_ref.startswith("#/channels/")
        for message in operation["messages"]:  # an operation's messages are its channel's
            assert message["$ref"].startswith(channel_ref + "/messages/"), (key, message)
    for section in ("messages", "schemas"):
        assert all(COMPONENT_KEY.fullmatch(key) for key in document["components"][section])
    for message in document["components"]["messages"].values():
        assert resolve(document, message["payload"]["$ref"])
    for schema in document["components"]["schemas"].values():
        Draft7Validator.check_schema(schema)  # AsyncAPI's default schema format extends JSON Schema draft 7


def consumers_broker() -> NatsBroker:
    broker = NatsBroker()
    worker = PipelineWorker(None, None, trace.get_tracer("t"))  # type: ignore[arg-type]
    subscribe_pipeline_work(broker, worker, "S", "platform")
    return broker


def test_the_asyncapi_document_holds_together_with_a_send_operation_per_event_type() -> None:
    document = asyncapi_document(event_types(), nats_url="nats://127.0.0.1:4222", consumers=[consumers_broker()])
    check_structure(document)
    sends = [op for op in document["operations"].values() if op["action"] == "send"]
    assert len(sends) == len(event_types())
    onboarded = document["channels"]["tenants_TenantOnboarded"]
    assert onboarded["address"] == "platform.{tenant}.tenants.TenantOnboarded"
    message = resolve(document, onboarded["messages"]["tenants_TenantOnboarded"]["$ref"])
    assert message["name"] == "platform.tenants.TenantOnboarded"
    assert message["contentType"] == "application/cloudevents+json"


def test_consumers_receive_the_event_types_their_subscription_matches() -> None:
    document = asyncapi_document(event_types(), consumers=[consumers_broker()])
    receives = [op for op in document["operations"].values() if op["action"] == "receive"]
    channels = {resolve(document, op["channel"]["$ref"])["address"]: op for op in receives}
    assert set(channels) == {"platform.*.pipeline.>", "platform.*.exports.>", "platform.*.webhooks.>"}
    channel = resolve(document, channels["platform.*.exports.>"]["channel"]["$ref"])
    assert set(channel["messages"]) == {t.key for t in event_types() if t.context == "exports"}


def test_a_cloud_event_the_relay_sends_satisfies_its_message_payload(store: RecorderEventStore) -> None:
    record_some_events(store)
    document = asyncapi_document(event_types())
    for recorded in store.read_all(0, 1000):
        key = cloudevents.event_type(recorded).removeprefix("platform.").replace(".", "_", 1)
        payload = {"components": document["components"], "$ref": f"#/components/schemas/{key}_message"}
        wire = cloudevents.to_cloud_event(recorded)
        assert Draft7Validator(payload).is_valid(msgspec.to_builtins(wire)), key
        assert not Draft7Validator(payload).is_valid({"specversion": "1.0", "type": "platform.other.Thing"})


@pytest.mark.parametrize(
    ("subscription", "address", "matches"),
    [
        ("platform.>", "platform.{tenant}.tenants.TenantOnboarded", True),
        ("platform.*.tenants.>", "platform.{tenant}.tenants.TenantOnboarded", True),
        ("platform.*.pipeline.>", "platform.{tenant}.tenants.TenantOnboarded", False),
        ("platform.acme.tenants.*", "platform.{tenant}.tenants.TenantOnboarded", True),
        ("platform.*.tenants", "platform.{tenant}.tenants.TenantOnboarded", False),
        ("other.>", "platform.{tenant}.tenants.TenantOnboarded", False),
    ],
)
def test_subscription_subjects_match_as_nats_does(subscription: str, address: str, matches: bool) -> None:
    assert subject_matches(subscription, address) is matches


def test_the_server_names_host_and_port_never_credentials() -> None:
    assert server_of("nats://user:secret@nats.example:4333,nats://b:4222") == {
        "host": "nats.example:4333",
        "protocol": "nats",
    }


def test_each_read_model_fed_from_nats_receives_the_whole_stream_and_takes_its_contexts_types() -> None:
    feeds = {"tenant_directory": frozenset({"tenants"}), "everything": frozenset()}
    document = asyncapi_document(event_types(), feeds=feeds)
    check_structure(document)
    directory = document["channels"]["feed_tenant_directory"]
    assert directory["address"] == "platform.>"
    assert set(directory["messages"]) == {t.key for t in event_types() if t.context == "tenants"}
    assert len(document["channels"]["feed_everything"]["messages"]) == len(event_types())
    assert document["operations"]["feed_tenant_directory"]["action"] == "receive"
