"""Exports over HTTP: request a file of a product version's rows, follow the job, download through a link that
expires (application/export_links.py). Requesting, completing and each download are events.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import anyio
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream

from application.export_links import ExportLinks
from application.pipeline import PipelineService
from domain.errors import InvalidValueError, NotFoundError
from domain.exports import EXPORT_FORMATS
from domain.values import ExportStatus, TenantId
from interfaces.bootstrap import ComputeSteps, DatasetStore, parse_query
from interfaces.http.context import command_context, id_in_path, tenant_in_path
from interfaces.http.erased import TENANT_DATA
from projections.exports import ExportQueries, ExportView

PATH = "/v1/tenants/{tenant_id:str}/exports"
MEDIA = {
    "csv": "text/csv",
    "json": "application/json",
    "arrow": "application/vnd.apache.arrow.stream",
    "parquet": "application/vnd.apache.parquet",
}
CHUNK = 1 << 20
EXPORTED_ROWS = "The exported file; as JSON, an array of the dataset's rows, keyed by the columns its contract names"


class ExportRequest(msgspec.Struct, forbid_unknown_fields=True):
    product: str
    version: int
    format: str = "csv"
    dataset: str = "kpis"
    filters: dict[str, str] = {}
    """Row filters as on the rows endpoint: {"country": "DE", "value[gte]": "10"}."""
    csv_formulas: str = "neutralise"
    """CSV only: "neutralise" quotes text cells a spreadsheet would run as formulas with a leading '; "raw" does not."""


class ExportStarted(msgspec.Struct):
    export_id: str
    status: str
    position: int
    location: str


class ExportList(msgspec.Struct):
    exports: list[ExportView]


def _tenant(tenant_id: str) -> TenantId:
    return tenant_in_path(tenant_id)


def _view(links: ExportLinks, found: ExportView) -> ExportView:
    """A completed export with a fresh download link."""
    if found.status != ExportStatus.COMPLETED:
        return found
    url, expires = links.link(found.tenant_id, found.export_id)
    return msgspec.structs.replace(found, download_url=url, download_expires_at=expires)


def _check_filters(pipeline: PipelineService, compute: ComputeSteps, tenant: TenantId, data: ExportRequest) -> None:
    """Bad filters are a 400 now, not a failed job later: they are parsed against the dataset's columns."""
    product = pipeline.product(tenant, data.product)
    served = {d["name"]: d for d in product.served(data.version)}
    found = served.get(data.dataset)
    if found is None:
        raise NotFoundError(f"version {data.version} of {data.product} has no dataset {data.dataset!r}")
    table = compute.tables.load(found["served"])
    parse_query(list(data.filters.items()), table.schema, found["served"]["sha256"])


class ExportController(Controller):
    path = PATH
    opt = {TENANT_DATA: True}
    tags = ["exports"]

    @post("/", status_code=202, opt={"action": "request_export"})
    async def request_export(
        self,
        request: Request[Any, Any, Any],
        pipeline: NamedDependency[PipelineService],
        compute: NamedDependency[ComputeSteps],
        tenant_id: FromPath[str],
        data: JSONBody[ExportRequest],
    ) -> Response[ExportStarted]:
        """Start an export of a product version (format csv, json, arrow or parquet; optional filters)."""
        tenant = _tenant(tenant_id)
        if data.format not in EXPORT_FORMATS:
            raise InvalidValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
        context = command_context(request)
        await anyio.to_thread.run_sync(_check_filters, pipeline, compute, tenant, data)
        filters = [[k, v] for k, v in data.filters.items()]
        result = await anyio.to_thread.run_sync(
            lambda: pipeline.request_export(
                context, tenant, data.product, data.version, data.dataset, data.format, filters, data.csv_formulas
            )
        )
        location = f"/v1/tenants/{tenant}/exports/{result.aggregate_id}"
        body = ExportStarted(str(result.aggregate_id), ExportStatus.REQUESTED, result.position, location)
        return Response(body, status_code=202, headers={"Location": location})

    @get("/", sync_to_thread=True, opt={"action": "list_exports"})
    def list_exports(
        self,
        exports: NamedDependency[ExportQueries],
        export_links: NamedDependency[ExportLinks],
        tenant_id: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> ExportList:
        """A tenant's exports, newest first."""
        return ExportList([_view(export_links, found) for found in exports.latest(_tenant(tenant_id), limit)])

    @get("/{export_id:str}", sync_to_thread=True, opt={"action": "read_export"})
    def read_export(
        self,
        exports: NamedDependency[ExportQueries],
        export_links: NamedDependency[ExportLinks],
        tenant_id: FromPath[str],
        export_id: FromPath[str],
    ) -> ExportView:
        """An export's status; once completed, a download link valid for PLATFORM_EXPORT_LINK_TTL seconds."""
        found = exports.export(_tenant(tenant_id), str(id_in_path(export_id, "export")))
        if found is None:
            raise NotFoundError(f"no such export: {export_id}")
        return _view(export_links, found)

    @get(
        "/{export_id:str}/download",
        opt={"action": "download_export", "problems": (410,), "media_types": tuple(dict.fromkeys(MEDIA.values()))},
        responses={200: ResponseSpec(list[dict[str, Any]], description=EXPORTED_ROWS, generate_examples=False)},
    )
    async def download(
        self,
        request: Request[Any, Any, Any],
        pipeline: NamedDependency[PipelineService],
        datasets: NamedDependency[DatasetStore],
        export_links: NamedDependency[ExportLinks],
        tenant_id: FromPath[str],
        export_id: FromPath[str],
        expires: FromQuery[int],
        signature: Annotated[str, QueryParameter(max_length=64)],
    ) -> Stream:
        """The exported file, through a signed link that expires (410 after). Each download is an event."""
        tenant = _tenant(tenant_id)
        export = id_in_path(export_id, "export")
        export_links.check(tenant, str(export), expires, signature)
        context = command_context(request)
        file = await anyio.to_thread.run_sync(pipeline.download, context, tenant, export)
        job = await anyio.to_thread.run_sync(pipeline.export, tenant, export)
        # Checked in full before the first byte goes out: a file that fails its hash is never served.
        checked = await anyio.to_thread.run_sync(datasets.read_verified, file["key"], file["sha256"])
        name = f"{job.product}-v{job.product_version}-{job.dataset}{_suffix(file['key'])}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"', "X-Content-SHA256": file["sha256"]}
        return Stream(_chunks(checked), media_type=MEDIA[job.format], headers=headers)


def _suffix(key: str) -> str:
    return key[key.rfind(".") :] if "." in key.rsplit("/", 1)[-1] else ""


def _chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]
