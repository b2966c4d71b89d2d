"""The Activation API and the catalog: published data products, their versions, and their rows.

Rows are served from the version's stored Parquet (checked by SHA-256 when first loaded, then cached: published
files never change) with field selection, bound filters, cursor pagination and content negotiation (JSON, CSV,
Arrow IPC stream, Parquet). Personal-data fields are masked unless the reader may see them (``read_personal_data``);
an entitled reader is served the unmasked source the version was made from, and each such answer that holds personal
fields is recorded as a ``PersonalDataAccessRecorded`` event before it is sent (``record_unmasked``). Exports are
made from the masked files only. A retracted version answers 410.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
import msgspec
import pyarrow as pa
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from application.personal_data import PersonalDataService
from application.pipeline import PipelineService
from domain.errors import NotFoundError
from domain.personal_data import ServedData
from domain.pipeline import Manifest
from domain.products import Dataset, VersionRetractedError
from domain.values import ProductVersionStatus, TenantId
from interfaces.bootstrap import (
    MEDIA_TYPES,
    ComputeSteps,
    LineageQueries,
    VersionChanges,
    encode,
    negotiate,
    parse_query,
    run_query,
    version_changes,
)
from interfaces.http.auth import Resources
from interfaces.http.context import command_context, tenant_in_path
from interfaces.http.erased import TENANT_DATA
from interfaces.http.personal_data import record_unmasked
from projections.products import CatalogPage, ProductQueries, ProductView, VersionView

PATH = "/v1/tenants/{tenant_id:str}/products"
MAX_PAGE = 200
INLINE_ROWS = 2_000
"""Pages up to this many rows are encoded on the event loop; bigger ones in a worker thread."""


class Retract(msgspec.Struct, forbid_unknown_fields=True):
    reason: str


class Retracted(msgspec.Struct):
    product: str
    version: int
    status: str
    position: int


def _tenant(tenant_id: str) -> TenantId:
    return tenant_in_path(tenant_id)


class RowsPage(msgspec.Struct, frozen=True):
    """A page of a version's rows as JSON; each row holds the selected columns of the dataset, as its contract
    names them (the other formats carry the same page as CSV, Arrow or Parquet)."""

    product: str
    version: int
    dataset: str
    masked: list[str]
    next_cursor: str | None
    rows: list[dict[str, Any]]


def _version(products: ProductQueries, tenant: TenantId, product: str, version: int) -> VersionView:
    found = products.version(tenant, product, version)
    if found is None:
        raise NotFoundError(f"no such product version: {product} v{version}")
    return found


def _served_dataset(products: ProductQueries, tenant: TenantId, product: str, version: int, name: str) -> Dataset:
    """The dataset of a served version (404 for none, 410 once retracted)."""
    found = products.stored_version(tenant, product, version)
    if found is None:
        raise NotFoundError(f"no such product version: {product} v{version}")
    if found.status == ProductVersionStatus.RETRACTED:
        raise VersionRetractedError(f"version {version} of {product} was retracted: {found.retract_reason}")
    dataset = next((d for d in found.datasets if d["name"] == name), None)
    if dataset is None:
        names = ", ".join(d["name"] for d in found.datasets)
        raise NotFoundError(f"version {version} of {product} has no dataset {name!r} (it has {names})")
    return dataset


async def _may_see_personal_data(request: Request[Any, Any, Any], resources: Resources, tenant: str) -> bool:
    resource = resources.recent.get(tenant)
    if resource is None:
        resource = await anyio.to_thread.run_sync(resources.seen_by_queries, tenant)
    return resources.allows(request.auth, "read_personal_data", resource)


async def _table(compute: ComputeSteps, file: Manifest) -> pa.Table:
    """The file's table: from the cache on the event loop, else loaded (and checked) in a worker thread."""
    cached = compute.tables.cached(file)
    return cached if cached is not None else await anyio.to_thread.run_sync(compute.tables.load, file)


