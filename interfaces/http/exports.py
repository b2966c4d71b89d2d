"""Exports over HTTP: request a file of a product version's rows, follow the job, download through a link that
expires. Requesting, completing and each download are events.

The download link is signed (HMAC-SHA256 with the platform's link key) over the tenant, the export and the
expiry, and it still needs the caller's credentials: a leaked link alone downloads nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Annotated, Any

import anyio
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream

from adapters.compute.rows import parse_query
from domain.errors import InvalidValueError, NotFoundError
from domain.exports import EXPORT_FORMATS
from domain.values import TenantId
from interfaces.bootstrap import Platform
from interfaces.http.context import command_context, id_in_path, platform_of, tenant_in_path
from interfaces.http.erased import TENANT_DATA
from projections.exports import export_query, list_query

PATH = "/v1/tenants/{tenant_id:str}/exports"
MEDIA = {
    "csv": "text/csv",
    "json": "application/json",
    "arrow": "application/vnd.apache.arrow.stream",
    "parquet": "application/vnd.apache.parquet",
}
CHUNK = 1 << 20


class ExportRequest(msgspec.Struct, forbid_unknown_fields=True):
    product: str
    version: int
    format: str = "csv"
    dataset: str = "kpis"
    filters: dict[str, str] = {}
    """Row filters as on the rows endpoint: {"country": "DE", "value[gte]": "10"}."""
    csv_formulas: str = "neutralise"
    """CSV only: "neutralise" quotes text cells a spreadsheet would run as formulas with a leading '; "raw" does not."""


class LinkExpiredError(HTTPException):
    status_code = 410


def _tenant(tenant_id: str) -> TenantId:
    return tenant_in_path(tenant_id)


def sign(secret: bytes, tenant: str, export_id: str, expires: int) -> str:
    return hmac.new(secret, f"{tenant}|{export_id}|{expires}".encode(), hashlib.sha256).hexdigest()


def _view(platform: Platform, row: dict[str, Any]) -> dict[str, Any]:
    row.pop("position", None)
    if row["status"] == "completed":
        expires = int(time.time()) + platform.settings.export_link_ttl
        signature = sign(platform.link_secret, row["tenant_id"], row["export_id"], expires)
        base = f"/v1/tenants/{row['tenant_id']}/exports/{row['export_id']}/download"
        row["download_url"] = f"{base}?expires={expires}&signature={signature}"
        row["download_expires_at"] = expires
    return row


def _check_filters(platform: Platform, tenant: TenantId, data: ExportRequest) -> None:
    """Bad filters are a 400 now, not a failed job later: they are parsed against the dataset's columns."""
    product = platform.pipeline.product(tenant, data.product)
    served = {d["name"]: d for d in product.served(data.version)}
    found = served.get(data.dataset)
    if found is None:
        raise NotFoundError(f"version {data.version} of {data.product} has no dataset {data.dataset!r}")
    table = platform.compute.tables.load(found["served"])
    parse_query(list(data.filters.items()), table.schema, found["served"]["sha256"])


class ExportController(Controller):
    path = PATH
    opt = {TENANT_DATA: True}
    tags = ["exports"]

    @post("/", status_code=202, opt={"action": "request_export"})
    async def request_export(
        self, request: Request[Any, Any, Any], state: State, tenant_id: FromPath[str], data: JSONBody[ExportRequest]
    ) -> Response[dict[str, Any]]:
        """Start an export of a product version (format csv, json, arrow or parquet; optional filters)."""
        platform = platform_of(state)
        tenant = _tenant(tenant_id)
        if data.format not in EXPORT_FORMATS:
            raise InvalidValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
        context = command_context(request)
        await anyio.to_thread.run_sync(_check_filters, platform, tenant, data)
        filters = [[k, v] for k, v in data.filters.items()]
        result = await anyio.to_thread.run_sync(
            lambda: platform.pipeline.request_export(
                context, tenant, data.product, data.version, data.dataset, data.format, filters, data.csv_formulas
            )
        )
        location = f"/v1/tenants/{tenant}/exports/{result.aggregate_id}"
        body = {"export_id": str(result.aggregate_id), "status": "requested", "position": result.position}
        return Response(body | {"location": location}, status_code=202, headers={"Location": location})

    @get("/", sync_to_thread=True, opt={"action": "list_exports"})
    def list_exports(
        self,
        state: State,
        tenant_id: FromPath[str],
        limit: Annotated[int, QueryParameter(query="limit", ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        """A tenant's exports, newest first."""
        platform = platform_of(state)
        with platform.read_models.engine.connect() as connection:
            rows = connection.execute(list_query(_tenant(tenant_id), limit)).mappings().all()
        return {"exports": [_view(platform, dict(r)) for r in rows]}

    @get("/{export_id:str}", sync_to_thread=True, opt={"action": "read_export"})
    def read_export(self, state: State, tenant_id: FromPath[str], export_id: FromPath[str]) -> dict[str, Any]:
        """An export's status; once completed, a download link valid for PLATFORM_EXPORT_LINK_TTL seconds."""
        platform = platform_of(state)
        found = str(id_in_path(export_id, "export"))
        with platform.read_models.engine.connect() as connection:
            row = connection.execute(export_query(_tenant(tenant_id), found)).mappings().first()
        if row is None:
            raise NotFoundError(f"no such export: {export_id}")
        return _view(platform, dict(row))

    @get(
        "/{export_id:str}/download",
        opt={"action": "download_export", "problems": (410,), "media_types": tuple(dict.fromkeys(MEDIA.values()))},
    )
    async def download(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        export_id: FromPath[str],
        expires: Annotated[int, QueryParameter(query="expires")],
        signature: Annotated[str, QueryParameter(query="signature", max_length=64)],
    ) -> Stream:
        """The exported file, through a signed link that expires (410 after). Each download is an event."""
        platform = platform_of(state)
        tenant = _tenant(tenant_id)
        export = id_in_path(export_id, "export")
        expected = sign(platform.link_secret, tenant, str(export), expires)
        if not hmac.compare_digest(expected.encode(), signature.encode()):  # bytes: a str must be ASCII
            raise PermissionDeniedException("the download link is not valid")
        if expires < time.time():
            raise LinkExpiredError(detail="the download link has expired; read the export again for a new one")
        context = command_context(request)
        file = await anyio.to_thread.run_sync(platform.pipeline.download, context, tenant, export)
        job = await anyio.to_thread.run_sync(platform.pipeline.export, tenant, export)
        # Checked in full before the first byte goes out: a file that fails its hash is never served.
        checked = await anyio.to_thread.run_sync(lambda: platform.datasets.read_verified(file["key"], file["sha256"]))
        name = f"{job.product}-v{job.product_version}-{job.dataset}{_suffix(file['key'])}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"', "X-Content-SHA256": file["sha256"]}
        return Stream(_chunks(checked), media_type=MEDIA[job.format], headers=headers)


def _suffix(key: str) -> str:
    return key[key.rfind(".") :] if "." in key.rsplit("/", 1)[-1] else ""


def _chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]
