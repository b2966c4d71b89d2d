"""Principals: a person's or a service's membership of a tenant (or of the platform), and its roles."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import ConflictError, InvalidValueError
from domain.values import TenantId

ACCESS_NAMESPACE = UUID("0b7f5a8e-2c44-4f0e-8d0a-5f3b1c9e7a21")
PLATFORM_ADMIN = "platform-admin"
TENANT_ROLES = ("tenant-admin", "data-steward", "data-engineer", "analyst", "service")
ROLES = (PLATFORM_ADMIN, *TENANT_ROLES)
KINDS = ("person", "service")


MEMBERSHIP_NAMESPACE = uuid5(ACCESS_NAMESPACE, "membership")


def principal_id_for(issuer: str, subject: str, tenant_id: TenantId | None) -> UUID:
    """The principal of an identity (issuer, subject) in one tenant, or at platform level when ``tenant_id`` is None.

    A person is one identity with a principal (a membership) per tenant: ids differ per tenant, so registering a
    person in one tenant never depends on, nor collides with, their membership of another. Principals registered
    before memberships were per tenant keep their id, the platform-level form (see ``AccessService``).
    """
    if tenant_id is None:
        return uuid5(ACCESS_NAMESPACE, f"{issuer}|{subject}")
    return uuid5(MEMBERSHIP_NAMESPACE, f"{tenant_id}|{issuer}|{subject}")


class Principal(Aggregate):
    """A person's or a service's membership of one tenant (or of the platform, for platform admins).

    Its roles and display name belong to the membership; the same person in two tenants is two principals.
    """

    personal_fields = ("display_name",)

    class Registered(Aggregate.Created):
        encrypted_fields = ("subject", "display_name")
        kind: str
        issuer: str
        subject: str
        display_name: str
        tenant_id: TenantId | None

    class RoleGranted(Aggregate.Event):
        role: str
        roles: list[str]

    class RoleRevoked(Aggregate.Event):
        role: str
        roles: list[str]

    @staticmethod
    def create_id(kind: str, issuer: str, subject: str, display_name: str, tenant_id: TenantId | None) -> UUID:
        return principal_id_for(issuer, subject, tenant_id)

    @classmethod
    def register(cls, kind: str, issuer: str, subject: str, display_name: str, tenant_id: TenantId | None) -> Principal:
        if kind not in KINDS:
            msg = f"kind must be one of {', '.join(KINDS)}"
            raise InvalidValueError(msg)
        if not subject.strip() or len(subject) > 255 or not display_name.strip() or len(display_name) > 200:
            msg = "subject (1-255 characters) and display name (1-200 characters) are required"
            raise InvalidValueError(msg)
        return cls(kind=kind, issuer=issuer, subject=subject, display_name=display_name.strip(), tenant_id=tenant_id)

    @event(Registered)
    def __init__(self, kind: str, issuer: str, subject: str, display_name: str, tenant_id: TenantId | None) -> None:
        self.kind = kind
        self.issuer = issuer
        self.subject = subject
        self.display_name = display_name
        self.tenant_id = tenant_id
        self.roles: list[str] = []

    def grant(self, role: str) -> None:
        """Grants a role; platform-admin only to principals of no tenant, the others only within their tenant."""
        if role not in ROLES:
            msg = f"role must be one of {', '.join(ROLES)}"
            raise InvalidValueError(msg)
        if (role == PLATFORM_ADMIN) != (self.tenant_id is None):
            msg = "platform-admin is for principals of no tenant; every other role needs the principal's tenant"
            raise InvalidValueError(msg)
        if (role == "service") != (self.kind == "service"):
            msg = "the service role is for service principals, and service principals hold only that role"
            raise InvalidValueError(msg)
        if role in self.roles:
            return
        self._role_granted(role, sorted([*self.roles, role]))

    @event(RoleGranted)
    def _role_granted(self, role: str, roles: list[str]) -> None:
        self.roles = roles

    def revoke(self, role: str) -> None:
        if role not in self.roles:
            msg = f"the principal does not hold {role}"
            raise ConflictError(msg)
        self._role_revoked(role, [r for r in self.roles if r != role])

    @event(RoleRevoked)
    def _role_revoked(self, role: str, roles: list[str]) -> None:
        self.roles = roles
