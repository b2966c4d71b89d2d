"""Personal-data service: recording that a principal was served personal data unmasked, before it is served."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from uuid import UUID

from application.commands import CommandContext, CommandResult, CommandRunner
from domain.errors import ConflictError
from domain.personal_data import PersonalDataAccess, Purpose, ServedData
from domain.values import TenantId


class PersonalDataService:
    """Commands of the personal-data context."""

    def __init__(self, runner: CommandRunner, new_id: Callable[[], UUID] = uuid.uuid4) -> None:
        self.runner = runner
        self.new_id = new_id

    def record_access(
        self,
        context: CommandContext,
        tenant_id: TenantId,
        principal_kind: str,
        served: ServedData,
        why: Purpose,
    ) -> CommandResult:
        """Records, in the tenant's log, that ``context.actor`` is being served personal data unmasked.

        Each call is a new access (a fresh id, never the caller's idempotency key): a client that reuses a request
        id or key must not make a second reading disappear into the first one's record.
        """
        access_id = self.new_id()
        own = CommandContext(context.actor, f"personal-data-access|{access_id}", context.correlation_id)
        return self.runner.create(
            own,
            "record_personal_data_access",
            access_id,
            make=lambda: PersonalDataAccess.record(access_id, context.actor, principal_kind, served, why),
            tenant_of=lambda _: tenant_id,
            exists=lambda: ConflictError(f"personal-data access {access_id} is already recorded"),
        )
