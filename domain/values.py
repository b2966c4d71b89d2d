"""Value types several contexts share: what a value is, said once."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple, NewType
from uuid import UUID


class Shard(NamedTuple):
    """This process's share of keyed work when ``total`` processes split it: the keys whose number modulo
    ``total`` is ``number`` (INDEX/COUNT in PLATFORM_WEBHOOK_SHARD)."""

    number: int
    total: int

    @classmethod
    def of(cls, number: int, total: int) -> Shard:
        if not 0 <= number < total:
            raise ValueError(f"shard {number} of {total} does not exist; shards are 0 to {total - 1}")
        return cls(number, total)


class Step(StrEnum):
    """The steps of a pipeline run, in the order they run (the one place that order is written)."""

    INGEST = "ingest"
    NORMALIZE = "normalize"
    BUILD_KPIS = "build_kpis"
    PUBLISH = "publish"


STEPS = tuple(Step)


def step_order(step: str) -> int:
    """Where a step comes in a run (ingest 0 ... publish 3)."""
    return STEPS.index(Step(step))


def backoff_delay(base: float, attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 for the first) before the next: ``base``,
    doubled for each attempt after the first."""
    return base * 2.0 ** (attempt - 1)


class RunStatus(StrEnum):
    """Where a pipeline run is (read models and lineage show the same words)."""

    RUNNING = "running"
    DEAD_LETTERED = "dead-lettered"
    REJECTED = "rejected"
    SUCCEEDED = "succeeded"
    DENIED = "denied"


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    OFFBOARDED = "offboarded"


class DeliveryStatus(StrEnum):
    """Where a webhook delivery is."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class ActionRunStatus(StrEnum):
    """Where an action run is."""

    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    REJECTED = "rejected"
    FAILED = "failed"
    DELIVERED = "delivered"


class ExportStatus(StrEnum):
    REQUESTED = "requested"
    COMPLETED = "completed"
    FAILED = "failed"


class DeadLetterStatus(StrEnum):
    OPEN = "open"
    RETRYING = "retrying"
    RESOLVED = "resolved"
    DISCARDED = "discarded"


TenantId = NewType("TenantId", str)
"""A tenant, as every event, command and read model names it: its id's canonical text (the Tenant aggregate's UUID)."""


def tenant_id_of(value: UUID | str) -> TenantId:
    """The TenantId of a Tenant aggregate's UUID, or of text read at an edge (a path, an envelope, a message)."""
    return TenantId(str(value))


def tenant_id_or_none(value: str | None) -> TenantId | None:
    """An envelope's tenant (None for the platform's own events)."""
    return None if value is None else TenantId(value)


def tenant_uuid(tenant_id: TenantId | UUID) -> UUID:
    """The Tenant aggregate's stream id for a tenant id."""
    return tenant_id if isinstance(tenant_id, UUID) else UUID(tenant_id)
