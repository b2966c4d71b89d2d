"""Read models: pure functions from events to row changes, and their tables."""

from __future__ import annotations

from projections import (
    access,
    actions,
    contracts,
    deadletters,
    exports,
    lineage,
    personal_data,
    policies,
    products,
    runs,
    schedules,
    schemas,
    secrets,
    tenant_directory,
    webhooks,
)
from projections.base import Projection

ALL: tuple[Projection, ...] = (
    tenant_directory.projection,
    access.projection,
    secrets.projection,
    contracts.projection,
    schemas.projection,
    policies.projection,
    runs.projection,
    products.projection,
    exports.projection,
    lineage.projection,
    deadletters.projection,
    webhooks.projection,
    actions.projection,
    schedules.projection,
    personal_data.projection,
)
"""Every read model the platform keeps, in the order they are rebuilt."""
