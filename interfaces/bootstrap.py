"""The composition root: the one place that turns settings into wired adapters and services."""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import projections
from adapters.auth.authenticator import Authenticator, NoAuthentication
from adapters.auth.cedar import PolicyEngine
from adapters.auth.decision_log import DecisionLog
from adapters.auth.simulation import DecisionLogReplay
from adapters.auth.tokens import TokenVerifier
from adapters.catalogue.asyncapi import asyncapi_document
from adapters.catalogue.events import event_types
from adapters.catalogue.queries import EventCatalogue, EventTypeList, EventTypeView
from adapters.compute.batch_check import ContractBatchCheck
from adapters.compute.encodings import MEDIA_TYPES, encode, negotiate
from adapters.compute.rows import parse_query, run_query
from adapters.compute.steps import ComputeSteps, tenant_salts
from adapters.contracts import read_odcs
from adapters.datasets.blobs import DatasetBlobs
from adapters.datasets.bounds import Bounds
from adapters.datasets.raw import RawBatches
from adapters.datasets.scratch import sweep
from adapters.datasets.store import DatasetStore
from adapters.delivery.guard import AddressGuard
from adapters.keys import EnvelopeCipher
from adapters.keys.rowseal import RowSealer
from adapters.ledger import Ledger, StoredCheckpoint
from adapters.ledger.tables import Leaf
from adapters.lineage.changes import VersionChanges, version_changes
from adapters.lineage.queries import LineageQueries, LineageWalk, ObligationReport, RunEvent
from adapters.parked_letters import ParkedLetters
from adapters.process_checkpoints import SqlCheckpoints
from adapters.projection_worker import ProjectionWorker
from adapters.readmodel_health import ReadModelHealth
from adapters.readmodel_leases import ReadModelLeases
from adapters.readmodels import ReadModelStore
from adapters.telemetry import CONTENT_TYPE, MeteredCommandRunner, Readiness, Telemetry, module_of
from application.access import AccessService
from application.action_engine import ActionEngine
from application.actions import ActionService
from application.authentication import Authentication
from application.authorization import Authorization, PermitAll
from application.commands import CommandRunner
from application.contract_uploads import ContractUploads
from application.contracts import ContractService
from application.deadletters import DeadLetterService
from application.export_links import ExportLinks
from application.ingestion import IngestionService
from application.jobs import PlatformJobs
from application.orchestrator import Orchestrator
from application.personal_data import PersonalDataService
from application.pipeline import PipelineService
from application.policies import PolicyService
from application.policy_simulation import PolicySimulation
from application.scheduler import Scheduler
from application.schedules import SchedulerService
from application.schemas import SchemaRegistryService
from application.secrets import SecretService
from application.tenant_access import TenantAccess
from application.tenants import TenantService
from application.webhook_dispatcher import WebhookDispatcher
from application.webhooks import WebhookService
from eventstore.adapters import open_event_store
from eventstore.port import EventStore
from interfaces import background_parts as parts
from interfaces.platform_keys import check_shared_key_files, field_cipher, local_issuer_key, platform_secret
from interfaces.settings import Settings, Switch
from interfaces.settings.groups import (
    HttpSettings,
    KeySettings,
    NatsSettings,
    ProcessManagerSettings,
    StoreSettings,
    TelemetrySettings,
)
from projections.access import AccessQueries
from projections.actions import ActionQueries
from projections.contract_queries import ContractQueries
from projections.deadletters import DeadLetterQueries
from projections.exports import ExportQueries
from projections.personal_data import PersonalDataQueries
from projections.policies import ActivePolicies, PolicyQueries
from projections.products import ProductQueries
from projections.runs import RunQueries
from projections.schedules import ScheduleQueries
from projections.schemas import SchemaQueries
from projections.secrets import SecretQueries
from projections.tenant_directory import TenantQueries
from projections.webhooks import WebhookQueries

