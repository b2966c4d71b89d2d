"""Ingestion, publication and export commands, and the port the compute steps are reached through.

The services decide and record; the bytes are moved and computed by the adapter behind ``PipelineCompute``
(pyarrow over the dataset store), so this layer never touches a file. Every command that follows from an event
runs under a command id derived from that event, so a repeated trigger records nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from application.commands import CommandContext, CommandResult, CommandRunner
from application.contracts import ContractService
from domain.contracts import DataContract
from domain.contracts.model import Kpi, ObjectSpec, QualityRule
from domain.errors import ConflictError, DomainError, InvalidValueError, NotFoundError
from domain.exports import Export, export_id_for
from domain.pipeline import Manifest, PipelineRun
from domain.products import DataProduct, Dataset, product_id_for
from domain.values import TenantId


class NoActiveVersionError(ConflictError):
    """The contract has no version in force: nothing may be ingested under it."""


class UnprocessableBatchError(DomainError):
    """The batch cannot be processed as it is (unreadable, or past a bound on the work it may cause): the same
    input fails the same way every time, so the step fails at once, without retries."""


@dataclass(frozen=True)
class Target:
    """What a batch is ingested against: the contract's active version and one of its schema objects."""

    tenant_id: TenantId
    contract: str
    version: str
    object: ObjectSpec
    rules: list[QualityRule]
    kpis: list[Kpi]
    title: str
    description: str | None
    owner: str | None
    publish_gdp: bool


@dataclass(frozen=True)
class Normalization:
    """What the normalize step produced: GDP (None when the batch is rejected), quarantine, counts and quality."""

    gdp: Manifest | None
    quarantine: Manifest | None
    counts: dict[str, int]
    quality: list[dict[str, Any]]
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class KpiBuild:
    kpis: Manifest
    rows: int
    summary: list[dict[str, Any]]


class PipelineCompute(Protocol):
    """The compute steps, over the dataset store: stateless, re-runnable from events and stored inputs.

    A step raises UnprocessableBatchError when its input can never be processed; any other error is taken as
    transient (storage or a service unavailable) and the step is retried."""

    def normalize(self, tenant_id: TenantId, raw: Manifest, target: Target) -> Normalization: ...

    def build_kpis(self, tenant_id: TenantId, gdp: list[Manifest], target: Target) -> KpiBuild: ...

    def publish(self, tenant_id: TenantId, kpis: Manifest, gdp: list[Manifest], target: Target) -> list[Dataset]: ...

    def export(
        self, tenant_id: TenantId, dataset: Dataset, fmt: str, filters: list[list[str]], raw_formulas: bool = False
    ) -> tuple[Manifest, int]: ...


def _run_tenant(run: PipelineRun) -> str:
    return run.tenant_id


def _product_tenant(product: DataProduct) -> str:
    return product.tenant_id


def _export_tenant(export: Export) -> str:
    return export.tenant_id


def _custom(document: dict[str, Any], name: str) -> Any:
    for prop in document.get("customProperties") or []:
        if isinstance(prop, dict) and prop.get("property") == name:
            return prop.get("value")
    return None


def target_of(
    found: DataContract, tenant_id: TenantId, contract: str, obj: str | None, version: str | None = None
) -> Target:
    """The contract's active version (or ``version``) and the schema object a batch is for, from the contract as
    already loaded (so a request that checked the contract's state does not load it again)."""
    version = version or found.current
    if version is None:
        raise NoActiveVersionError(f"contract {contract} has no active version; approve one first")
    spec = found.versions[version].spec
    objects = {o["name"]: o for o in spec["objects"]}
    name = obj or (next(iter(objects)) if len(objects) == 1 else None)
    if name is None or name not in objects:
        names = ", ".join(objects)
        raise InvalidValueError(f"name the schema object the batch is for (object): one of {names}")
    document = found.versions[version].document
    team = document.get("team")
    owner = team.get("name") if isinstance(team, dict) else None
    description = document.get("description")
    return Target(
        tenant_id=tenant_id,
        contract=contract,
        version=version,
        object=objects[name],
        rules=[r for r in spec["quality"] if r["object"] == name],
        kpis=[k for k in spec["kpis"] if k["object"] == name],
        title=str(found.name or contract),
        description=description.get("purpose") if isinstance(description, dict) else description,
        owner=owner or document.get("dataProduct"),
        publish_gdp=bool(_custom(document, "publishGoldenData")),
    )


