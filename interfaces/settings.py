"""Settings: the only module that reads the environment. Every setting has a safe embedded default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


class SettingsError(ValueError):
    """A setting has a value the platform cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything the platform can be told from outside, with its PLATFORM_* variable name."""

    event_store: str = "sqlite"
    """PLATFORM_EVENT_STORE: sqlite (embedded default), postgres, eventstoredb, or memory (tests only)."""
    event_store_url: str = "var/events.db"
    """PLATFORM_EVENT_STORE_URL: a file path for sqlite, postgresql://... or esdb://... otherwise."""
    read_model_url: str = "sqlite:///var/readmodels.db"
    """PLATFORM_READ_MODEL_URL: SQLAlchemy URL of the read-model database (sqlite:/// or postgresql://)."""
    projections: str = "inprocess"
    """PLATFORM_PROJECTIONS: 'inprocess' runs read models inside `platform serve`; 'off' leaves them to workers."""
    host: str = "127.0.0.1"
    """PLATFORM_HOST: address `platform serve` listens on."""
    port: int = 8000
    """PLATFORM_PORT: port `platform serve` listens on."""
    max_body_bytes: int = 1_048_576
    """PLATFORM_MAX_BODY_BYTES: largest command body accepted (413 above it)."""
    max_contract_bytes: int = 1_048_576
    """PLATFORM_MAX_CONTRACT_BYTES: largest contract document as normalized JSON (413 above it); the YAML or JSON
    body that carries it may be twice this (or PLATFORM_MAX_BODY_BYTES, when larger)."""
    consistency_timeout: float = 5.0
    """PLATFORM_CONSISTENCY_TIMEOUT: seconds a query waits for X-Consistent-Position before 503."""
    nats_url: str = "nats://127.0.0.1:4222"
    """PLATFORM_NATS_URL: the NATS server the relay publishes to and consumers read from."""
    nats_stream: str = "PLATFORM_EVENTS"
    """PLATFORM_NATS_STREAM: the JetStream stream holding platform.> subjects."""
    nats_subject_prefix: str = "platform"
    """PLATFORM_NATS_SUBJECT_PREFIX: first token of every subject, platform.<tenant>.<context>.<event-type>."""
    poll_interval: float = 0.05
    """PLATFORM_POLL_INTERVAL: seconds between polls of an event store without push (SQLite)."""
    log_level: str = "INFO"
    """PLATFORM_LOG_LEVEL: logging level."""
    log_format: str = "text"
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
    auth: str = "on"
    """PLATFORM_AUTH: 'on' (every route but /health, /schema needs an identity and a permit) or 'off' (benchmarks)."""
    keys_dir: str = "var/keys"
    """PLATFORM_KEYS_DIR: the local signing key, bootstrap credential and key files (mode 0700)."""
    jwt_issuer: str = "platform-local"
    """PLATFORM_JWT_ISSUER: the issuer whose bearer tokens are accepted (the local dev issuer by default)."""
    jwt_audience: str = "governed-data-platform"
    """PLATFORM_JWT_AUDIENCE: the audience bearer tokens must name."""
    jwks_file: str = ""
    """PLATFORM_JWKS_FILE: a JWKS file of the issuer's public keys (EdDSA or RS256)."""
    jwks_url: str = ""
    """PLATFORM_JWKS_URL: the issuer's JWKS URL, fetched and cached."""
    jwt_leeway: float = 30.0
    """PLATFORM_JWT_LEEWAY: seconds of clock skew allowed on exp and nbf."""
    rate_limit_principal: str = "600/60"
    """PLATFORM_RATE_LIMIT_PRINCIPAL: requests per window seconds for one principal (token bucket)."""
    rate_limit_tenant: str = "3000/60"
    """PLATFORM_RATE_LIMIT_TENANT: requests per window seconds for all principals of one tenant."""
    rate_limit_client: str = "600/60"
    """PLATFORM_RATE_LIMIT_CLIENT: requests per window seconds from one client address that prove no identity (the
    routes that need no credentials, /health and /ready aside; every request with PLATFORM_AUTH=off)."""
    rate_limit_auth_failures: str = "20/60"
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
    orchestrator: str = "inprocess"
    """PLATFORM_ORCHESTRATOR: 'inprocess' drives pipeline runs and exports inside `platform serve`; 'off' leaves
    them to `platform orchestrator`."""
    pipeline_attempts: int = 3
    """PLATFORM_PIPELINE_ATTEMPTS: attempts of a failing pipeline step before it goes to the dead letters."""
    pipeline_backoff: float = 0.5
    """PLATFORM_PIPELINE_BACKOFF: seconds before the first retry of a failed step; doubled for each next one."""
    scheduler: str = "inprocess"
    """PLATFORM_SCHEDULER: 'inprocess' fires scheduled jobs inside `platform serve`; 'off' leaves them to
    `platform scheduler` (any number of them: each slot runs once)."""
    scheduler_interval: float = 1.0
    """PLATFORM_SCHEDULER_INTERVAL: seconds between the scheduler's looks at the clock and the event log."""
    scheduler_stale_after: float = 900.0
    """PLATFORM_SCHEDULER_STALE_AFTER: seconds after which a job run whose scheduler vanished mid-run is run again."""
    action_engine: str = "inprocess"
    """PLATFORM_ACTION_ENGINE: 'inprocess' runs the action engine (playbooks on KPI builds, action delivery) inside
    `platform serve`; 'off' leaves it to `platform actions engine`."""
    action_attempts: int = 3
    """PLATFORM_ACTION_ATTEMPTS: delivery attempts of an action step before it goes to the dead letters."""
    action_backoff: float = 0.5
    """PLATFORM_ACTION_BACKOFF: seconds before the first retry of an action delivery; doubled for each next one."""
    webhook_dispatcher: str = "inprocess"
    """PLATFORM_WEBHOOK_DISPATCHER: 'inprocess' delivers webhooks inside `platform serve`; 'off' leaves them to
    `platform webhooks dispatch`."""
    webhook_retry_schedule: str = "0,5,300,1800,7200,18000,36000,86400"
    """PLATFORM_WEBHOOK_RETRY_SCHEDULE: seconds to wait before each delivery attempt, comma-separated (by default at
    once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 24 h; a 429's longer Retry-After wins); after the last, a dead letter."""
    webhook_timeout: float = 15.0
    """PLATFORM_WEBHOOK_TIMEOUT: seconds one delivery attempt may take, connecting, sending and reading the answer."""
    webhook_shard: str = "0/1"
    """PLATFORM_WEBHOOK_SHARD: INDEX/COUNT, this process's share of the webhook endpoints when COUNT dispatchers run
    (`platform webhooks dispatch` each with its own INDEX); every endpoint has one dispatcher, so its order holds."""
    webhook_allowed_networks: str = ""
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
    url: str = ""
    """PLATFORM_URL: where `platform ingest` and `platform demo` reach the API (default http://HOST:PORT)."""
    api_key: str = ""
    """PLATFORM_API_KEY: the API key those commands use (default: the bootstrap admin key under PLATFORM_KEYS_DIR)."""
    cors_origins: str = ""
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
    ledger_origin: str = "governed-data-platform.local/ledger"
    """PLATFORM_LEDGER_ORIGIN: the checkpoints' origin line and key name (a schema-less URL: no spaces, no '+')."""
    kek_file: str = ""
    """PLATFORM_KEK_FILE: file holding the key-encryption keyring; created under PLATFORM_KEYS_DIR when empty."""
    rate_limit_store: str = "memory"
    """PLATFORM_RATE_LIMIT_STORE: where the rate-limit buckets live: 'memory' (each process limits alone) or a
    redis://host:6379/0 URL every API process shares (optional ?prefix=... for its keys); while Redis does not
    answer, each process limits alone."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = environ.get(f"PLATFORM_{field.name.upper()}")
            if raw is None:
                continue
            kind: Any = type(field.default)
            try:
                values[field.name] = kind(raw)
            except ValueError:
                msg = f"PLATFORM_{field.name.upper()}={raw!r} is not a valid {kind.__name__}"
                raise SettingsError(msg) from None
        settings = replace(cls(**values), **{k: v for k, v in overrides.items() if v is not None})
        if settings.decision_log_retention_days < 0:
            msg = "PLATFORM_DECISION_LOG_RETENTION_DAYS must be 0 (keep forever) or a number of days"
            raise SettingsError(msg)
        return settings
