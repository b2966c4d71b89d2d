"""Settings: the only module that reads the environment. Every setting has a safe embedded default.

Each PLATFORM_* variable is read once, at start, into a typed value (see ``values``); a bad one stops the start
with one line naming it. ``Settings`` stays one flat, frozen record, so tests and tools build it by keyword
(``Settings(port=0)``); its properties group the values by concern (``settings.webhooks``...), and the
composition root hands each part its group or its values.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, TypeVar

from domain.values import Shard
from domain.webhooks import DEFAULT_SCHEDULE
from interfaces.settings import values as read
from interfaces.settings.groups import (
    HttpSettings,
    KeySettings,
    LedgerSettings,
    LimitSettings,
    NatsSettings,
    PipelineSettings,
    ProcessManagerSettings,
    StoreSettings,
    TelemetrySettings,
    WebhookSettings,
)
from interfaces.settings.values import (
    EventStoreKind,
    LogFormat,
    Network,
    Placement,
    Quota,
    SettingsError,
    Switch,
)

__all__ = ["EventStoreKind", "LogFormat", "Placement", "Quota", "Settings", "SettingsError", "Switch"]

G = TypeVar("G")
FAILED = "failed authentications"


def reads(reader: Callable[[str], Any]) -> dict[str, Any]:
    """The metadata of a field whose variable is read by ``reader`` (fields without are read by the type of their
    default)."""
    return {"read": reader}


def reader_of(default: object) -> Callable[[str], Any]:
    if isinstance(default, StrEnum):
        return read.word(type(default), "word")
    if isinstance(default, str):
        return str
    if isinstance(default, int):
        return read.whole_number
    return read.seconds


@dataclass(frozen=True)
class Settings:
    """Everything the platform can be told from outside, with its PLATFORM_* variable name."""

    event_store: EventStoreKind = field(
        default=EventStoreKind.SQLITE, metadata=reads(read.word(EventStoreKind, "event store"))
    )
    """PLATFORM_EVENT_STORE: sqlite (embedded default), postgres, eventstoredb, or memory (tests only)."""
    event_store_url: str = "var/events.db"
    """PLATFORM_EVENT_STORE_URL: a file path for sqlite, postgresql://... or esdb://... otherwise."""
    read_model_url: str = field(default="sqlite:///var/readmodels.db", metadata=reads(read.sql_url))
    """PLATFORM_READ_MODEL_URL: SQLAlchemy URL of the read-model database (sqlite:/// or postgresql://)."""
    projections: Placement = Placement.INPROCESS
    """PLATFORM_PROJECTIONS: 'inprocess' runs read models inside `platform serve`; 'off' leaves them to workers."""
    host: str = "127.0.0.1"
    """PLATFORM_HOST: address `platform serve` listens on."""
    port: int = field(default=8000, metadata=reads(read.port))
    """PLATFORM_PORT: port `platform serve` listens on."""
    max_body_bytes: int = 1_048_576
    """PLATFORM_MAX_BODY_BYTES: largest command body accepted (413 above it)."""
    max_contract_bytes: int = 1_048_576
    """PLATFORM_MAX_CONTRACT_BYTES: largest contract document as normalized JSON (413 above it); the YAML or JSON
    body that carries it may be twice this (or PLATFORM_MAX_BODY_BYTES, when larger)."""
    consistency_timeout: float = 5.0
    """PLATFORM_CONSISTENCY_TIMEOUT: seconds a query waits for X-Consistent-Position before 503."""
    nats_url: str = field(default="nats://127.0.0.1:4222", metadata=reads(read.url("nats", "tls", "ws", "wss")))
    """PLATFORM_NATS_URL: the NATS server the relay publishes to and consumers read from."""
    nats_stream: str = "PLATFORM_EVENTS"
    """PLATFORM_NATS_STREAM: the JetStream stream holding platform.> subjects."""
    nats_subject_prefix: str = "platform"
    """PLATFORM_NATS_SUBJECT_PREFIX: first token of every subject, platform.<tenant>.<context>.<event-type>."""
    poll_interval: float = 0.05
    """PLATFORM_POLL_INTERVAL: seconds between polls of an event store without push (SQLite)."""
    log_level: str = field(default="INFO", metadata=reads(read.log_level))
    """PLATFORM_LOG_LEVEL: logging level."""
    log_format: LogFormat = LogFormat.TEXT
    """PLATFORM_LOG_FORMAT: 'text' (one plain line per record) or 'json' (one JSON object per line, with the
    trace_id and span_id of the current span)."""
    metrics_token: str = ""
    """PLATFORM_METRICS_TOKEN: a bearer token that may read /metrics without being a principal (for Prometheus);
    empty: only credentials Cedar permits read_metrics (platform admins) may."""
    ready_max_lag: int = 1000
    """PLATFORM_READY_MAX_LAG: /ready answers 503 while a read model is more than this many events behind the log."""
    read_model_stall_after: float = 15.0
    """PLATFORM_READ_MODEL_STALL_AFTER: seconds a read model may stay behind the log without advancing before /ready
    answers 503 naming it and authentication, when it holds principals or tenants, fails closed (503)."""
    lease_ttl: float = field(default=10.0, metadata=reads(read.some_seconds))
    """PLATFORM_LEASE_TTL: seconds a read model's lease outlives its feeder's last renewal (renewed every third of
    it); a killed feeder's read models move to another within TTL + TTL/3."""
    auth: Switch = Switch.ON
    """PLATFORM_AUTH: 'on' (every route but /health, /schema needs an identity and a permit) or 'off' (benchmarks)."""
    keys_dir: str = "var/keys"
    """PLATFORM_KEYS_DIR: the local signing key, bootstrap credential and key files (mode 0700)."""
    jwt_issuer: str = "platform-local"
    """PLATFORM_JWT_ISSUER: the issuer whose bearer tokens are accepted (the local dev issuer by default)."""
    jwt_audience: str = "governed-data-platform"
    """PLATFORM_JWT_AUDIENCE: the audience bearer tokens must name."""
    jwks_file: str = ""
    """PLATFORM_JWKS_FILE: a JWKS file of the issuer's public keys (EdDSA or RS256)."""
    jwks_url: str = field(default="", metadata=reads(read.url("https", "http")))
    """PLATFORM_JWKS_URL: the issuer's JWKS URL, fetched and cached."""
    jwt_leeway: float = 30.0
    """PLATFORM_JWT_LEEWAY: seconds of clock skew allowed on exp and nbf."""
    rate_limit_principal: Quota | None = field(
        default=Quota("principal", 600, 60), metadata=reads(read.rate_limit("principal"))
    )
    """PLATFORM_RATE_LIMIT_PRINCIPAL: requests per window seconds for one principal (token bucket)."""
    rate_limit_tenant: Quota | None = field(
        default=Quota("tenant", 3000, 60), metadata=reads(read.rate_limit("tenant"))
    )
    """PLATFORM_RATE_LIMIT_TENANT: requests per window seconds for all principals of one tenant."""
    rate_limit_client: Quota | None = field(default=Quota("client", 600, 60), metadata=reads(read.rate_limit("client")))
    """PLATFORM_RATE_LIMIT_CLIENT: requests per window seconds from one client address that prove no identity (the
    routes that need no credentials, /health and /ready aside; every request with PLATFORM_AUTH=off)."""
    rate_limit_auth_failures: Quota | None = field(
        default=Quota("auth_failures", 20, 60, FAILED), metadata=reads(read.rate_limit("auth_failures", FAILED))
    )
    """PLATFORM_RATE_LIMIT_AUTH_FAILURES: failed authentications per window seconds from one client address; once
    they are used up, its requests are refused (429) before their credentials are checked, until the bucket refills."""
    max_ingest_bytes: int = 1_073_741_824
    """PLATFORM_MAX_INGEST_BYTES: largest body on ingestion routes (batches), 1 GiB by default."""
    max_batch_rows: int = 50_000_000
    """PLATFORM_MAX_BATCH_ROWS: most rows one batch may hold (422 at upload when its metadata says more; else its
    normalize step fails at once when it reads more)."""
    max_expansion: float = 100.0
    """PLATFORM_MAX_EXPANSION: most bytes a batch's values may take decoded, per byte uploaded (checked like
    PLATFORM_MAX_BATCH_ROWS)."""
    datasets: str = "var/datasets"
    """PLATFORM_DATASETS: the dataset store: a directory, file:///..., or s3://bucket/prefix?endpoint_override=..."""
    scratch_dir: str = "var/scratch"
    """PLATFORM_SCRATCH_DIR: local working space (uploads being received, files being written, S3 downloads)."""
    orchestrator: Placement = Placement.INPROCESS
    """PLATFORM_ORCHESTRATOR: 'inprocess' drives pipeline runs and exports inside `platform serve`; 'off' leaves
    them to `platform orchestrator`."""
    pipeline_attempts: int = 3
    """PLATFORM_PIPELINE_ATTEMPTS: attempts of a failing pipeline step before it goes to the dead letters."""
    pipeline_backoff: float = 0.5
    """PLATFORM_PIPELINE_BACKOFF: seconds before the first retry of a failed step; doubled for each next one."""
    scheduler: Placement = Placement.INPROCESS
    """PLATFORM_SCHEDULER: 'inprocess' fires scheduled jobs inside `platform serve`; 'off' leaves them to
    `platform scheduler` (any number of them: each slot runs once)."""
    scheduler_interval: float = 1.0
    """PLATFORM_SCHEDULER_INTERVAL: seconds between the scheduler's looks at the clock and the event log."""
    scheduler_stale_after: float = 900.0
    """PLATFORM_SCHEDULER_STALE_AFTER: seconds after which a job run whose scheduler vanished mid-run is run again."""
    action_engine: Placement = Placement.INPROCESS
    """PLATFORM_ACTION_ENGINE: 'inprocess' runs the action engine (playbooks on KPI builds, action delivery) inside
    `platform serve`; 'off' leaves it to `platform actions engine`."""
    action_attempts: int = 3
    """PLATFORM_ACTION_ATTEMPTS: delivery attempts of an action step before it goes to the dead letters."""
    action_backoff: float = 0.5
    """PLATFORM_ACTION_BACKOFF: seconds before the first retry of an action delivery; doubled for each next one."""
    webhook_dispatcher: Placement = Placement.INPROCESS
    """PLATFORM_WEBHOOK_DISPATCHER: 'inprocess' delivers webhooks inside `platform serve`; 'off' leaves them to
    `platform webhooks dispatch`."""
    webhook_retry_schedule: tuple[float, ...] = field(default=DEFAULT_SCHEDULE, metadata=reads(read.schedule))
    """PLATFORM_WEBHOOK_RETRY_SCHEDULE: seconds to wait before each delivery attempt, comma-separated (by default at
    once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 24 h; a 429's longer Retry-After wins); after the last, a dead letter."""
    webhook_timeout: float = 15.0
    """PLATFORM_WEBHOOK_TIMEOUT: seconds one delivery attempt may take, connecting, sending and reading the answer."""
    webhook_shard: Shard = field(default=Shard(0, 1), metadata=reads(read.shard))
    """PLATFORM_WEBHOOK_SHARD: INDEX/COUNT, this process's share of the webhook endpoints when COUNT dispatchers run
    (`platform webhooks dispatch` each with its own INDEX); every endpoint has one dispatcher, so its order holds."""
    webhook_allowed_networks: tuple[Network, ...] = field(default=(), metadata=reads(read.networks))
    """PLATFORM_WEBHOOK_ALLOWED_NETWORKS: comma-separated CIDR blocks webhooks may go to although they are not public
    (private, loopback, link-local...), e.g. 127.0.0.0/8 for local tests; empty: public addresses only (SSRF guard)."""
    work_ack_wait: float = 30.0
    """PLATFORM_WORK_ACK_WAIT: seconds before pipeline work held by a consumer process that went silent (died) is
    handed to another one; a working process beats every third of it."""
    export_link_ttl: int = 3600
    """PLATFORM_EXPORT_LINK_TTL: seconds an export's download link stays valid."""
    decision_log_retention_days: int = 365
    """PLATFORM_DECISION_LOG_RETENTION_DAYS: days authorization decisions stay in the decision log (policy simulations
    replay them); older ones are deleted at start and hourly by `platform serve`. 0 keeps them forever."""
    url: str = field(default="", metadata=reads(read.url("http", "https")))
    """PLATFORM_URL: where `platform ingest` and `platform demo` reach the API (default http://HOST:PORT)."""
    api_key: str = ""
    """PLATFORM_API_KEY: the API key those commands use (default: the bootstrap admin key under PLATFORM_KEYS_DIR)."""
    cors_origins: tuple[str, ...] = field(default=(), metadata=reads(read.origins))
    """PLATFORM_CORS_ORIGINS: comma-separated origins allowed by CORS; empty keeps CORS off."""
    tls_cert: str = ""
    """PLATFORM_TLS_CERT: PEM certificate chain; with PLATFORM_TLS_KEY, `platform serve` speaks HTTPS only."""
    tls_key: str = ""
    """PLATFORM_TLS_KEY: PEM private key for PLATFORM_TLS_CERT."""
    tls_client_ca: str = ""
    """PLATFORM_TLS_CLIENT_CA: PEM CA bundle; when set, clients may present certificates signed by it."""
    keys_url: str = ""
    """PLATFORM_KEYS_URL: database of the wrapped tenant data keys (default: sqlite file under PLATFORM_KEYS_DIR)."""
    ledger_checkpoint_every: int = 1000
    """PLATFORM_LEDGER_CHECKPOINT_EVERY: the evidence ledger signs a checkpoint every N events (0: not by count)."""
    ledger_checkpoint_interval: float = 60.0
    """PLATFORM_LEDGER_CHECKPOINT_INTERVAL: and at least this often (seconds) while events arrive (0: not by time)."""
    ledger_origin: str = field(default="governed-data-platform.local/ledger", metadata=reads(read.origin_line))
    """PLATFORM_LEDGER_ORIGIN: the checkpoints' origin line and key name (a schema-less URL: no spaces, no '+')."""
    kek_file: str = ""
    """PLATFORM_KEK_FILE: file holding the key-encryption keyring, shared by every process and never made by one;
    empty: created under PLATFORM_KEYS_DIR on first start."""
    masking_key_file: str = ""
    """PLATFORM_MASKING_KEY_FILE: the 32-byte secret the tenants' masking salts derive from (shared; empty: made
    under PLATFORM_KEYS_DIR). Like every *_KEY_FILE, made with the others by `platform keys init --dir DIR`."""
    fingerprint_key_file: str = ""
    """PLATFORM_FINGERPRINT_KEY_FILE: the 32-byte secret of the requests' idempotency fingerprints (shared)."""
    link_key_file: str = ""
    """PLATFORM_LINK_KEY_FILE: the 32-byte secret export download links are signed with (shared)."""
    jwt_signing_key_file: str = ""
    """PLATFORM_JWT_SIGNING_KEY_FILE: the Ed25519 PEM key of the platform-local issuer's tokens (shared)."""
    bootstrap_admin_key_file: str = ""
    """PLATFORM_BOOTSTRAP_ADMIN_KEY_FILE: the platform-admin API key the first start registers (shared; empty: the
    first start makes one and writes it under PLATFORM_KEYS_DIR)."""
    rate_limit_store: str = field(default="memory", metadata=reads(read.bucket_store))
    """PLATFORM_RATE_LIMIT_STORE: where the rate-limit buckets live: 'memory' (each process limits alone) or a
    redis://host:6379/0 URL every API process shares (optional ?prefix=... for its keys); while Redis does not
    answer, each process limits alone."""

    def __post_init__(self) -> None:
        """A value given as text (``Settings(rate_limit_client="off")``) is read as its variable would be, so the
        record only ever holds typed values, however it was built."""
        for setting_field in fields(self):
            value = getattr(self, setting_field.name)
            if isinstance(value, str) and not isinstance(value, StrEnum) and _typed(setting_field):
                object.__setattr__(self, setting_field.name, _read(setting_field, value))

    def environment(self) -> dict[str, str]:
        """The PLATFORM_* variables that give these settings back through ``from_env`` (for a process started with
        them, such as a CLI command run on a test's stores); values without a text form keep their defaults."""
        found = {f"PLATFORM_{f.name.upper()}": _text(getattr(self, f.name)) for f in fields(self)}
        return {name: text for name, text in found.items() if text is not None}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """The settings the environment gives (unset variables keep their defaults), then the overrides (the
        command line's options, read like their variables; None leaves a setting alone)."""
        environ = os.environ if environ is None else environ
        texts = {f.name: environ.get(f"PLATFORM_{f.name.upper()}") for f in fields(cls)}
        texts |= {name: str(value) for name, value in overrides.items() if value is not None}
        by_name = {f.name: f for f in fields(cls)}
        return cls(**{name: _read(by_name[name], text) for name, text in texts.items() if text is not None})

    def _group(self, group: type[G]) -> G:
        return group(**{f.name: getattr(self, f.name) for f in fields(group)})  # type: ignore[arg-type]

    @property
    def stores(self) -> StoreSettings:
        return self._group(StoreSettings)

    @property
    def http(self) -> HttpSettings:
        return self._group(HttpSettings)

    @property
    def limits(self) -> LimitSettings:
        return self._group(LimitSettings)

    @property
    def pipeline(self) -> PipelineSettings:
        return self._group(PipelineSettings)

    @property
    def process_managers(self) -> ProcessManagerSettings:
        return self._group(ProcessManagerSettings)

    @property
    def webhooks(self) -> WebhookSettings:
        return self._group(WebhookSettings)

    @property
    def keys(self) -> KeySettings:
        return self._group(KeySettings)

    @property
    def telemetry(self) -> TelemetrySettings:
        return self._group(TelemetrySettings)

    @property
    def nats(self) -> NatsSettings:
        return self._group(NatsSettings)

    @property
    def ledger(self) -> LedgerSettings:
        return self._group(LedgerSettings)


def _text(value: object) -> str | None:
    """A value as its variable writes it, or None when it has no text form here."""
    if value is None:
        return "off"
    if isinstance(value, Quota):
        return f"{value.limit}/{value.window}"
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _typed(setting_field: Any) -> bool:
    """Whether the field's value is something other than its text."""
    reader = setting_field.metadata.get("read") or reader_of(setting_field.default)
    return reader is not str


def _read(setting_field: Any, text: str) -> Any:
    """The value of one variable's text, or SettingsError: one line naming the variable and saying what is wrong."""
    reader = setting_field.metadata.get("read") or reader_of(setting_field.default)
    try:
        return reader(text)
    except SettingsError:
        raise
    except ValueError as error:
        raise SettingsError(f"PLATFORM_{setting_field.name.upper()}={text!r} {error}") from None
