"""The unit of work over the in-memory event store: each aggregate loaded once (per command, per block, per HTTP
request), snapshots taken and used, and a command's idempotency kept behind a snapshot; snapshots of sealed stores
are sealed whole."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from application.commands import CommandContext, CommandRunner, IdempotencyKeyReusedError, replay
from application.tenants import TenantService
from application.unit_of_work import SNAPSHOT_INTERVALS
from domain.errors import ConflictError
from domain.products import DataProduct, product_id_for
from domain.tenants import Tenant
from eventstore.adapters import open_event_store
from eventstore.cipher import KeyErasedError
from eventstore.recorder_store import RecorderEventStore
from eventstore.snapshots import Snapshot, encode, state_of
from interfaces.http.unit_of_work import unit_of_work_middleware

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
INTERVAL = SNAPSHOT_INTERVALS[Tenant]
OF_PRODUCT: dict[str, Any] = {"tenant_of": lambda p: p.tenant_id, "exists": lambda: ConflictError("exists")}


class FakeCipher:
    """Reversible and obviously not clear text; tenants in ``erased`` have lost their key."""

    def __init__(self) -> None:
        self.erased: set[str | None] = set()

    def encrypt(self, tenant_id: str | None, value: Any) -> str:
        if tenant_id in self.erased:
            raise KeyErasedError(tenant_id)
        return "sealed:" + msgspec.json.encode(value).hex()

    def decrypt(self, tenant_id: str | None, token: str) -> Any:
        if tenant_id in self.erased:
            raise KeyErasedError(tenant_id)
        return msgspec.json.decode(bytes.fromhex(token.removeprefix("sealed:")))


class Counted:
    """The real store, counting the streams read."""

    def __init__(self, inner: RecorderEventStore) -> None:
        self.inner = inner
        self.reads: list[tuple[UUID, int | None]] = []

    def read_stream(self, stream_id: UUID, after_version: int | None = None) -> Any:
        self.reads.append((stream_id, after_version))
        return self.inner.read_stream(stream_id, after_version)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def context(command_id: str | None = None, fingerprint: str | None = None) -> CommandContext:
    return CommandContext("user:alice", command_id or f"cmd-{uuid4()}", "corr", request_fingerprint=fingerprint)


@pytest.fixture
def cipher() -> FakeCipher:
    return FakeCipher()


@pytest.fixture
def store(cipher: FakeCipher) -> Iterator[RecorderEventStore]:
    memory = open_event_store("memory", cipher=cipher)
    yield memory
    memory.close()


def service(store: Any) -> TenantService:
    return TenantService(CommandRunner(store, lambda: NOW))


def grown(store: RecorderEventStore, changes: int) -> UUID:
    """A tenant with ``changes`` changes of entitlements after its onboarding."""
    tenants = service(store)
    tenant_id = tenants.onboard_tenant(context(), "acme", "Acme Ltd", "trial").aggregate_id
    for n in range(changes):
        tenants.change_entitlements(context(f"change-{n}"), tenant_id, [f"feature-{n}"], {"seats": n})
    return tenant_id


def test_a_unit_of_work_loads_each_aggregate_once(store: RecorderEventStore) -> None:
    tenant_id = grown(store, 2)
    counted = Counted(store)
    tenants = service(counted)

    with tenants.runner.unit_of_work():
        assert tenants.current_tenant(tenant_id) is not None
        tenants.change_entitlements(context(), tenant_id, ["exports"], {})
        tenants.suspend_tenant(context(), tenant_id, "unpaid")
        found = tenants.current_tenant(tenant_id)

    assert counted.reads == [(tenant_id, None)]
    assert found is not None
    assert (found.status, found.features) == ("suspended", ["exports"])
    assert [r.type for r in store.read_stream(tenant_id)][-2:] == ["TenantEntitlementsChanged", "TenantSuspended"]


def test_without_a_unit_each_command_loads_its_aggregate(store: RecorderEventStore) -> None:
    tenant_id = grown(store, 0)
    counted = Counted(store)
    tenants = service(counted)

    tenants.change_entitlements(context(), tenant_id, ["exports"], {})
    tenants.suspend_tenant(context(), tenant_id, "unpaid")

    assert counted.reads == [(tenant_id, None), (tenant_id, None)]


def test_a_snapshot_is_taken_every_interval_and_loads_with_the_later_events(store: RecorderEventStore) -> None:
    tenant_id = grown(store, INTERVAL + 3)
    snapshot = store.load_snapshot(tenant_id)
    assert snapshot is not None
    assert snapshot.version == INTERVAL - 1  # after its first INTERVAL events
    counted = Counted(store)

    loaded = service(counted).current_tenant(tenant_id)

    assert counted.reads == [(tenant_id, INTERVAL - 1)]
    replayed = replay(store.read_stream(tenant_id))
    assert loaded is not None
    assert state_of(loaded) == state_of(replayed)
    assert loaded.id == tenant_id


def test_a_command_behind_the_snapshot_still_answers_as_its_first_run(store: RecorderEventStore) -> None:
    tenants = service(store)
    tenant_id = tenants.onboard_tenant(context(), "acme", "Acme Ltd", "trial").aggregate_id
    first = tenants.change_entitlements(context("keyed", "f-a"), tenant_id, ["exports"], {})
    for n in range(INTERVAL):
        tenants.change_entitlements(context(), tenant_id, [f"feature-{n}"], {})
    assert store.load_snapshot(tenant_id) is not None
    last = store.last_position()

    again = service(store).change_entitlements(context("keyed", "f-a"), tenant_id, ["exports"], {})

    assert (again.replayed, again.position) == (True, first.position)
    with pytest.raises(IdempotencyKeyReusedError):
        service(store).change_entitlements(context("keyed", "f-b"), tenant_id, ["webhooks"], {})
    assert store.last_position() == last


def test_a_snapshot_is_sealed_whole_and_gone_with_its_tenants_key(
    store: RecorderEventStore, cipher: FakeCipher
) -> None:
    tenant_id = grown(store, INTERVAL)
    stored = encode(store.load_snapshot(tenant_id) or pytest.fail("no snapshot"), cipher)
    assert stored is not None
    body = msgspec.json.decode(stored.state)["body"]
    assert body.startswith("sealed:")  # the whole packed state, as the tenant's key seals it
    assert b"Acme Ltd" in base64.b64decode(cipher.decrypt(str(tenant_id), body))

    cipher.erased.add(str(tenant_id))

    assert store.load_snapshot(tenant_id) is None
    loaded = service(store).current_tenant(tenant_id)
    assert loaded is not None
    assert loaded.version == INTERVAL  # read from the whole stream instead


def test_a_state_that_does_not_survive_the_trip_is_not_snapshotted() -> None:
    state = {"_version": 3, "done": {"normalize", "build_kpis"}}  # a set comes back as a list

    assert encode(Snapshot(uuid4(), 3, 9, "domain.pipeline:PipelineRun", None, state), None) is None
    assert encode(Snapshot(uuid4(), 3, 9, "domain.pipeline:PipelineRun", None, {"versions": {1: "x"}}), None)


def test_a_refused_command_drops_the_aggregate_it_may_have_changed(store: RecorderEventStore) -> None:
    tenant_id = grown(store, 0)
    tenants = service(store)

    def change_then_refuse(tenant: Tenant) -> None:
        tenant.suspend("half")
        raise RuntimeError("refused after changing")

    with tenants.runner.unit_of_work():
        with pytest.raises(RuntimeError):
            tenants.runner.update(context(), "odd", tenant_id, change_then_refuse, lambda t: str(t.id))
        found = tenants.current_tenant(tenant_id)

    assert found is not None

    assert found.status == "active"


def test_a_product_with_many_versions_loads_from_its_snapshot_as_it_replays(store: RecorderEventStore) -> None:
    runner = CommandRunner(store, lambda: NOW)
    product_id = product_id_for("t-1", "sales")
    dataset = {"name": "kpis", "served": {"key": "k"}, "source": {"key": "s"}, "columns": [], "masked": []}

    def publish(product: DataProduct) -> None:
        product.publish("sales", "1.0.0", str(uuid4()), "Sales", None, None, [dataset], "passed", [])  # type: ignore[list-item]

    runner.create(context(), "create", product_id, make=lambda: DataProduct.create("t-1", "sales"), **OF_PRODUCT)
    for _ in range(SNAPSHOT_INTERVALS[DataProduct]):
        runner.update(context(), "publish", product_id, publish, lambda p: p.tenant_id, aggregate=DataProduct)
    assert store.load_snapshot(product_id) is not None

    loaded = runner.get(product_id, DataProduct)

    assert loaded is not None
    assert state_of(loaded) == state_of(replay(store.read_stream(product_id)))
    assert loaded.latest == SNAPSHOT_INTERVALS[DataProduct]


def test_an_http_request_is_one_unit_of_work_across_its_worker_threads(store: RecorderEventStore) -> None:
    tenant_id = grown(store, 0)
    counted = Counted(store)
    runner = CommandRunner(counted, lambda: NOW)

    @get("/tenant", sync_to_thread=True)
    def read_twice() -> str:
        first, second = runner.get(tenant_id, Tenant), runner.get(tenant_id, Tenant)
        return "same" if first is second else "reloaded"

    app = Litestar([read_twice], middleware=[unit_of_work_middleware(runner)])
    with TestClient(app) as client:
        answers = [client.get("/tenant").text for _ in range(2)]

    assert answers == ["same", "same"]
    assert counted.reads == [(tenant_id, None), (tenant_id, None)]  # once per request


def test_the_events_a_unit_appended_come_back_as_a_read_of_the_log_gives_them(store: RecorderEventStore) -> None:
    grown(store, 1)
    before = store.last_position()
    tenants = service(store)

    with tenants.runner.unit_of_work() as unit:
        acme = tenants.onboard_tenant(context(), "globex", "Globex Corp", "trial").aggregate_id
        tenants.change_entitlements(context(), acme, ["exports"], {"seats": 3})
        tenants.suspend_tenant(context(), acme, "unpaid")

    written = unit.recorded_after(before)
    assert [r.type for r in written] == ["TenantOnboarded", "TenantEntitlementsChanged", "TenantSuspended"]
    assert written == store.read_all(before, 100)  # sealed display name included: a read opens it
    assert unit.recorded_after(written[1].position) == written[2:]
