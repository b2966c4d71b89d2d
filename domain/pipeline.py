"""Compute: a pipeline run takes one landed batch from raw to golden data points, KPIs and a published version.

A run is named by what it processes: the tenant, the contract version, the schema object and the SHA-256 of the
raw bytes, so the same bytes uploaded again find the run that already exists. Each step's event carries its
inputs and outputs as manifests (storage key, content hash, bytes, rows): the lineage facts. Durations come from
the step's own start and finish times, given by the process manager (the domain has no clock).

Steps: ``ingest`` (the Ingested event), ``normalize``, ``build_kpis``, ``publish``. A step that raises is
retried with backoff; each failed attempt is a StepFailed event and the last one a DeadLettered event. A batch
that breaks a contract-level quality rule is Rejected: a finished run that published nothing. A step the policy
engine refuses (the tenant was suspended between steps, say) is StepDenied: the run ends there, not in error.
"""

from __future__ import annotations

from typing import Any, TypedDict
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import ConflictError
from domain.values import STEPS, RunStatus, TenantId

RUN_NAMESPACE = UUID("0b8f3c52-9e41-4a7d-8f26-5d1c7e3a9b40")
MAX_ERROR = 2000


class Manifest(TypedDict):
    """A stored dataset file as events name it: where, which content (SHA-256), how big, how many rows."""

    key: str
    sha256: str
    bytes: int
    rows: int | None
    format: str
    schema: str | None
    """Fingerprint (SHA-256) of the Arrow schema, for files the platform wrote; None for raw uploads."""


def manifest(key: str, sha256: str, size: int, rows: int | None, fmt: str, schema: str | None = None) -> Manifest:
    return Manifest(key=key, sha256=sha256, bytes=size, rows=rows, format=fmt, schema=schema)


def run_id_for(tenant_id: TenantId, contract: str, version: str, obj: str, sha256: str) -> UUID:
    """The run of these bytes under this contract version and object: the same upload twice is one run."""
    return uuid5(RUN_NAMESPACE, f"{tenant_id}|{contract}|{version}|{obj}|{sha256}")


class StepDoneError(ConflictError):
    """The step has already finished (or the run has ended): a repeated trigger does nothing twice."""


