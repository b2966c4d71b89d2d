"""Publish: a data product is a contract's KPIs (and, where the contract allows, its golden data points) served as
numbered, immutable versions.

A product is named by its contract within its tenant. Each publication adds version n+1 with the datasets as
served (personal-data fields masked) and the unmasked sources they came from. A version can be retracted: a
compensating event after which it is no longer served, while it stays in the log as evidence.
"""

from __future__ import annotations

from typing import Any, TypedDict
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import ConflictError, InvalidValueError, NotFoundError
from domain.pipeline import Manifest
from domain.values import ProductVersionStatus, TenantId

PRODUCT_NAMESPACE = UUID("8a2e6d14-3b7c-4f90-a1d5-6c9e2b4f7a31")
DATASETS = ("kpis", "gdp")
MAX_REASON = 1000


class Dataset(TypedDict):
    """One dataset of a product version: what is served (masked) and what it was made from (unmasked)."""

    name: str
    served: Manifest
    source: Manifest
    columns: list[dict[str, str]]
    """[{"name", "type"}] of the served file, in order."""
    masked: list[str]
    """Personal-data columns masked in ``served``; an entitled reader gets them from ``source``."""


def product_id_for(tenant_id: TenantId, contract: str) -> UUID:
    return uuid5(PRODUCT_NAMESPACE, f"{tenant_id}|{contract}")


class VersionRetractedError(ConflictError):
    """The version was retracted: it is evidence now, no longer served."""


class DataProduct(Aggregate):
    """A tenant's data product: its description, owner and versions."""

    class Created(Aggregate.Created):
        tenant_id: TenantId
        name: str

    class VersionPublished(Aggregate.Event):
        version: int
        contract: str
        contract_version: str
        run_id: str
        title: str
        description: str | None
        owner: str | None
        datasets: list[Dataset]
        quality: str
        summary: list[dict[str, Any]]

    class VersionRetracted(Aggregate.Event):
        version: int
        reason: str
        by: str

    @classmethod
    def create(cls, tenant_id: TenantId, name: str) -> DataProduct:
        return cls._create(cls.Created, id=product_id_for(tenant_id, name), tenant_id=tenant_id, name=name)

    def __init__(self, tenant_id: TenantId, name: str) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.versions: dict[int, ProductVersionStatus] = {}
        self.datasets: dict[int, list[Dataset]] = {}
        self.runs: dict[str, int] = {}

    def served(self, version: int) -> list[Dataset]:
        """The datasets of a version that is served now: NotFoundError, or VersionRetractedError once retracted."""
        status = self.versions.get(version)
        if status is None:
            raise NotFoundError(f"product {self.name} has no version {version}")
        if status == ProductVersionStatus.RETRACTED:
            raise VersionRetractedError(f"version {version} of {self.name} was retracted")
        return self.datasets[version]

    @property
    def latest(self) -> int:
        return max(self.versions, default=0)

    def publish(
        self,
        contract: str,
        contract_version: str,
        run_id: str,
        title: str,
        description: str | None,
        owner: str | None,
        datasets: list[Dataset],
        quality: str,
        summary: list[dict[str, Any]],
    ) -> int:
        """Adds version n+1 (a run publishes once: publishing its run again answers the version it made)."""
        if run_id in self.runs:
            return self.runs[run_id]
        if not datasets:
            raise InvalidValueError("a product version needs at least one dataset")
        version = self.latest + 1
        self._version_published(
            version, contract, contract_version, run_id, title, description, owner, datasets, quality, summary
        )
        return version

    @event(VersionPublished)
    def _version_published(
        self,
        version: int,
        contract: str,
        contract_version: str,
        run_id: str,
        title: str,
        description: str | None,
        owner: str | None,
        datasets: list[Dataset],
        quality: str,
        summary: list[dict[str, Any]],
    ) -> None:
        self.versions[version] = ProductVersionStatus.PUBLISHED
        self.datasets[version] = datasets
        self.runs[run_id] = version

    def retract(self, version: int, reason: str, by: str) -> None:
        """Withdraws a version from serving; the evidence of it stays."""
        cleaned = reason.strip()
        if not cleaned or len(cleaned) > MAX_REASON:
            raise InvalidValueError(f"a reason is 1-{MAX_REASON} characters")
        status = self.versions.get(version)
        if status is None:
            raise NotFoundError(f"product {self.name} has no version {version}")
        if status == ProductVersionStatus.RETRACTED:
            raise VersionRetractedError(f"version {version} of {self.name} is already retracted")
        self._version_retracted(version, cleaned, by)

    @event(VersionRetracted)
    def _version_retracted(self, version: int, reason: str, by: str) -> None:
        self.versions[version] = ProductVersionStatus.RETRACTED