__all__ = [  # the composition root's own names, and what the HTTP handlers use of the adapters (named here so that
    # no handler imports an adapter module itself: tests/unit/test_dependency_rule.py)
    "CONTENT_TYPE",
    "MEDIA_TYPES",
    "ComputeSteps",
    "DatasetStore",
    "EventCatalogue",
    "EventTypeList",
    "EventTypeView",
    "Leaf",
    "Ledger",
    "LineageQueries",
    "LineageWalk",
    "ObligationReport",
    "Platform",
    "Readiness",
    "RunEvent",
    "StoredCheckpoint",
    "Telemetry",
    "VersionChanges",
    "asyncapi_document",
    "bootstrap",
    "encode",
    "event_types",
    "module_of",
    "negotiate",
    "open_authenticator",
    "open_authorization",
    "open_datasets",
    "open_decision_log",
    "open_field_cipher",
    "open_leases",
    "open_read_models",
    "open_store",
    "parse_query",
    "run_query",
    "sweep_scratch",
    "token_verifier",
    "utc_now",
    "version_changes",
]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Platform:
    """Everything the edges (HTTP, consumers, CLI) need, built once."""

    settings: Settings
    store: EventStore
    read_models: ReadModelStore
    tenants: TenantService
    access: AccessService
    worker: ProjectionWorker
    authenticator: Authentication
    policies: PolicyEngine
    secrets: SecretService
    contracts: ContractService
    cipher: EnvelopeCipher
    schemas: SchemaRegistryService
    policy_documents: PolicyService
    decisions: DecisionLog
    personal_data: PersonalDataService
    datasets: DatasetStore
    compute: ComputeSteps
    pipeline: PipelineService
    orchestrator: Orchestrator
    dead_letters: DeadLetterService
    webhooks: WebhookService
    webhook_dispatcher: WebhookDispatcher
    schedules: SchedulerService
    scheduler: Scheduler
    fingerprint_secret: bytes
    telemetry: Telemetry
    ledger: Ledger
    actions: ActionService
    action_engine: ActionEngine
    runner: CommandRunner
    """Runs every service's commands; ``runner.unit_of_work()`` loads each aggregate once for a request or a pass."""
    authorization: Authorization
    ingestion: IngestionService
    runs: RunQueries
    exports: ExportQueries
    export_links: ExportLinks
    dead_letter_views: DeadLetterQueries
    schedule_views: ScheduleQueries
    products: ProductQueries
    action_views: ActionQueries
    webhook_views: WebhookQueries
    lineage: LineageQueries
    tenant_queries: TenantQueries
    access_queries: AccessQueries
    tenant_access: TenantAccess
    secret_queries: SecretQueries
    personal_data_queries: PersonalDataQueries
    schema_queries: SchemaQueries
    policy_queries: PolicyQueries
    policy_simulation: PolicySimulation
    contract_queries: ContractQueries
    contract_uploads: ContractUploads
    event_catalogue: EventCatalogue

    def close(self) -> None:
        self.scheduler.stop()
        self.action_engine.stop()
        self.orchestrator.stop()
        self.webhook_dispatcher.stop()
        self.worker.stop()
        self.ledger.stop()
        self.decisions.close()
        self.policies.close()
        self.read_models.close()
        self.store.close()
        self.cipher.close()


def open_read_models(stores: StoreSettings, cipher: EnvelopeCipher) -> ReadModelStore:
    """The read models, sealing their personal columns with the tenants' data keys."""
    return ReadModelStore(stores.read_model_url, projections.ALL, RowSealer(cipher))


