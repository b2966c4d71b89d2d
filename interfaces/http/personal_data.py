"""Personal data over HTTP: the one place an answer that serves personal data unmasked is recorded, and "who saw
my data", the recorded accesses of a tenant.

A route that serves personal-data fields unmasked calls ``record_unmasked`` after it has made its answer and
before it sends a byte of it: when the access cannot be recorded, the error answers instead (503 when the event
store is down) and the data is not served. An answer whose selected fields or rows hold no personal data records
nothing, since nothing personal was served.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from application.personal_data import PersonalDataService
from domain.personal_data import Purpose, ServedData
from domain.values import TenantId
from interfaces.http.context import command_context, id_in_path
from interfaces.http.gateway import request_id
from interfaces.http.problems import BadRequestError
from projections.personal_data import AccessFilter, AccessPage, PersonalDataQueries, utc_time

PATH = "/v1/tenants/{tenant_id:str}/personal-data-accesses"
MAX_PAGE = 500


async def record_unmasked(
    request: Request[Any, Any, Any], personal_data: PersonalDataService, tenant_id: TenantId, served: ServedData
) -> int | None:
    """Records that the caller is served ``served`` unmasked (fields: the personal-data fields in the answer);
    returns the event's position, or None when the answer holds no personal data."""
    if not served.fields or served.rows < 1:
        return None
    context = command_context(request)
    why = Purpose(str(request.route_handler.opt.get("action", "")), _route(request), request_id(request.scope))
    kind = str(getattr(request.auth, "kind", "unknown"))
    result = await anyio.to_thread.run_sync(personal_data.record_access, context, tenant_id, kind, served, why)
    return result.position


def _route(request: Request[Any, Any, Any]) -> str:
    return f"{request.method} {request.scope.get('path_template') or request.url.path}"


def _time(name: str, raw: str | None) -> str | None:
    try:
        return None if raw is None else utc_time(name, raw)
    except ValueError as error:
        raise BadRequestError(str(error)) from None


class PersonalDataAccessController(Controller):
    path = PATH
    tags = ["personal data"]

    @get("/", sync_to_thread=True, opt={"action": "list_personal_data_accesses"})
    def list_accesses(
        self,
        personal_data_queries: NamedDependency[PersonalDataQueries],
        tenant_id: FromPath[str],
        principal: Annotated[str | None, QueryParameter(max_length=64)] = None,
        product: Annotated[str | None, QueryParameter(max_length=200)] = None,
        field: Annotated[str | None, QueryParameter(max_length=200)] = None,
        since: Annotated[str | None, QueryParameter(max_length=40)] = None,
        until: Annotated[str | None, QueryParameter(max_length=40)] = None,
        before: Annotated[int | None, QueryParameter(ge=0)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    ) -> AccessPage:
        """Who was served this tenant's personal data unmasked, newest first: by ``principal`` (id), ``product``,
        ``field``, ``since`` and ``until`` (ISO times, [since, until)); ``before`` is the previous page's
        ``next_before``."""
        wanted = AccessFilter(principal, product, field, _time("since", since), _time("until", until))
        return personal_data_queries.page(str(id_in_path(tenant_id)), wanted, before, limit)
