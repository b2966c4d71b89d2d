"""A playbook: a KPI condition of a contract and the ordered steps to take when it holds."""

from __future__ import annotations

from typing import Any, TypedDict
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.action_rules import Condition
from domain.actions import ACTIONS_NAMESPACE
from domain.aggregate import Aggregate
from domain.errors import ConflictError, InvalidValueError
from domain.values import TenantId


class Step(TypedDict):
    template_id: str
    version: int
    params: dict[str, Any]
    requires_approval: bool


def playbook_id_for(tenant_id: TenantId, name: str) -> UUID:
    return uuid5(ACTIONS_NAMESPACE, f"playbook|{tenant_id}|{name}")


class Playbook(Aggregate):
    """A KPI condition and the steps to take when it holds; defined paused, then activated and paused at will."""

    class Defined(Aggregate.Created):
        tenant_id: TenantId
        name: str
        contract: str
        kpi: str
        condition: Condition
        dimensions: dict[str, str]
        cooldown: int
        steps: list[Step]

    class Activated(Aggregate.Event):
        by: str

    class Paused(Aggregate.Event):
        by: str

    @classmethod
    def define(
        cls,
        tenant_id: TenantId,
        name: str,
        target: tuple[str, str],
        condition: Condition,
        dimensions: dict[str, str],
        cooldown: int,
        steps: list[Step],
    ) -> Playbook:
        if not steps:
            raise InvalidValueError("a playbook has at least one step")
        if cooldown < 0:
            raise InvalidValueError("a cooldown is zero or more seconds")
        contract, kpi = target
        return cls._create(
            cls.Defined,
            id=playbook_id_for(tenant_id, name),
            tenant_id=tenant_id,
            name=name,
            contract=contract,
            kpi=kpi,
            condition=condition,
            dimensions=dimensions,
            cooldown=cooldown,
            steps=steps,
        )

    def __init__(
        self,
        tenant_id: TenantId,
        name: str,
        contract: str,
        kpi: str,
        condition: Condition,
        dimensions: dict[str, str],
        cooldown: int,
        steps: list[Step],
    ) -> None:
        self.tenant_id, self.name, self.contract, self.kpi = tenant_id, name, contract, kpi
        self.condition, self.dimensions, self.cooldown, self.steps = condition, dimensions, cooldown, steps
        self.active = False

    def activate(self, by: str) -> None:
        if self.active:
            raise ConflictError(f"playbook {self.name} is active already")
        self._activated(by)

    @event(Activated)
    def _activated(self, by: str) -> None:
        self.active = True

    def pause(self, by: str) -> None:
        if not self.active:
            raise ConflictError(f"playbook {self.name} is paused already")
        self._paused(by)

    @event(Paused)
    def _paused(self, by: str) -> None:
        self.active = False
