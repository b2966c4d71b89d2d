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


class StepStatus(StrEnum):
    """Where one step of a pipeline run is, as the runs read model and lineage show it."""

    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    FAILED = "failed"
    DEAD_LETTERED = "dead-lettered"
    DENIED = "denied"
    REJECTED = "rejected"


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    OFFBOARDED = "offboarded"


class ContractStatus(StrEnum):
    """Where a version of a data contract is in its lifecycle."""

    DRAFT = "draft"
    PROPOSED = "proposed"
    ACTIVE = "active"
    REJECTED = "rejected"
    DEPRECATED = "deprecated"
    RETIRED = "retired"


class PolicyStatus(StrEnum):
    """Where a Cedar policy is: drafted, one version active, or retired."""

    DRAFT = "draft"
    ACTIVE = "active"
    RETIRED = "retired"


class ProductVersionStatus(StrEnum):
    """Where a version of a data product is."""

    PUBLISHED = "published"
    RETRACTED = "retracted"


class ScheduleStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    DELETED = "deleted"


class JobRunStatus(StrEnum):
    """Where one slot's run of a schedule is."""

    DUE = "due"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class EndpointStatus(StrEnum):
    """Where a webhook endpoint is (offboarded: its tenant was, as the read model shows it)."""

    ACTIVE = "active"
    DISABLED = "disabled"
    OFFBOARDED = "offboarded"


class DeliveryStatus(StrEnum):
    """Where a webhook delivery is (retrying and failing: pending between attempts, as the read model shows it)."""

    PENDING = "pending"
    RETRYING = "retrying"
    FAILING = "failing"
    DELIVERED = "delivered"
    FAILED = "failed"


class PlaybookStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class ActionRunStatus(StrEnum):
    """Where an action run is."""

    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    REJECTED = "rejected"
    FAILED = "failed"
    DELIVERED = "delivered"


class ApiKeyStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class SecretStatus(StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


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
