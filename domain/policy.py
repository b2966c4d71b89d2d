"""Policy Engine: versioned Cedar policy documents of the platform and of each tenant.

A policy is named (per tenant, or for the platform) and holds numbered versions of Cedar text. A version is
drafted (it must validate against the platform's Cedar schema), then activated; at most one version of a
policy is active, and activating another replaces it; retiring switches the policy off. Each step is an event
and the Cedar text is stored in the event, so a version is at most 64 KiB.

Tenants narrow, never widen: every statement of a tenant policy must be a ``forbid`` whose scope is
``resource == Tenant::"<the tenant's id>"``. A forbid cannot grant anything, and the scope keeps it off other
tenants and the platform. The engine also applies a tenant's statements only to that tenant's own principals,
so a tenant cannot lock out the platform's administrators. Platform policies may permit or forbid anything.

The domain cannot read Cedar: an adapter analyses the text into a ``PolicyAnalysis`` (Cedar's validation
errors, and each statement's effect and resource scope), and these rules judge that analysis.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import ConflictError, InvalidValueError, NotFoundError
from domain.values import PolicyStatus, TenantId

POLICY_NAMESPACE = UUID("7eecc584-3642-4ded-ac40-7ee33c35a67c")
MAX_POLICY_BYTES = 64 * 1024
MAX_DESCRIPTION = 1000
NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


class InvalidPolicyError(InvalidValueError):
    """The Cedar text is not an acceptable policy; ``reasons`` names every problem (Cedar's errors included)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class Statement:
    """One Cedar statement: its effect, and the entity its scope pins the resource to (``==``), if any."""

    effect: str
    resource_type: str | None = None
    resource_id: str | None = None


@dataclass(frozen=True)
class PolicyAnalysis:
    """What an adapter read from Cedar text: validation errors, the statements, how many templates."""

    errors: tuple[str, ...]
    statements: tuple[Statement, ...]
    templates: int = 0


def policy_id_for(tenant_id: TenantId | None, name: str) -> UUID:
    return uuid5(POLICY_NAMESPACE, f"{tenant_id or 'platform'}|{name}")


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        msg = "a policy name is 1-64 lowercase letters, digits or inner hyphens"
        raise InvalidValueError(msg)
    return name


def check_text(cedar: str) -> str:
    """Refuses blank text and text over 64 KiB before anything parses it."""
    size = len(cedar.encode())
    if not cedar.strip() or size > MAX_POLICY_BYTES:
        msg = f"a policy is 1 to {MAX_POLICY_BYTES} bytes of Cedar text; this one is {size}"
        raise InvalidPolicyError([msg])
    return cedar


def problems_of(tenant_id: TenantId | None, analysis: PolicyAnalysis) -> list[str]:
    """Every reason the analysed text cannot be a policy of this tenant (None: of the platform)."""
    problems = list(analysis.errors)
    if analysis.templates:
        problems.append("templates (?principal, ?resource) are not accepted; write static statements")
    if not analysis.statements and not analysis.errors:
        problems.append("the text holds no Cedar statement")
    if tenant_id is not None:
        problems += [_tenant_problem(tenant_id, i, s) for i, s in enumerate(analysis.statements)]
    return [p for p in problems if p]


def _tenant_problem(tenant_id: TenantId, index: int, statement: Statement) -> str:
    scoped = statement.resource_type == "Tenant" and statement.resource_id == tenant_id
    if statement.effect == "forbid" and scoped:
        return ""
    return (
        f'statement {index} must be a forbid scoped to resource == Tenant::"{tenant_id}": '
        "tenant policies can narrow what the platform permits on their own tenant, never widen it"
    )


def digest(cedar: str) -> str:
    return hashlib.sha256(cedar.encode()).hexdigest()


class Policy(Aggregate):
    """A named Cedar policy of the platform (tenant_id None) or of one tenant, in numbered versions."""

    class Created(Aggregate.Created):
        tenant_id: TenantId | None
        name: str

    class Drafted(Aggregate.Event):
        version: int
        cedar: str
        sha256: str
        description: str

    class Activated(Aggregate.Event):
        version: int

    class Retired(Aggregate.Event):
        version: int
        reason: str

    @staticmethod
    def create_id(tenant_id: TenantId | None, name: str) -> UUID:
        return policy_id_for(tenant_id, name)

    @classmethod
    def open(cls, tenant_id: TenantId | None, name: str) -> Policy:
        return cls(tenant_id=tenant_id, name=check_name(name))

    @event(Created)
    def __init__(self, tenant_id: TenantId | None, name: str) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.status = PolicyStatus.DRAFT
        self.active_version: int | None = None
        self.texts: list[str] = []
        self.digests: list[str] = []

    def draft(self, cedar: str, description: str, analysis: PolicyAnalysis) -> int:
        """Adds the text as the next version, or answers the version it is identical to."""
        sha256 = digest(check_text(cedar))
        existing = [n for n, d in enumerate(self.digests, start=1) if d == sha256]
        if existing:
            return existing[0]
        problems = problems_of(self.tenant_id, analysis)
        if len(description) > MAX_DESCRIPTION:
            problems.append(f"a description is at most {MAX_DESCRIPTION} characters")
        if problems:
            raise InvalidPolicyError(problems)
        self._drafted(len(self.texts) + 1, cedar, sha256, description.strip())
        return len(self.texts)

    @event(Drafted)
    def _drafted(self, version: int, cedar: str, sha256: str, description: str) -> None:
        self.texts.append(cedar)
        self.digests.append(sha256)

    def text(self, version: int | None = None) -> str:
        """The Cedar text of a version (None: the latest)."""
        number = version if version is not None else len(self.texts)
        if not 1 <= number <= len(self.texts):
            msg = f"policy {self.name} has no version {number}"
            raise NotFoundError(msg)
        return self.texts[number - 1]

    def activate(self, version: int | None, analysis: PolicyAnalysis) -> int:
        """Makes a version (None: the latest) the active one; it is judged again, as the schema may have moved."""
        number = version if version is not None else len(self.texts)
        self.text(number)
        if self.status == PolicyStatus.ACTIVE and self.active_version == number:
            msg = f"version {number} of policy {self.name} is already active"
            raise ConflictError(msg)
        problems = problems_of(self.tenant_id, analysis)
        if problems:
            raise InvalidPolicyError(problems)
        self._activated(number)
        return number

    @event(Activated)
    def _activated(self, version: int) -> None:
        self.status = PolicyStatus.ACTIVE
        self.active_version = version

    def retire(self, reason: str) -> int:
        if self.status != PolicyStatus.ACTIVE or self.active_version is None:
            msg = f"policy {self.name} is {self.status}; only an active policy can be retired"
            raise ConflictError(msg)
        version = self.active_version
        self._retired(version, reason.strip())
        return version

    @event(Retired)
    def _retired(self, version: int, reason: str) -> None:
        self.status = PolicyStatus.RETIRED
        self.active_version = None