class PipelineRun(Aggregate):
    """One batch's way through the pipeline, step by step."""

    class Ingested(Aggregate.Created):
        tenant_id: TenantId
        contract: str
        contract_version: str
        object: str
        source: str
        raw: Manifest
        at: str

    class StepFailed(Aggregate.Event):
        step: str
        attempt: int
        error: str
        retry_in: float

    class DeadLettered(Aggregate.Event):
        step: str
        attempts: int
        error: str

    class Revived(Aggregate.Event):
        step: str
        by: str

    class StepDenied(Aggregate.Event):
        """The policy engine refused the step to the platform acting for the tenant: the run stops here."""

        step: str
        reasons: list[str]

    class Normalized(Aggregate.Event):
        inputs: list[Manifest]
        gdp: Manifest
        quarantine: Manifest | None
        rows_in: int
        rows_out: int
        rejected: int
        duplicates: int
        quality: list[dict[str, Any]]
        started_at: str
        finished_at: str

    class Rejected(Aggregate.Event):
        step: str
        reasons: list[str]
        inputs: list[Manifest]
        quarantine: Manifest | None
        rows_in: int
        rejected: int
        quality: list[dict[str, Any]]
        started_at: str
        finished_at: str

    class KpisBuilt(Aggregate.Event):
        inputs: list[Manifest]
        kpis: Manifest
        rows: int
        summary: list[dict[str, Any]]
        started_at: str
        finished_at: str

    class Published(Aggregate.Event):
        product: str
        product_version: int
        inputs: list[Manifest]
        outputs: list[Manifest]
        started_at: str
        finished_at: str

    @classmethod
    def ingest(
        cls,
        tenant_id: TenantId,
        contract: str,
        contract_version: str,
        obj: str,
        source: str,
        raw: Manifest,
        at: str,
    ) -> PipelineRun:
        return cls._create(
            cls.Ingested,
            id=run_id_for(tenant_id, contract, contract_version, obj, raw["sha256"]),
            tenant_id=tenant_id,
            contract=contract,
            contract_version=contract_version,
            object=obj,
            source=source,
            raw=raw,
            at=at,
        )

    def __init__(
        self,
        tenant_id: TenantId,
        contract: str,
        contract_version: str,
        object: str,
        source: str,
        raw: Manifest,
        at: str,
    ) -> None:
        self.tenant_id = tenant_id
        self.contract = contract
        self.contract_version = contract_version
        self.object = object
        self.raw = raw
        self.gdp: Manifest | None = None
        self.kpis: Manifest | None = None
        self.summary: list[dict[str, Any]] = []
        self.done: set[str] = {"ingest"}
        self.attempts: dict[str, int] = {}
        self.status = RunStatus.RUNNING

    @property
    def next_step(self) -> str | None:
        """The step to run now, or None when the run has ended (succeeded, rejected, denied or dead-lettered)."""
        if self.status != RunStatus.RUNNING:
            return None
        return self.next_step_of_dead()

    def _expect(self, step: str) -> None:
        if self.next_step != step:
            raise StepDoneError(f"run {self.id} is not waiting for {step} (next: {self.next_step or 'nothing'})")

    def fail_step(self, step: str, error: str, retry_in: float, max_attempts: int) -> None:
        """Records a failed attempt; the one that uses up ``max_attempts`` sends the run to the dead letters."""
        self._expect(step)
        attempt = self.next_attempt(step)
        self._step_failed(step, attempt, error[:MAX_ERROR], retry_in if attempt < max_attempts else 0.0)
        if attempt >= max_attempts:
            self._dead_lettered(step, attempt, error[:MAX_ERROR])

    @event(StepFailed)
    def _step_failed(self, step: str, attempt: int, error: str, retry_in: float) -> None:
        self.attempts[step] = attempt

    @event(DeadLettered)
    def _dead_lettered(self, step: str, attempts: int, error: str) -> None:
        self.status = RunStatus.DEAD_LETTERED

    def revive(self, step: str, by: str) -> None:
        """A dead-lettered step gets its attempts back (a retry from the dead letters)."""
        if self.status != RunStatus.DEAD_LETTERED or self.next_step_of_dead() != step:
            raise StepDoneError(f"run {self.id} has no dead-lettered {step} step")
        self._revived(step, by)

    def next_step_of_dead(self) -> str | None:
        """The first step not done, whether or not the run is running."""
        return next((step for step in STEPS if step not in self.done), None)

    def next_attempt(self, step: str) -> int:
        """The number of the step's next attempt (1 for the first; a revival starts again at 1)."""
        return self.attempts.get(step, 0) + 1

    @event(Revived)
    def _revived(self, step: str, by: str) -> None:
        self.status = RunStatus.RUNNING
        self.attempts[step] = 0

    def deny_step(self, step: str, reasons: list[str]) -> None:
        """The step may not run: the run ends here, denied, with the policy engine's reasons."""
        self._expect(step)
        self._step_denied(step, [reason[:MAX_ERROR] for reason in reasons])

    @event(StepDenied)
    def _step_denied(self, step: str, reasons: list[str]) -> None:
        self.status = RunStatus.DENIED

    def normalized(
        self,
        gdp: Manifest,
        quarantine: Manifest | None,
        counts: dict[str, int],
        quality: list[dict[str, Any]],
        started_at: str,
        finished_at: str,
    ) -> None:
        self._expect("normalize")
        self._normalized(
            [self.raw],
            gdp,
            quarantine,
            counts["rows_in"],
            counts["rows_out"],
            counts["rejected"],
            counts["duplicates"],
            quality,
            started_at,
            finished_at,
        )

    @event(Normalized)
    def _normalized(
        self,
        inputs: list[Manifest],
        gdp: Manifest,
        quarantine: Manifest | None,
        rows_in: int,
        rows_out: int,
        rejected: int,
        duplicates: int,
        quality: list[dict[str, Any]],
        started_at: str,
        finished_at: str,
    ) -> None:
        self.gdp = gdp
        self.done.add("normalize")

    def reject(
        self,
        reasons: list[str],
        quarantine: Manifest | None,
        rows_in: int,
        rejected: int,
        quality: list[dict[str, Any]],
        started_at: str,
        finished_at: str,
    ) -> None:
        """The batch breaks a contract-level rule: the run ends here, with the reasons."""
        self._expect("normalize")
        raw = [self.raw]
        self._rejected("normalize", reasons, raw, quarantine, rows_in, rejected, quality, started_at, finished_at)

    @event(Rejected)
    def _rejected(
        self,
        step: str,
        reasons: list[str],
        inputs: list[Manifest],
        quarantine: Manifest | None,
        rows_in: int,
        rejected: int,
        quality: list[dict[str, Any]],
        started_at: str,
        finished_at: str,
    ) -> None:
        self.status = RunStatus.REJECTED

    def kpis_built(
        self, inputs: list[Manifest], kpis: Manifest, rows: int, summary: list[dict[str, Any]], started: str, done: str
    ) -> None:
        self._expect("build_kpis")
        self._kpis_built(inputs, kpis, rows, summary, started, done)

    @event(KpisBuilt)
    def _kpis_built(
        self,
        inputs: list[Manifest],
        kpis: Manifest,
        rows: int,
        summary: list[dict[str, Any]],
        started_at: str,
        finished_at: str,
    ) -> None:
        self.kpis = kpis
        self.summary = summary
        self.done.add("build_kpis")

    def published(
        self, product: str, version: int, inputs: list[Manifest], outputs: list[Manifest], started: str, done: str
    ) -> None:
        self._expect("publish")
        self._published(product, version, inputs, outputs, started, done)

    @event(Published)
    def _published(
        self,
        product: str,
        product_version: int,
        inputs: list[Manifest],
        outputs: list[Manifest],
        started_at: str,
        finished_at: str,
    ) -> None:
        self.done.add("publish")
        self.status = RunStatus.SUCCEEDED
