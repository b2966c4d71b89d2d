"""Data products and their versions, and the catalog over them (description, owner, contract, schema, versions,
freshness, row counts, quality, text search)."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import JSON, BigInteger, Column, Engine, Integer, Select, String, Table, Text, func, select

from domain.products import DataProduct, Dataset, product_id_for
from domain.values import ProductVersionStatus, TenantId
from projections.base import Change, EventView, Projection, Update, Upsert, metadata, plain

products = Table(
    "data_products",
    metadata,
    Column("product_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("title", Text),
    Column("description", Text),
    Column("owner", Text),
    Column("contract", String(200)),
    Column("contract_version", String(100)),
    Column("search_text", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("position", BigInteger, nullable=False),
)

versions = Table(
    "data_product_versions",
    metadata,
    Column("product_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("contract", String(200), nullable=False),
    Column("contract_version", String(100), nullable=False),
    Column("run_id", String(36), nullable=False),
    Column("datasets", JSON, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("quality", String(16), nullable=False),
    Column("summary", JSON, nullable=False),
    Column("published_at", String(40), nullable=False),
    Column("retracted_at", String(40)),
    Column("retract_reason", Text),
    Column("position", BigInteger, nullable=False),
)


def evolve(recorded: EventView) -> list[Change]:
    event = recorded.event
    if not isinstance(event, DataProduct.Event):
        return []
    at = recorded.recorded_at.isoformat()
    product_id = str(event.originator_id)
    stamp = {"updated_at": at, "position": recorded.position}
    match event:
        case DataProduct.Created():
            row = {"tenant_id": event.tenant_id, "name": event.name, "search_text": event.name, "created_at": at}
            return [Upsert(products, {"product_id": product_id}, row | stamp)]
        case DataProduct.VersionPublished():
            words = [event.title, event.description or "", event.owner or "", event.contract]
            words += [c["name"] for d in event.datasets for c in d["columns"]]
            about = {
                "title": event.title,
                "description": event.description,
                "owner": event.owner,
                "contract": event.contract,
                "contract_version": event.contract_version,
                "search_text": " ".join(words).lower(),
            }
            version = {
                "tenant_id": recorded.tenant_id,
                "name": event.contract,
                "status": ProductVersionStatus.PUBLISHED,
                "contract": event.contract,
                "contract_version": event.contract_version,
                "run_id": event.run_id,
                "datasets": [dict(d) for d in event.datasets],
                "rows": sum(d["served"]["rows"] or 0 for d in event.datasets),
                "quality": event.quality,
                "summary": event.summary,
                "published_at": at,
                "position": recorded.position,
            }
            key = {"product_id": product_id, "version": event.version}
            return [Update(products, {"product_id": product_id}, about | stamp), Upsert(versions, key, version)]
        case DataProduct.VersionRetracted():
            key = {"product_id": product_id, "version": event.version}
            retracted = {"status": ProductVersionStatus.RETRACTED, "retracted_at": at, "retract_reason": event.reason}
            return [Update(versions, key, retracted), Update(products, {"product_id": product_id}, stamp)]
    return []


projection = Projection("data_products", (products, versions), evolve)


def _served() -> Any:
    """Per product: the latest served version, how many are served, and when the latest was published."""
    return (
        select(
            versions.c.product_id,
            func.max(versions.c.version).label("latest_version"),
            func.count().label("served_versions"),
            func.max(versions.c.published_at).label("freshness"),
        )
        .where(versions.c.status == ProductVersionStatus.PUBLISHED)
        .group_by(versions.c.product_id)
        .subquery()
    )


def list_query(tenant_id: str | None, text: str | None, limit: int, after: str | None = None) -> Select[Any]:
    """Products with their latest served version's facts; a tenant's, or every tenant's (None); text search."""
    served = _served()
    latest = versions.alias("latest")
    query = (
        select(
            products,
            served.c.latest_version,
            served.c.served_versions,
            served.c.freshness,
            latest.c.rows,
            latest.c.quality,
            latest.c.datasets,
        )
        .join(served, served.c.product_id == products.c.product_id, isouter=True)
        .join(
            latest,
            (latest.c.product_id == products.c.product_id) & (latest.c.version == served.c.latest_version),
            isouter=True,
        )
    )
    if tenant_id is not None:
        query = query.where(products.c.tenant_id == tenant_id)
    if text:
        terms = [t for t in text.lower().split() if t][:10]
        query = query.where(*[products.c.search_text.contains(term, autoescape=True) for term in terms])
    if after:
        query = query.where(products.c.product_id > after)
    return query.order_by(products.c.product_id).limit(limit)


