"""Tenant Management: onboarding, entitlements, suspension, reinstatement and offboarding."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import ConflictError, InvalidValueError
from domain.values import TenantStatus

TENANT_NAMESPACE = UUID("6f1d2c7e-5b8a-4c1e-9a55-0c3e2f7b9d10")
PLANS = ("trial", "standard", "enterprise")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
MAX_DISPLAY_NAME = 200
MAX_REASON = 1000
MAX_QUOTA = 2**53 - 1
"""The largest quota: every JSON reader holds it exactly (IEEE 754 doubles are exact up to 2^53 - 1)."""


class TenantNotActiveError(ConflictError):
    """The tenant is suspended or offboarded, so this command is not allowed."""


def tenant_id_for(slug: str) -> UUID:
    """A slug names one tenant forever: the tenant's id is derived from it, so a slug is never reused."""
    return uuid5(TENANT_NAMESPACE, slug)


def check_slug(slug: str) -> str:
    if not SLUG.fullmatch(slug):
        msg = "slug must be 1-63 lowercase letters, digits or inner hyphens"
        raise InvalidValueError(msg)
    return slug


def _check_display_name(display_name: str) -> str:
    cleaned = display_name.strip()
    if not cleaned or len(cleaned) > MAX_DISPLAY_NAME:
        msg = f"display name must be 1-{MAX_DISPLAY_NAME} characters"
        raise InvalidValueError(msg)
    return cleaned


def _check_reason(reason: str) -> str:
    cleaned = reason.strip()
    if not cleaned or len(cleaned) > MAX_REASON:
        msg = f"a reason is 1-{MAX_REASON} characters"
        raise InvalidValueError(msg)
    return cleaned


def _check_plan(plan: str) -> str:
    if plan not in PLANS:
        msg = f"plan must be one of {', '.join(PLANS)}"
        raise InvalidValueError(msg)
    return plan


def _check_entitlements(features: list[str], quotas: dict[str, int]) -> tuple[list[str], dict[str, int]]:
    for name in [*features, *quotas]:
        if not NAME.fullmatch(name):
            msg = f"entitlement name {name!r} must be lowercase letters, digits, '_', '.' or '-'"
            raise InvalidValueError(msg)
    for name, limit in quotas.items():
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_QUOTA:
            msg = f"quota {name!r} must be a whole number from 0 to {MAX_QUOTA}"
            raise InvalidValueError(msg, field=f"/quotas/{name}")
    return sorted(set(features)), dict(sorted(quotas.items()))


class Tenant(Aggregate):
    """A customer organisation whose data the platform governs."""

    class Onboarded(Aggregate.Created):
        slug: str
        display_name: str
        plan: str

    class EntitlementsChanged(Aggregate.Event):
        features: list[str]
        quotas: dict[str, int]

    class Suspended(Aggregate.Event):
        reason: str

    class Reinstated(Aggregate.Event):
        pass

    class Offboarded(Aggregate.Event):
        class_version = 2
        reason: str
        erase: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Offboardings recorded before erasure existed erased nothing."""
            state["erase"] = False

    class DataErased(Aggregate.Event):
        """The erasure of an offboarded tenant was carried out: its data key destroyed (crypto-shredding) and its
        dataset files deleted. It holds no key material, only what was done."""

        data_key_destroyed: bool
        files_deleted: int

    @staticmethod
    def create_id(slug: str, display_name: str, plan: str) -> UUID:
        return tenant_id_for(slug)

    @classmethod
    def onboard(cls, slug: str, display_name: str, plan: str) -> Tenant:
        return cls(slug=check_slug(slug), display_name=_check_display_name(display_name), plan=_check_plan(plan))

    @event(Onboarded)
    def __init__(self, slug: str, display_name: str, plan: str) -> None:
        self.slug = slug
        self.display_name = display_name
        self.plan = plan
        self.status = TenantStatus.ACTIVE
        self.features: list[str] = []
        self.quotas: dict[str, int] = {}
        self.erased = False
        self.data_erased = False

    def change_entitlements(self, features: list[str], quotas: dict[str, Any]) -> None:
        self._require(TenantStatus.ACTIVE)
        self._entitlements_changed(*_check_entitlements(features, quotas))

    @event(EntitlementsChanged)
    def _entitlements_changed(self, features: list[str], quotas: dict[str, int]) -> None:
        self.features = features
        self.quotas = quotas

    def suspend(self, reason: str) -> None:
        self._require(TenantStatus.ACTIVE)
        self._suspended(_check_reason(reason))

    @event(Suspended)
    def _suspended(self, reason: str) -> None:
        self.status = TenantStatus.SUSPENDED

    def reinstate(self) -> None:
        self._require(TenantStatus.SUSPENDED)
        self._reinstated()

    @event(Reinstated)
    def _reinstated(self) -> None:
        self.status = TenantStatus.ACTIVE

    def offboard(self, reason: str, erase: bool = False) -> None:
        """Offboarding is final; only an active tenant can be offboarded (suspended ones are reinstated first).

        With ``erase`` the tenant's personal data and secrets are to be erased for good (crypto-shredding).
        """
        self._require(TenantStatus.ACTIVE)
        self._offboarded(_check_reason(reason), erase)

    @event(Offboarded)
    def _offboarded(self, reason: str, erase: bool) -> None:
        self.status = TenantStatus.OFFBOARDED
        self.erased = erase

    def record_data_erased(self, files_deleted: int) -> None:
        """Records that the erasure asked at offboarding was done; once only (a retried erasure records nothing)."""
        if self.status != TenantStatus.OFFBOARDED or not self.erased:
            msg = f"tenant {self.slug} was not offboarded with erasure"
            raise TenantNotActiveError(msg)
        if not self.data_erased:
            self._data_erased(True, files_deleted)

    @event(DataErased)
    def _data_erased(self, data_key_destroyed: bool, files_deleted: int) -> None:
        self.data_erased = True

    def _require(self, status: TenantStatus) -> None:
        if self.status != status:
            msg = f"tenant {self.slug} is {self.status}; this needs it {status}"
            raise TenantNotActiveError(msg)
