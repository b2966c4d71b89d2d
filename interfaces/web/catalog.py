"""Customer App: the tenant picker, the catalog (search with facets) and product pages, read through the same
query objects as the API's products and tenants routes, under the same Cedar actions."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Template

from domain.errors import NotFoundError
from interfaces.bootstrap import LineageQueries, version_changes
from interfaces.http.context import tenant_in_path
from interfaces.web.pages import Pages, page
from interfaces.web.session import CREDENTIAL, bearer
from projections.contract_queries import ContractQueries
from projections.products import CatalogEntry, ProductQueries
from projections.tenant_directory import TenantQueries

TENANT = "/t/{tenant_id:str}"
CATALOG_PAGE = 200
"""The catalog page the facets are counted over (the API's largest page)."""
FACETS = ("owner", "quality", "contract")
Text = Annotated[str, QueryParameter(max_length=200)]


def facet_counts(entries: list[CatalogEntry]) -> dict[str, list[tuple[str, int]]]:
    """For each facet, its values among the entries with how many have each, most frequent first."""
    return {facet: Counter(str(getattr(e, facet) or "none") for e in entries).most_common() for facet in FACETS}


def classifications(document: dict[str, Any]) -> dict[str, str]:
    """Each classified field of an ODCS document (``classification`` of a schema property), by field name."""
    return {
        str(field["name"]): str(field["classification"])
        for table in document.get("schema") or []
        for field in table.get("properties") or []
        if field.get("classification")
    }


def chosen(entries: list[CatalogEntry], picks: dict[str, str]) -> list[CatalogEntry]:
    """The entries matching every facet value picked."""
    return [e for e in entries if all(str(getattr(e, f) or "none") == v for f, v in picks.items() if v)]


class CustomerHomeController(Controller):
    path = "/app"
    include_in_schema = False

    @get("/", sync_to_thread=True, opt={"action": "list_tenants"})
    def pick_tenant(
        self,
        request: Request[Any, Any, Any],
        pages: NamedDependency[Pages],
        tenant_queries: NamedDependency[TenantQueries],
    ) -> Template:
        """The tenants the signed-in person belongs to, to pick one."""
        ids = pages.authenticator.tenants_of(bearer(request.session[CREDENTIAL]))
        tenants = [t for t in (tenant_queries.tenant(i) for i in ids) if t is not None]
        return page("pick_tenant.html", request, tenants=tenants)


class CatalogPagesController(Controller):
    path = "/app" + TENANT
    include_in_schema = False

    @get("/catalog", sync_to_thread=True, opt={"action": "list_products"})
    def catalog(
        self,
        request: Request[Any, Any, Any],
        products: NamedDependency[ProductQueries],
        tenant_id: FromPath[str],
        q: Text = "",
        owner: Text = "",
        quality: Text = "",
        contract: Text = "",
    ) -> Template:
        """Search the tenant's products; narrow by owner, quality and contract."""
        found = products.catalog(tenant_in_path(tenant_id), q or None, CATALOG_PAGE, None).products
        picks = {"owner": owner, "quality": quality, "contract": contract}
        entries = chosen(found, picks)
        return page("catalog.html", request, q=q, picks=picks, facets=facet_counts(found), entries=entries)

    @get("/products/{product:str}", sync_to_thread=True, opt={"action": "read_product"})
    def product(
        self,
        request: Request[Any, Any, Any],
        pages: NamedDependency[Pages],
        products: NamedDependency[ProductQueries],
        contract_queries: NamedDependency[ContractQueries],
        tenant_id: FromPath[str],
        product: FromPath[str],
    ) -> Template:
        """A product: description, owner, contract, its versions with rows and quality, the latest schema."""
        tenant = tenant_in_path(tenant_id)
        found = products.product(tenant, product)
        if found is None:
            raise NotFoundError(f"no such product: {product}")
        latest = found.versions[-1] if found.versions else None
        document: dict[str, Any] = {}
        contract, version = found.contract, found.contract_version
        if contract and version and pages.may(request.auth, "read_contract", tenant):
            document = contract_queries.version(tenant, contract, version).document
        previous = {b.version: a.version for a, b in zip(found.versions, found.versions[1:], strict=False)}
        classified = classifications(document)
        return page("product.html", request, product=found, latest=latest, classified=classified, previous=previous)

    @get(
        "/products/{product:str}/versions/{older:int}/changes/{newer:int}",
        sync_to_thread=True,
        opt={"action": "read_product"},
    )
    def changes(
        self,
        request: Request[Any, Any, Any],
        products: NamedDependency[ProductQueries],
        lineage: NamedDependency[LineageQueries],
        tenant_id: FromPath[str],
        product: FromPath[str],
        older: FromPath[int],
        newer: FromPath[int],
    ) -> Template:
        """Why a KPI changed: the raw batches a newer version added and removed, and the contract versions."""
        tenant = tenant_in_path(tenant_id)
        found = [products.version(tenant, product, v) for v in (older, newer)]
        if found[0] is None or found[1] is None:
            raise NotFoundError(f"no such product versions: {product} v{older}, v{newer}")
        return page("changes.html", request, changes=version_changes(lineage, found[0], found[1]))
