"""What can be known of a batch before it lands (``application.ingestion.BatchCheck``): its format by media type,
its header against the contract's object, and what it declares (rows, decoded size) against the bounds."""

from __future__ import annotations

from pathlib import Path

from adapters.compute.normalize import column_problems
from adapters.compute.steps import ComputeSteps
from adapters.datasets.formats import format_for, inspect
from application.pipeline import Target
from domain.errors import InvalidValueError


class ContractBatchCheck:
    """Checks a staged batch against the contract it is for and the bounds on the work of one batch: the compute
    steps' bounds, so what a file declares is held to the same bounds its normalize step counts against."""

    def __init__(self, compute: ComputeSteps) -> None:
        self.compute = compute

    def format_of(self, media_type: str | None) -> str:
        return format_for(media_type)

    def check(self, path: Path, size: int, fmt: str, target: Target) -> int | None:
        found = inspect(path, fmt)
        problems = column_problems(found.columns, target.object)
        if problems:
            raise InvalidValueError("; ".join(problems))
        self.compute.bounds.check_declared(found, size)
        return found.rows
