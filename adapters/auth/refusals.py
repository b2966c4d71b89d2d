"""A refusal in words: which condition of the built-in policies was not met, for the problem detail a user reads.

A decision only names the policies that forbade it; the user needs the reason behind them (the tenant is
suspended, the tenant lacks the ``ingestion`` entitlement, the contract has no version in force), so they know
whether to ask for a role, a reinstatement or an approval.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from application.authorization import Decision, Resource
from domain.values import ContractStatus, TenantStatus

INACTIVE_TENANTS = "inactive-tenants-are-read-only"
LANDING = "batches-land-only-under-an-active-contract-of-an-entitled-tenant"
STEPS = "pipeline-steps-run-only-for-an-active-tenant"


def unmet_conditions(decision: Decision, resource: Resource, context: Mapping[str, Any] | None = None) -> list[str]:
    """The conditions of the built-in policies that forbade ``decision``, as sentences; empty when none did."""
    found: list[str] = []
    forbidden_by = set(decision.policy_ids)
    status = resource.attrs.get("status")
    if forbidden_by & {INACTIVE_TENANTS, LANDING, STEPS} and status != TenantStatus.ACTIVE:
        found.append(_inactive(str(status)))
    entitled = "ingestion" in resource.attrs.get("features", ())
    if LANDING in forbidden_by and not entitled:
        found.append('the tenant does not hold the "ingestion" entitlement')
    if LANDING in forbidden_by and (context or {}).get("contract_status") != ContractStatus.ACTIVE:
        found.append("the contract has no active version (none is approved and in force)")
    return found


def _inactive(status: str) -> str:
    if status == TenantStatus.SUSPENDED:
        return "the tenant is suspended, so it accepts no changes until it is reinstated"
    return f"the tenant is {status}, so it accepts no changes"
