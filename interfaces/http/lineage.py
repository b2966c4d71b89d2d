"""The lineage API: walks up and down the lineage graph from a dataset version (by SHA-256), a run's lineage as
OpenLineage RunEvents, and the lineage obligations' results (``?verify=true`` hashes every raw batch again, for
those who may ask that of the dataset store: ``verify_lineage_checksums``)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import anyio
from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath, QueryParameter

from adapters.lineage.graph import LineageGraph, edge_view, view
from adapters.lineage.obligations import results, status_counts
from adapters.lineage.openlineage import run_events
from domain import lineage as ln
from domain.errors import NotFoundError
from domain.values import TenantId
from interfaces.bootstrap import Platform
from interfaces.http.auth import resolve_resource
from interfaces.http.context import id_in_path, platform_of, tenant_in_path
from interfaces.http.erased import TENANT_DATA

PATH = "/v1/tenants/{tenant_id:str}/lineage"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_DEPTH = 100
DEFAULT_DEPTH = 25
Depth = Annotated[int, QueryParameter(ge=0, le=MAX_DEPTH, description="edges to follow at most")]


def _tenant(tenant_id: str) -> TenantId:
    return tenant_in_path(tenant_id)


def _walk(platform: Platform, tenant: str, sha256: str, upstream: bool, depth: int) -> dict[str, Any]:
    if not SHA256.fullmatch(sha256):
        raise NotFoundError(f"no dataset version has the SHA-256 {sha256!r} (64 lowercase hex digits)")
    with platform.read_models.engine.connect() as connection:
        graph = LineageGraph(connection, tenant)
        start = [row["node_id"] for row in graph.datasets(sha256)]
        if not start:
            raise NotFoundError(f"no dataset version of this tenant has the SHA-256 {sha256}")
        walk = graph.walk(start, upstream, depth)
    ordered = sorted(walk.distances.items(), key=lambda found: (found[1], found[0]))
    return {
        "sha256": sha256,
        "direction": "upstream" if upstream else "downstream",
        "depth": depth,
        "start": start,
        "nodes": [view(walk.nodes[node_id], distance) for node_id, distance in ordered],
        "edges": [edge_view(edge) for edge in walk.edges],
        "truncated": walk.truncated,
    }


def _verify_allowed(request: Request[Any, Any, Any], platform: Platform, tenant: str) -> None:
    """Hashing every raw batch again reads the whole raw store: only for those allowed to ask it."""
    resource = resolve_resource(platform, {"tenant_id": tenant}, False)
    decision = platform.policies.authorize(request.auth, "verify_lineage_checksums", resource)
    platform.decisions.record(request.auth, "verify_lineage_checksums", resource, decision)
    if not decision.allowed:
        raise PermissionDeniedException("verify_lineage_checksums is not permitted here")


class LineageController(Controller):
    path = PATH
    opt = {TENANT_DATA: True}
    tags = ["lineage"]

    @get("/datasets/{sha256:str}/upstream", sync_to_thread=True, opt={"action": "read_lineage"})
    def upstream(
        self, state: State, tenant_id: FromPath[str], sha256: FromPath[str], depth: Depth = DEFAULT_DEPTH
    ) -> dict[str, Any]:
        """What a dataset version was made from: steps, their inputs back to raw batches, runs, contract versions
        and approvals, at most ``depth`` edges away; edges carry the content hash of the dataset they touch."""
        return _walk(platform_of(state), _tenant(tenant_id), sha256, True, depth)

    @get("/datasets/{sha256:str}/downstream", sync_to_thread=True, opt={"action": "read_lineage"})
    def downstream(
        self, state: State, tenant_id: FromPath[str], sha256: FromPath[str], depth: Depth = DEFAULT_DEPTH
    ) -> dict[str, Any]:
        """What was made from a dataset version: steps, datasets, product versions and exports."""
        return _walk(platform_of(state), _tenant(tenant_id), sha256, False, depth)

    @get("/runs/{run_id:str}/openlineage", sync_to_thread=True, opt={"action": "read_openlineage"})
    def openlineage(self, state: State, tenant_id: FromPath[str], run_id: FromPath[str]) -> list[dict[str, Any]]:
        """The OpenLineage RunEvents (spec 2-0-2) of a pipeline run's finished steps and of the run once it ended,
        or of an export by its id."""
        tenant, run = _tenant(tenant_id), str(id_in_path(run_id, "run"))
        with platform_of(state).read_models.engine.connect() as connection:
            return run_events(connection, tenant, run)

    @get("/obligations", opt={"action": "list_lineage_obligations"})
    async def obligations(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        status: Annotated[Literal["satisfied", "violated", "pending"] | None, QueryParameter()] = None,
        verify: Annotated[bool, QueryParameter()] = False,
    ) -> dict[str, Any]:
        """The lineage obligations in force and their result for every subject (``status=violated`` for the
        violations); ``verify=true`` hashes every raw batch again first."""
        platform, tenant = platform_of(state), _tenant(tenant_id)
        if verify:
            await anyio.to_thread.run_sync(_verify_allowed, request, platform, tenant)
        found = await anyio.to_thread.run_sync(_results, platform, tenant, verify)
        return {
            "tenant_id": tenant,
            "verified": verify,
            "obligations": [o.as_dict() for o in ln.in_force()],
            "counts": status_counts(found),
            "results": [r.as_dict() for r in found if status is None or r.status == status],
        }


def _results(platform: Platform, tenant: str, verify: bool) -> list[ln.Result]:
    with platform.read_models.engine.connect() as connection:
        return results(connection, tenant, platform.datasets if verify else None)
