"""`platform audit trace PRODUCT VERSION --tenant T`: the chain from a published product version back to its raw
bytes and the contract approval, printed for a person (or as JSON), after bringing the read models up to date.

Exit status 0 when every obligation holds for the version, 1 when one is violated or still pending; an unknown
product version is an error the CLI reports (status 2).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TextIO

from adapters.lineage.trace import format_trace, trace
from domain.lineage import ObligationStatus
from interfaces.bootstrap import bootstrap
from interfaces.settings import Settings


def run_trace(
    settings: Settings,
    tenant_id: str,
    product: str,
    version: int,
    verify: bool = False,
    as_json: bool = False,
    out: TextIO | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Prints the trace; with ``verify`` every raw batch is hashed again against the dataset store."""
    platform = bootstrap(settings)
    try:
        platform.worker.catch_up(progress=progress)
        with platform.read_models.engine.connect() as connection:
            found = trace(connection, tenant_id, product, version, platform.datasets if verify else None)
    finally:
        platform.close()
    if as_json:
        print(json.dumps(found, indent=2, sort_keys=True), file=out)
    else:
        print("\n".join(format_trace(found)), file=out)
    return 0 if all(r["status"] == ObligationStatus.SATISFIED for r in found["obligations"]) else 1