def open_leases(process_managers: ProcessManagerSettings, read_models: ReadModelStore) -> ReadModelLeases:
    """A feeder's side of the read-model leases (one per feeding part of a process), named after its host and pid."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    return ReadModelLeases(read_models.engine, tuple(read_models.projections), owner, process_managers.lease_ttl)


def open_field_cipher(keys: KeySettings) -> EnvelopeCipher:
    """Envelope encryption of personal and secret event fields: the keyring (PLATFORM_KEK_FILE, or created under
    PLATFORM_KEYS_DIR) and the data-key database (PLATFORM_KEYS_URL, else a file under PLATFORM_KEYS_DIR)."""
    return field_cipher(keys)


def open_decision_log(telemetry: TelemetrySettings, read_models: ReadModelStore) -> DecisionLog:
    """The decision log in the read-model database, kept PLATFORM_DECISION_LOG_RETENTION_DAYS (0: forever)."""
    days = telemetry.decision_log_retention_days
    return DecisionLog(read_models.engine, utc_now, timedelta(days=days) if days else None)


def open_datasets(stores: StoreSettings, cipher: EnvelopeCipher | None = None) -> DatasetStore:
    """The dataset store; with the cipher's key store, files of the sealed stages are sealed under their tenant's
    data key (without it, only blobs can be read and written)."""
    keys = cipher.keys if cipher is not None else None
    return DatasetStore.open(stores.datasets, Path(stores.scratch_dir), keys)


def open_store(stores: StoreSettings, cipher: EnvelopeCipher, datasets: DatasetStore | None = None) -> EventStore:
    """The event store the settings name, sealing and opening encrypted fields with the cipher and keeping the
    fields events store apart (contract documents) in the dataset store."""
    blobs = DatasetBlobs(datasets or open_datasets(stores))
    return open_event_store(
        stores.event_store, stores.event_store_url, poll_interval=stores.poll_interval, cipher=cipher, blobs=blobs
    )


def open_authorization(
    http: HttpSettings, policies: PolicyEngine, decisions: DecisionLog, access: AccessService, tenants: TenantService
) -> Authorization:
    """The one authorization path; with PLATFORM_AUTH=off (benchmarks only) it permits everything."""
    engine = PermitAll() if http.auth == Switch.OFF else policies
    return Authorization(engine, decisions, access, tenants)


def open_authenticator(
    http: HttpSettings, keys: KeySettings, read_models: ReadModelStore, health: ReadModelHealth
) -> Authentication:
    """Bearer JWTs and API keys; with PLATFORM_AUTH=off, every caller is the anonymous platform admin."""
    if http.auth == Switch.OFF:
        return NoAuthentication()
    return Authenticator(read_models, token_verifier(keys), utc_now, health=health)


def open_telemetry(
    telemetry: TelemetrySettings, nats: NatsSettings, store: EventStore, read_models: ReadModelStore
) -> Telemetry:
    """Metrics, readiness and the read models' health (PLATFORM_READY_MAX_LAG, PLATFORM_READ_MODEL_STALL_AFTER)."""
    health = ReadModelHealth(store, read_models, telemetry.read_model_stall_after)
    return Telemetry(
        store,
        read_models,
        utc_now,
        health=health,
        nats_url=nats.nats_url,
        nats_stream=nats.nats_stream,
        scrape_token=telemetry.metrics_token,
        ready_max_lag=telemetry.ready_max_lag,
    )


