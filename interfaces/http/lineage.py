"""The lineage API: walks up and down the lineage graph from a dataset version (by SHA-256), a run's lineage as
OpenLineage RunEvents, and the lineage obligations' results (``?verify=true`` hashes every raw batch again, for
those who may ask that of the dataset store: ``verify_lineage_checksums``)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import anyio
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from application.authorization import Authorization
from domain.errors import NotFoundError
from domain.values import TenantId
from interfaces.bootstrap import LineageQueries, LineageWalk, ObligationReport, RunEvent
from interfaces.http.context import id_in_path, tenant_in_path
from interfaces.http.erased import TENANT_DATA

PATH = "/v1/tenants/{tenant_id:str}/lineage"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_DEPTH = 100
DEFAULT_DEPTH = 25
Depth = Annotated[int, QueryParameter(ge=0, le=MAX_DEPTH, description="edges to follow at most")]


def _tenant(tenant_id: str) -> TenantId:
    return tenant_in_path(tenant_id)


def _walk(lineage: LineageQueries, tenant: str, sha256: str, upstream: bool, depth: int) -> LineageWalk:
    if not SHA256.fullmatch(sha256):
        raise NotFoundError(f"no dataset version has the SHA-256 {sha256!r} (64 lowercase hex digits)")
    found = lineage.walk(tenant, sha256, upstream, depth)
    if found is None:
        raise NotFoundError(f"no dataset version of this tenant has the SHA-256 {sha256}")
    return found


class LineageController(Controller):
    path = PATH
    opt = {TENANT_DATA: True}
    tags = ["lineage"]

    @get("/datasets/{sha256:str}/upstream", sync_to_thread=True, opt={"action": "read_lineage"})
    def upstream(
        self,
        lineage: NamedDependency[LineageQueries],
        tenant_id: FromPath[str],
        sha256: FromPath[str],
        depth: Depth = DEFAULT_DEPTH,
    ) -> LineageWalk:
        """What a dataset version was made from: steps, their inputs back to raw batches, runs, contract versions
        and approvals, at most ``depth`` edges away; edges carry the content hash of the dataset they touch."""
        return _walk(lineage, _tenant(tenant_id), sha256, True, depth)

    @get("/datasets/{sha256:str}/downstream", sync_to_thread=True, opt={"action": "read_lineage"})
    def downstream(
        self,
        lineage: NamedDependency[LineageQueries],
        tenant_id: FromPath[str],
        sha256: FromPath[str],
        depth: Depth = DEFAULT_DEPTH,
    ) -> LineageWalk:
        """What was made from a dataset version: steps, datasets, product versions and exports."""
        return _walk(lineage, _tenant(tenant_id), sha256, False, depth)

    @get("/runs/{run_id:str}/openlineage", sync_to_thread=True, opt={"action": "read_openlineage"})
    def openlineage(
        self, lineage: NamedDependency[LineageQueries], tenant_id: FromPath[str], run_id: FromPath[str]
    ) -> list[RunEvent]:
        """The OpenLineage RunEvents (spec 2-0-2) of a pipeline run's finished steps and of the run once it ended,
        or of an export by its id."""
        tenant, run = _tenant(tenant_id), str(id_in_path(run_id, "run"))
        return lineage.run_events(tenant, run)

    @get("/obligations", opt={"action": "list_lineage_obligations"})
    async def obligations(
        self,
        request: Request[Any, Any, Any],
        authorization: NamedDependency[Authorization],
        lineage: NamedDependency[LineageQueries],
        tenant_id: FromPath[str],
        status: Annotated[Literal["satisfied", "violated", "pending"] | None, QueryParameter()] = None,
        verify: Annotated[bool, QueryParameter()] = False,
    ) -> ObligationReport:
        """The lineage obligations in force and their result for every subject (``status=violated`` for the
        violations); ``verify=true`` hashes every raw batch again first."""
        tenant = _tenant(tenant_id)
        if verify:
            # Hashing every raw batch again reads the whole raw store: only for those allowed to ask it.
            allowed = authorization.require_for_tenant
            await anyio.to_thread.run_sync(allowed, request.auth, "verify_lineage_checksums", tenant)
        return await anyio.to_thread.run_sync(lineage.obligations, tenant, verify, status)
