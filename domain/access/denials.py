"""Denials: refused attempts, recorded so the audit trail shows attempts and not only successes."""

from __future__ import annotations

from uuid import UUID, uuid5

from domain.access.principals import ACCESS_NAMESPACE
from domain.aggregate import Aggregate


def denial_id_for(command_id: str, action: str, resource: str) -> UUID:
    """The denial of one action on one resource by one command: recorded once however often it is refused."""
    return uuid5(ACCESS_NAMESPACE, f"denial|{command_id}|{action}|{resource}")


class Denial(Aggregate):
    """A refused attempt, kept so the audit trail shows attempts and not only successes."""

    class Recorded(Aggregate.Created):
        principal_id: str | None
        action: str
        resource: str
        reasons: list[str]

    @classmethod
    def record(
        cls, denial_id: UUID, principal_id: str | None, action: str, resource: str, reasons: list[str]
    ) -> Denial:
        return cls._create(
            cls.Recorded, id=denial_id, principal_id=principal_id, action=action, resource=resource, reasons=reasons
        )

    def __init__(self, principal_id: str | None, action: str, resource: str, reasons: list[str]) -> None:
        self.principal_id = principal_id
        self.action = action
        self.resource = resource
        self.reasons = reasons