def bootstrap(settings: Settings | None = None) -> Platform:
    settings = settings or Settings.from_env()
    check_shared_key_files(settings.keys)
    stores, limits = settings.stores, settings.limits
    cipher = open_field_cipher(settings.keys)
    datasets = open_datasets(stores, cipher)
    store = open_store(stores, cipher, datasets)
    read_models = open_read_models(stores, cipher)
    telemetry = open_telemetry(settings.telemetry, settings.nats, store, read_models)
    runner = MeteredCommandRunner(store, utc_now, telemetry.metrics)
    dead_letters = DeadLetterService(runner)
    ParkedLetters(store, read_models, dead_letters).wire()
    core = parts.Core(store, runner, SqlCheckpoints(read_models.engine), dead_letters, utc_now)
    policies = PolicyEngine(source=ActivePolicies(read_models.engine))
    schemas = SchemaRegistryService(runner)
    contracts = ContractService(runner, schemas, limits.max_contract_bytes)
    salts = tenant_salts(platform_secret(settings.keys, "masking_key_file"))
    bounds = Bounds(limits.max_batch_rows, limits.max_expansion)
    compute = ComputeSteps(datasets, Path(stores.scratch_dir), salts, bounds)
    pipeline = PipelineService(runner, contracts)
    secrets = SecretService(runner, cipher)
    guard = AddressGuard(settings.webhooks.webhook_allowed_networks)
    webhooks, webhook_dispatcher = parts.webhooks_and_dispatcher(settings.webhooks, core, secrets, guard)
    actions, action_engine = parts.actions_and_engine(settings, core, contracts, secrets, guard)
    tenants = TenantService(runner, cipher, datasets)
    access = AccessService(runner)
    decisions = open_decision_log(settings.telemetry, read_models)
    authorization = open_authorization(settings.http, policies, decisions, access, tenants)
    orchestrator = parts.orchestrator(settings.pipeline, core, pipeline, compute, authorization)
    policy_documents = PolicyService(runner, policies)
    schedules = SchedulerService(runner)
    ledger = parts.ledger(settings, store, read_models, cipher)
    # kpi_rebuild runs fail, saying so, until its callable is given here.
    jobs = PlatformJobs(pipeline, tenants, checkpoint_ledger=ledger.scheduled_checkpoint)
    scheduler = parts.scheduler(settings.process_managers, core, schedules, jobs)
    raw = RawBatches(datasets)
    batch_check = ContractBatchCheck(compute)
    ingestion = IngestionService(contracts, pipeline, authorization, raw, batch_check, utc_now, limits.max_ingest_bytes)
    return Platform(
        settings=settings,
        store=store,
        read_models=read_models,
        tenants=tenants,
        access=access,
        worker=ProjectionWorker(store, read_models, leases=open_leases(settings.process_managers, read_models)),
        authenticator=open_authenticator(settings.http, settings.keys, read_models, telemetry.health),
        policies=policies,
        secrets=secrets,
        cipher=cipher,
        schemas=schemas,
        contracts=contracts,
        policy_documents=policy_documents,
        decisions=decisions,
        personal_data=PersonalDataService(runner),
        datasets=datasets,
        compute=compute,
        pipeline=pipeline,
        orchestrator=orchestrator,
        dead_letters=dead_letters,
        webhooks=webhooks,
        webhook_dispatcher=webhook_dispatcher,
        schedules=schedules,
        scheduler=scheduler,
        fingerprint_secret=platform_secret(settings.keys, "fingerprint_key_file"),
        telemetry=telemetry,
        ledger=ledger,
        actions=actions,
        action_engine=action_engine,
        runner=runner,
        authorization=authorization,
        ingestion=ingestion,
        runs=RunQueries(read_models.engine),
        exports=ExportQueries(read_models.engine),
        export_links=ExportLinks(platform_secret(settings.keys, "link_key_file"), settings.http.export_link_ttl),
        dead_letter_views=DeadLetterQueries(read_models.engine),
        schedule_views=ScheduleQueries(read_models.engine),
        products=ProductQueries(read_models.engine),
        action_views=ActionQueries(read_models.engine),
        webhook_views=WebhookQueries(read_models.engine, read_models.opened),
        lineage=LineageQueries(read_models.engine, datasets),
        tenant_queries=TenantQueries(read_models.engine),
        access_queries=AccessQueries(read_models.engine, read_models.opened),
        tenant_access=TenantAccess(access),
        secret_queries=SecretQueries(read_models.engine),
        personal_data_queries=PersonalDataQueries(read_models.engine),
        schema_queries=SchemaQueries(read_models.engine),
        policy_queries=PolicyQueries(read_models.engine),
        policy_simulation=PolicySimulation(policy_documents, DecisionLogReplay(policies, decisions)),
        contract_queries=ContractQueries(read_models.engine),
        contract_uploads=ContractUploads(contracts, read_odcs),
        event_catalogue=EventCatalogue(settings.nats.nats_subject_prefix),
    )


def sweep_scratch(stores: StoreSettings) -> list[Path]:
    """At the start of a process that stages files (serve, orchestrator, consumers): removes the staging files and
    work directories dead processes left under PLATFORM_SCRATCH_DIR, never one a live process holds."""
    return sweep(Path(stores.scratch_dir), time.time())


def token_verifier(keys: KeySettings) -> TokenVerifier:
    return TokenVerifier.from_files(
        keys.jwt_issuer, keys.jwt_audience, keys.jwt_leeway, keys.jwks_file, keys.jwks_url, local_issuer_key(keys)
    )