def product_query(tenant_id: str, name: str) -> Select[Any]:
    return select(products).where(products.c.tenant_id == tenant_id, products.c.name == name)


def versions_query(tenant_id: str, product_id: str) -> Select[Any]:
    query = select(versions).where(versions.c.tenant_id == tenant_id, versions.c.product_id == product_id)
    return query.order_by(versions.c.version)


def version_query(tenant_id: str, product_id: str, version: int) -> Select[Any]:
    return select(versions).where(
        versions.c.tenant_id == tenant_id, versions.c.product_id == product_id, versions.c.version == version
    )


class DatasetView(msgspec.Struct):
    """A served dataset of a version: its rows, content hash, columns and the personal-data fields masked."""

    name: str
    rows: int | None
    sha256: str
    columns: list[dict[str, str]]
    masked: list[str]


class VersionView(msgspec.Struct):
    """A product version as the API shows it."""

    product_id: str
    version: int
    tenant_id: str
    name: str
    status: str
    contract: str
    contract_version: str
    run_id: str
    datasets: list[DatasetView]
    rows: int
    quality: str
    summary: list[Any]
    published_at: str
    retracted_at: str | None
    retract_reason: str | None


class ProductView(msgspec.Struct):
    """A product with every version of it, served or retracted."""

    product_id: str
    tenant_id: str
    name: str
    title: str | None
    description: str | None
    owner: str | None
    contract: str | None
    contract_version: str | None
    created_at: str
    updated_at: str
    versions: list[VersionView]


class CatalogEntry(msgspec.Struct):
    """A product with its latest served version's facts, and each dataset's columns and masked fields."""

    product_id: str
    tenant_id: str
    title: str | None
    description: str | None
    owner: str | None
    contract: str | None
    contract_version: str | None
    created_at: str
    updated_at: str
    latest_version: int | None
    served_versions: int | None
    freshness: str | None
    rows: int | None
    quality: str | None
    product: str
    schema: dict[str, list[dict[str, str]]]
    masked: dict[str, list[str]]


class CatalogPage(msgspec.Struct):
    """A page of products; ``next_after`` asks for the next page (None on the last)."""

    products: list[CatalogEntry]
    next_after: str | None


class StoredVersion(msgspec.Struct, frozen=True):
    """A version as stored: its status and its datasets, with the manifests of their served and source files."""

    status: str
    retract_reason: str | None
    datasets: list[Dataset]


class ProductQueries:
    """The products read model, read: the catalog, products and their versions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def catalog(self, tenant_id: str | None, text: str | None, limit: int, after: str | None) -> CatalogPage:
        """Products of a tenant (None: of every tenant), by text, in pages."""
        with self.engine.connect() as connection:
            rows = connection.execute(list_query(tenant_id, text, limit, after)).mappings().all()
        entries = [_catalog_entry(plain(row)) for row in rows]
        return CatalogPage(entries, entries[-1].product_id if len(entries) == limit else None)

    def product(self, tenant_id: str, name: str) -> ProductView | None:
        with self.engine.connect() as connection:
            row = connection.execute(product_query(tenant_id, name)).mappings().first()
            if row is None:
                return None
            listed = connection.execute(versions_query(tenant_id, row["product_id"])).mappings().all()
        return msgspec.convert(plain(row) | {"versions": [_version(plain(v)) for v in listed]}, ProductView)

    def version(self, tenant_id: str, name: str, version: int) -> VersionView | None:
        found = self._version_row(tenant_id, name, version)
        return None if found is None else msgspec.convert(_version(found), VersionView)

    def stored_version(self, tenant_id: str, name: str, version: int) -> StoredVersion | None:
        """A version as stored: its datasets with the manifests of their served and source files."""
        found = self._version_row(tenant_id, name, version)
        return None if found is None else msgspec.convert(found, StoredVersion)

    def _version_row(self, tenant_id: str, name: str, version: int) -> dict[str, Any] | None:
        query = version_query(tenant_id, str(product_id_for(TenantId(tenant_id), name)), version)
        with self.engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else plain(row)


def _version(row: dict[str, Any]) -> dict[str, Any]:
    served = [d | {"rows": d["served"]["rows"], "sha256": d["served"]["sha256"]} for d in row["datasets"]]
    return row | {"datasets": served}


def _catalog_entry(row: dict[str, Any]) -> CatalogEntry:
    datasets = row.get("datasets") or []
    schema = {d["name"]: d["columns"] for d in datasets}
    masked = {d["name"]: d["masked"] for d in datasets if d["masked"]}
    return msgspec.convert(row | {"product": row["name"], "schema": schema, "masked": masked}, CatalogEntry)
