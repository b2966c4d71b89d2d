"""An action template: a reusable action (http, webhook, nats, email) in numbered versions, naming secrets only."""

from __future__ import annotations

from typing import Any, TypedDict
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.action_rules import Parameter
from domain.actions import ACTIONS_NAMESPACE
from domain.aggregate import Aggregate
from domain.errors import ConflictError, InvalidValueError
from domain.values import TenantId


class Spec(TypedDict):
    parameters: list[Parameter]
    body: str
    connector: dict[str, Any]


def template_id_for(tenant_id: TenantId, name: str) -> UUID:
    return uuid5(ACTIONS_NAMESPACE, f"template|{tenant_id}|{name}")


class ActionTemplate(Aggregate):
    """A reusable action, in versions numbered from 1; runs name the version they use."""

    class Defined(Aggregate.Created):
        tenant_id: TenantId
        name: str
        kind: str
        spec: Spec

    class Revised(Aggregate.Event):
        version: int
        spec: Spec

    @classmethod
    def define(cls, tenant_id: TenantId, name: str, kind: str, spec: Spec) -> ActionTemplate:
        return cls._create(
            cls.Defined, id=template_id_for(tenant_id, name), tenant_id=tenant_id, name=name, kind=kind, spec=spec
        )

    def __init__(self, tenant_id: TenantId, name: str, kind: str, spec: Spec) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.kind = kind
        self.versions: dict[int, Spec] = {1: spec}

    @property
    def latest(self) -> int:
        return max(self.versions)

    def revise(self, spec: Spec) -> None:
        """A new version; earlier ones stay as they were, for the playbooks that name them."""
        if spec == self.versions[self.latest]:
            raise ConflictError(f"version {self.latest} of template {self.name} is the same")
        self._revised(self.latest + 1, spec)

    @event(Revised)
    def _revised(self, version: int, spec: Spec) -> None:
        self.versions[version] = spec

    def spec_of(self, number: int) -> Spec:
        if number not in self.versions:
            raise InvalidValueError(f"template {self.name} has no version {number}")
        return self.versions[number]