class ProductController(Controller):
    path = PATH
    opt = {TENANT_DATA: True}
    tags = ["products"]

    @get("/", sync_to_thread=True, opt={"action": "list_products"})
    def list_products(
        self,
        products: NamedDependency[ProductQueries],
        tenant_id: FromPath[str],
        q: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
        after: Annotated[str | None, QueryParameter(max_length=36)] = None,
    ) -> CatalogPage:
        """A tenant's data products with their latest served version, rows, freshness and quality."""
        return products.catalog(_tenant(tenant_id), q, limit, after)

    @get("/{product:str}", sync_to_thread=True, opt={"action": "read_product"})
    def read_product(
        self, products: NamedDependency[ProductQueries], tenant_id: FromPath[str], product: FromPath[str]
    ) -> ProductView:
        """A product and every version of it, served or retracted."""
        found = products.product(_tenant(tenant_id), product)
        if found is None:
            raise NotFoundError(f"no such product: {product}")
        return found

    @get(
        "/{product:str}/versions/{version:int}",
        sync_to_thread=True,
        opt={"action": "read_product", "problems": (410,)},
    )
    def read_version(
        self,
        products: NamedDependency[ProductQueries],
        tenant_id: FromPath[str],
        product: FromPath[str],
        version: FromPath[int],
    ) -> VersionView:
        """One version: its datasets (columns, rows, content hash, masked fields), contract and KPI summary."""
        return _version(products, _tenant(tenant_id), product, version)

    @get(
        "/{product:str}/versions/{older:int}/changes/{newer:int}",
        sync_to_thread=True,
        opt={"action": "read_product"},
    )
    def changes(
        self,
        products: NamedDependency[ProductQueries],
        lineage: NamedDependency[LineageQueries],
        tenant_id: FromPath[str],
        product: FromPath[str],
        older: FromPath[int],
        newer: FromPath[int],
    ) -> VersionChanges:
        """Why a KPI changed between two versions: the builds that made them, the raw batches (content hashes) the
        newer one added and removed, and their contract versions. ``older`` must be below ``newer`` (422)."""
        tenant = _tenant(tenant_id)
        return version_changes(
            lineage, _version(products, tenant, product, older), _version(products, tenant, product, newer)
        )

    @get(
        "/{product:str}/versions/{version:int}/rows",
        opt={"action": "read_product_rows", "problems": (406, 410), "media_types": MEDIA_TYPES},
        responses={200: ResponseSpec(RowsPage, description="A page of rows", generate_examples=False)},
    )
    async def rows(
        self,
        request: Request[Any, Any, Any],
        products: NamedDependency[ProductQueries],
        compute: NamedDependency[ComputeSteps],
        personal_data: NamedDependency[PersonalDataService],
        resources: NamedDependency[Resources],
        tenant_id: FromPath[str],
        product: FromPath[str],
        version: FromPath[int],
        dataset: Annotated[str, QueryParameter(max_length=16)] = "kpis",
        fmt: Annotated[str | None, QueryParameter(name="format", max_length=16)] = None,
    ) -> Response[bytes]:
        """Rows of a version's dataset (``kpis``, or ``gdp`` when published): ``fields=a,b``, filters such as
        ``country=DE``, ``value[gte]=10``, ``country[in]=DE,FR``, ``limit``, ``cursor``; JSON, CSV, Arrow or Parquet
        by Accept or ``format``."""
        tenant = _tenant(tenant_id)
        media_type = negotiate(request.headers.get("accept"), fmt)
        found = await anyio.to_thread.run_sync(_served_dataset, products, tenant, product, version, dataset)
        unmasked = bool(found["masked"]) and await _may_see_personal_data(request, resources, tenant)
        file = found["source"] if unmasked else found["served"]
        table = await _table(compute, file)
        query = parse_query(list(request.query_params.multi_items()), table.schema, file["sha256"])
        page, next_cursor = run_query(table, query, file["sha256"])
        if unmasked:  # recorded before a byte is served: no record, no data
            personal = [f for f in found["masked"] if f in page.column_names]
            served = ServedData(product, version, dataset, personal, page.num_rows)
            await record_unmasked(request, personal_data, tenant, served)
        small = page.num_rows <= INLINE_ROWS
        body = encode(page, media_type) if small else await anyio.to_thread.run_sync(encode, page, media_type)
        masked = [] if unmasked else found["masked"]
        headers = {"X-Row-Count": str(page.num_rows), "X-Masked-Fields": ",".join(masked)}
        if next_cursor:
            headers["X-Next-Cursor"] = next_cursor
        if media_type == "application/json":  # the rows are encoded already: the page is written around them
            about = RowsPage(product, version, dataset, masked, next_cursor, [])
            body = msgspec.json.encode(about)[: -len(b"[]}")] + body + b"}"
        return Response(body, media_type=media_type, headers=headers)

    @post(
        "/{product:str}/versions/{version:int}/retract",
        sync_to_thread=True,
        status_code=200,
        opt={"action": "retract_product_version", "problems": (410,)},
    )
    def retract(
        self,
        request: Request[Any, Any, Any],
        pipeline: NamedDependency[PipelineService],
        tenant_id: FromPath[str],
        product: FromPath[str],
        version: FromPath[int],
        data: JSONBody[Retract],
    ) -> Retracted:
        """Retract a version: no longer served (410), still in the evidence. A reason is required."""
        result = pipeline.retract(command_context(request), _tenant(tenant_id), product, version, data.reason)
        return Retracted(product, version, ProductVersionStatus.RETRACTED, result.position)


class CatalogController(Controller):
    path = "/v1/catalog"
    tags = ["catalog"]

    @get("/", sync_to_thread=True, opt={"action": "read_catalog"})
    def catalog(
        self,
        request: Request[Any, Any, Any],
        products: NamedDependency[ProductQueries],
        q: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
        after: Annotated[str | None, QueryParameter(max_length=36)] = None,
    ) -> CatalogPage:
        """Every published product the caller may see (its own tenant's; all for platform admins), searchable by
        text (title, description, owner, contract, column names)."""
        identity = request.auth
        tenant = None if identity.platform_admin else (identity.tenant_id or "")
        return products.catalog(tenant, q, limit, after)
