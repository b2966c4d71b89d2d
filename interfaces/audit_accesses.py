"""`platform audit accesses`: who was served a tenant's personal data unmasked, read from the event log itself.

It reads every event of the log (no read model involved), keeps the tenant's ``PersonalDataAccessRecorded`` events
that pass the filters, and prints one line each (or one JSON object per line), oldest first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TextIO
from uuid import UUID

from eventstore.port import EventStore
from projections.base import Upsert
from projections.personal_data import AccessFilter, evolve, matches, personal_data_accesses

ACCESS_TYPE = "PersonalDataAccessRecorded"
BATCH = 1000


def tenant_accesses(
    store: EventStore, tenant_id: str, progress: Callable[[int, int], None] | None = None
) -> Iterator[dict[str, Any]]:
    """The tenant's recorded accesses, as the read model's rows (with their access id), oldest first."""
    after, seen = 0, 0
    while batch := store.read_all(after, BATCH):
        for recorded in batch:
            if recorded.type == ACCESS_TYPE and recorded.tenant_id == tenant_id:
                for change in evolve(recorded):
                    if isinstance(change, Upsert) and change.table is personal_data_accesses:
                        yield {**change.key, **change.values}
        after, seen = batch[-1].position, seen + len(batch)
        if progress is not None:
            progress(seen, after)


def print_accesses(
    store: EventStore,
    tenant: str,
    wanted: AccessFilter,
    *,
    as_json: bool,
    out: TextIO,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Prints the accesses that pass the filter and a count; 0 always (no access is not an error)."""
    tenant_id = str(UUID(tenant))
    count = 0
    for row in tenant_accesses(store, tenant_id, progress):
        if not matches(row, wanted):
            continue
        count += 1
        if as_json:
            print(json.dumps(row, sort_keys=True), file=out)
        else:
            fields = ",".join(row["fields"])
            print(
                f"{row['accessed_at']} {row['principal_id']} ({row['principal_kind']}) {row['product']} "
                f"v{row['version']} {row['dataset']} fields={fields} rows={row['rows']} "
                f"{row['operation']} request={row['request_id']} position={row['position']}",
                file=out,
            )
    if not as_json:
        print(f"{count} personal-data accesses of tenant {tenant_id}", file=out)
    return 0
