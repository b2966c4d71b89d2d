"""Customer App: the runs list and a run's page (its steps as a timeline), from the API's run queries."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Template

from domain.errors import NotFoundError
from interfaces.http.context import id_in_path, tenant_in_path
from interfaces.web.pages import page
from projections.runs import RunQueries, RunStep

RUNS_PAGE = 50


def timeline(steps: list[RunStep]) -> list[tuple[RunStep, int]]:
    """Each step with its share of the run's longest step, in percent (the bar the page draws for it)."""
    longest = max((s.duration_ms or 0 for s in steps), default=0) or 1
    return [(s, max(1, round(100 * (s.duration_ms or 0) / longest))) for s in steps]


class RunPagesController(Controller):
    path = "/app/t/{tenant_id:str}/runs"
    include_in_schema = False

    @get("/", sync_to_thread=True, opt={"action": "list_runs"})
    def runs(
        self,
        request: Request[Any, Any, Any],
        runs: NamedDependency[RunQueries],
        tenant_id: FromPath[str],
        status: Annotated[str, QueryParameter(max_length=40)] = "",
        before: Annotated[int | None, QueryParameter(ge=0)] = None,
    ) -> Template:
        """The tenant's runs, newest first, a page at a time."""
        found = runs.page(tenant_in_path(tenant_id), status or None, before, RUNS_PAGE)
        return page("runs.html", request, runs=found.runs, next_before=found.next_before, status=status)

    @get("/{run_id:str}", sync_to_thread=True, opt={"action": "read_run"})
    def run(
        self,
        request: Request[Any, Any, Any],
        runs: NamedDependency[RunQueries],
        tenant_id: FromPath[str],
        run_id: FromPath[str],
    ) -> Template:
        """One run: its steps with durations, rows in and out, rejects and errors."""
        found = runs.run(tenant_in_path(tenant_id), str(id_in_path(run_id, "run")))
        if found is None:
            raise NotFoundError(f"no such run: {run_id}")
        return page("run.html", request, run=found, steps=timeline(found.steps))
