"""The settings grouped by concern: what one part of the platform is told, and nothing else.

Each group's fields carry the names of the ``Settings`` fields they view (PLATFORM_<NAME> documents them there);
every setting belongs to exactly one group (a test checks).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.values import Shard
from interfaces.settings.values import EventStoreKind, LogFormat, Network, Placement, Quota, Switch


@dataclass(frozen=True)
class StoreSettings:
    """Where the event log, the read models and the dataset files are kept."""

    event_store: EventStoreKind
    event_store_url: str
    read_model_url: str
    poll_interval: float
    datasets: str
    scratch_dir: str


@dataclass(frozen=True)
class HttpSettings:
    """How `platform serve` listens and answers, and how the CLI reaches it."""

    host: str
    port: int
    url: str
    api_key: str
    auth: Switch
    consistency_timeout: float
    cors_origins: tuple[str, ...]
    tls_cert: str
    tls_key: str
    tls_client_ca: str
    export_link_ttl: int


@dataclass(frozen=True)
class LimitSettings:
    """The gateway's size limits and rate limits, and the bounds of one batch."""

    max_body_bytes: int
    max_contract_bytes: int
    max_ingest_bytes: int
    max_batch_rows: int
    max_expansion: float
    rate_limit_principal: Quota | None
    rate_limit_tenant: Quota | None
    rate_limit_client: Quota | None
    rate_limit_auth_failures: Quota | None
    rate_limit_store: str


@dataclass(frozen=True)
class PipelineSettings:
    """Retries of pipeline steps, and how long a silent consumer holds pipeline work."""

    pipeline_attempts: int
    pipeline_backoff: float
    work_ack_wait: float


@dataclass(frozen=True)
class ProcessManagerSettings:
    """Which background parts run inside `platform serve`, and the scheduler's and action engine's timing."""

    projections: Placement
    lease_ttl: float
    orchestrator: Placement
    scheduler: Placement
    action_engine: Placement
    webhook_dispatcher: Placement
    scheduler_interval: float
    scheduler_stale_after: float
    action_attempts: int
    action_backoff: float


@dataclass(frozen=True)
class WebhookSettings:
    """How webhooks (and action deliveries) are sent: retries, time allowed, shard, networks allowed."""

    webhook_retry_schedule: tuple[float, ...]
    webhook_timeout: float
    webhook_shard: Shard
    webhook_allowed_networks: tuple[Network, ...]


@dataclass(frozen=True)
class KeySettings:
    """The platform's keys (each from a shared file a setting names, else under the keys directory) and the token
    issuer trusted."""

    keys_dir: str
    kek_file: str
    keys_url: str
    masking_key_file: str
    fingerprint_key_file: str
    link_key_file: str
    jwt_signing_key_file: str
    bootstrap_admin_key_file: str
    jwt_issuer: str
    jwt_audience: str
    jwks_file: str
    jwks_url: str
    jwt_leeway: float


@dataclass(frozen=True)
class TelemetrySettings:
    """Logs, metrics, readiness and the decision log's retention."""

    log_level: str
    log_format: LogFormat
    metrics_token: str
    ready_max_lag: int
    read_model_stall_after: float
    decision_log_retention_days: int


@dataclass(frozen=True)
class NatsSettings:
    """The NATS server and the JetStream stream events are relayed to."""

    nats_url: str
    nats_stream: str
    nats_subject_prefix: str


@dataclass(frozen=True)
class LedgerSettings:
    """When the evidence ledger signs checkpoints, and under which origin."""

    ledger_origin: str
    ledger_checkpoint_every: int
    ledger_checkpoint_interval: float