class PipelineService:
    """Commands of ingestion, the pipeline steps, publication, retraction and exports."""

    def __init__(self, runner: CommandRunner, contracts: ContractService) -> None:
        self.runner = runner
        self.contracts = contracts

    # --- ingestion

    def target(self, tenant_id: TenantId, contract: str, obj: str | None, version: str | None = None) -> Target:
        """The active version of a contract (or ``version``) and the schema object a batch is for."""
        found = self.contracts.current_contract(tenant_id, contract)
        if found is None:
            raise NotFoundError(f"no such contract: {contract}")
        return target_of(found, tenant_id, contract, obj, version)

    def ingest(
        self, context: CommandContext, target: Target, source: str, raw: Manifest, at: str
    ) -> tuple[CommandResult, bool]:
        """Records a landed batch as a new run; (result, True) when these bytes already have a run."""
        # Made before the command so its id (the run of these bytes) is derived in one place, the aggregate; a create
        # decides once on an empty stream (after a conflict the stream has begun), so it is never made twice.
        run = PipelineRun.ingest(
            target.tenant_id, target.contract, target.version, target.object["name"], source, raw, at
        )
        try:
            result = self.runner.create(
                context,
                "ingest_batch",
                run.id,
                make=lambda: run,
                tenant_of=_run_tenant,
                exists=lambda: ConflictError("exists"),
            )
        except ConflictError:
            history = self.runner.store.read_stream(run.id)
            return CommandResult(run.id, history[0].position, replayed=True), True
        return result, False

    def run(self, tenant_id: TenantId, run_id: UUID) -> PipelineRun:
        found = self.runner.get(run_id, PipelineRun)
        if found is None or found.tenant_id != tenant_id:
            raise NotFoundError(f"no such run: {run_id}")
        return found

    def revive(self, context: CommandContext, run_id: UUID, step: str) -> CommandResult:
        """Gives a dead-lettered step its attempts back; the orchestrator runs it again."""
        return self.record_step(context, run_id, lambda r: r.revive(step, context.actor))

    def record_step(
        self, context: CommandContext, run_id: UUID, change: Callable[[PipelineRun], None]
    ) -> CommandResult:
        return self.runner.update(context, "pipeline_step", run_id, change, _run_tenant)

    # --- publication

    def publish(
        self, context: CommandContext, target: Target, run_id: UUID, datasets: list[Dataset], summary: list[Any]
    ) -> int:
        """Publishes version n+1 of the contract's product (the run's own version when it already published)."""
        quality = "passed"
        versions: list[int] = []

        def publish(product: DataProduct) -> None:
            versions.append(
                product.publish(
                    target.contract,
                    target.version,
                    str(run_id),
                    target.title,
                    target.description,
                    target.owner,
                    datasets,
                    quality,
                    summary,
                )
            )

        def make() -> DataProduct:
            product = DataProduct.create(target.tenant_id, target.contract)
            publish(product)
            return product

        stream = product_id_for(target.tenant_id, target.contract)
        with self.runner.unit_of_work():  # the product is loaded once, whichever command follows
            if not self._created(context, stream, make):
                versions.clear()
                self.runner.update(context, "publish_product", stream, publish, _product_tenant, aggregate=DataProduct)
        if not versions:  # the same command ran before: the product knows which version this run made
            return self.product(target.tenant_id, target.contract).runs[str(run_id)]
        return versions[-1]

    def _created(self, context: CommandContext, stream: UUID, make: Callable[[], DataProduct]) -> bool:
        """Creates the product with its first version; False when it exists (or was created meanwhile)."""
        if self.runner.get(stream, DataProduct) is not None:
            return False
        try:
            self.runner.create(context, "publish_product", stream, make=make, tenant_of=_product_tenant, exists=_exists)
        except _ProductExistsError:
            return False
        return True

    def retract(
        self, context: CommandContext, tenant_id: TenantId, product: str, version: int, reason: str
    ) -> CommandResult:
        def retract(found: DataProduct) -> None:
            found.retract(version, reason, context.actor)

        stream = product_id_for(tenant_id, product)
        return self.runner.update(context, "retract_version", stream, retract, _product_tenant, aggregate=DataProduct)

    def product(self, tenant_id: TenantId, name: str) -> DataProduct:
        found = self.runner.get(product_id_for(tenant_id, name), DataProduct)
        if found is None:
            raise NotFoundError(f"no such product: {name}")
        return found

    # --- exports

    def request_export(
        self,
        context: CommandContext,
        tenant_id: TenantId,
        product: str,
        version: int,
        dataset: str,
        fmt: str,
        filters: list[list[str]],
        csv_formulas: str = "neutralise",
    ) -> CommandResult:
        served = {d["name"] for d in self.product(tenant_id, product).served(version)}
        if dataset not in served:
            raise InvalidValueError(f"version {version} of {product} has no dataset {dataset!r}: {sorted(served)}")
        return self.runner.create(
            context,
            "request_export",
            export_id_for(tenant_id, context.command_id),
            make=lambda: Export.request(
                tenant_id, context.command_id, product, version, dataset, fmt, filters, context.actor, csv_formulas
            ),
            tenant_of=_export_tenant,
            exists=lambda: ConflictError("this export was requested already"),
        )

    def export(self, tenant_id: TenantId, export_id: UUID) -> Export:
        found = self.runner.get(export_id, Export)
        if found is None or found.tenant_id != tenant_id:
            raise NotFoundError(f"no such export: {export_id}")
        return found

    def record_export(
        self, context: CommandContext, export_id: UUID, change: Callable[[Export], None]
    ) -> CommandResult:
        return self.runner.update(context, "export_step", export_id, change, _export_tenant)

    def download(self, context: CommandContext, tenant_id: TenantId, export_id: UUID) -> Manifest:
        self.export(tenant_id, export_id)
        files: list[Manifest] = []
        self.record_export(context, export_id, lambda e: files.append(e.download(context.actor)))
        return files[0] if files else _file_of(self.export(tenant_id, export_id))


def _file_of(export: Export) -> Manifest:
    if export.file is None:
        raise DomainError(f"export {export.id} has no file")
    return export.file


class _ProductExistsError(ConflictError):
    pass


def _exists() -> DomainError:
    return _ProductExistsError("product exists")
