"""A refusal in words: which condition of the built-in policies was not met, for the problem detail a user reads.

A decision only names the policies that forbade it; the user needs the reason behind them (the tenant is
suspended, the tenant lacks the ``ingestion`` entitlement, the contract has no version in force), so they know
whether to ask for a role, a reinstatement or an approval.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.auth.cedar import Decision, Resource

INACTIVE_TENANTS = "inactive-tenants-are-read-only"
LANDING = "batches-land-only-under-an-active-contract-of-an-entitled-tenant"


def unmet_conditions(decision: Decision, resource: Resource, context: Mapping[str, Any] | None = None) -> list[str]:
    """The conditions of the built-in policies that forbade ``decision``, as sentences; empty when none did."""
    found: list[str] = []
    status = resource.attrs.get("status")
    if (INACTIVE_TENANTS in decision.policy_ids or LANDING in decision.policy_ids) and status != "active":
        found.append(_inactive(str(status)))
    if LANDING in decision.policy_ids:
        if "ingestion" not in resource.attrs.get("features", ()):
            found.append('the tenant does not hold the "ingestion" entitlement')
        if (context or {}).get("contract_status") != "active":
            found.append("the contract has no active version (none is approved and in force)")
    return found


def _inactive(status: str) -> str:
    if status == "suspended":
        return "the tenant is suspended, so it accepts no changes until it is reinstated"
    return f"the tenant is {status}, so it accepts no changes"


def refusal_reasons(decision: Decision) -> list[str]:
    """The reasons a denial event records: the policies that forbade it, else that none permitted it."""
    if decision.policy_ids:
        return [f"forbidden by {policy}" for policy in decision.policy_ids]
    return ["no policy permits it", *decision.errors]
