"""Policy service: drafting, activating and retiring the platform's and the tenants' Cedar policies.

Cedar text is judged by a ``PolicyChecker`` (the policy engine's adapter: Cedar's validation against the
platform schema, plus each statement's effect and scope) and then by the rules of ``domain.policy``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from application.commands import CommandContext, CommandResult, CommandRunner, replay
from domain.errors import ConflictError
from domain.policy import InvalidPolicyError, Policy, PolicyAnalysis, check_name, check_text, policy_id_for, problems_of
from domain.values import TenantId


class PolicyChecker(Protocol):
    """Reads Cedar text: validation against the platform's schema, and the statements it holds."""

    def analyse(self, cedar: str) -> PolicyAnalysis: ...


class _PolicyExistsError(ConflictError):
    """The policy's stream has begun: the draft becomes its next version."""


@dataclass(frozen=True)
class PolicyWritten(CommandResult):
    """A policy command's result: the event position, the policy's name and the version concerned."""

    name: str = ""
    version: int = 0


def _tenant_of(policy: Policy) -> str | None:
    return policy.tenant_id


class PolicyService:
    """Commands on policy documents; ``tenant_id`` None means the platform's own policies."""

    def __init__(self, runner: CommandRunner, checker: PolicyChecker) -> None:
        self.runner = runner
        self.checker = checker

    def current_policy(self, tenant_id: TenantId | None, name: str) -> Policy | None:
        """The policy as its events say now."""
        found: Policy | None = replay(self.runner.store.read_stream(policy_id_for(tenant_id, check_name(name))))
        return found

    def policy_with_id(self, policy_id: UUID) -> Policy | None:
        """The policy with this id as its events say now (None when the id names no policy)."""
        found = replay(self.runner.store.read_stream(policy_id))
        return found if isinstance(found, Policy) else None

    def judge_policy(self, tenant_id: TenantId | None, cedar: str) -> None:
        """Raises InvalidPolicyError with every reason the text cannot be a policy of this tenant (or platform)."""
        problems = problems_of(tenant_id, self.checker.analyse(check_text(cedar)))
        if problems:
            raise InvalidPolicyError(problems)

    def draft_policy(
        self, context: CommandContext, tenant_id: TenantId | None, name: str, cedar: str, description: str = ""
    ) -> PolicyWritten:
        """Drafts the text as the policy's next version (the policy is created with its first draft).

        Text identical to a drafted version records nothing and answers that version.
        """
        analysis = self.checker.analyse(check_text(cedar))
        versions: list[int] = []

        def draft(policy: Policy) -> None:
            versions.append(policy.draft(cedar, description, analysis))

        return self._written(self._open_or_update(context, tenant_id, name, draft), name, versions)

    def activate_policy(
        self, context: CommandContext, tenant_id: TenantId | None, name: str, version: int | None = None
    ) -> PolicyWritten:
        """Makes a drafted version (None: the latest) the policy's active one."""
        versions: list[int] = []

        def activate(policy: Policy) -> None:
            versions.append(policy.activate(version, self.checker.analyse(policy.text(version))))

        return self._update(context, "activate_policy", tenant_id, name, activate, versions)

    def retire_policy(
        self, context: CommandContext, tenant_id: TenantId | None, name: str, reason: str
    ) -> PolicyWritten:
        """Switches an active policy off."""
        versions: list[int] = []

        def retire(policy: Policy) -> None:
            versions.append(policy.retire(reason))

        return self._update(context, "retire_policy", tenant_id, name, retire, versions)

    def _update(
        self,
        context: CommandContext,
        command: str,
        tenant_id: TenantId | None,
        name: str,
        change: Callable[[Policy], None],
        versions: list[int],
    ) -> PolicyWritten:
        stream_id = policy_id_for(tenant_id, check_name(name))
        return self._written(self.runner.update(context, command, stream_id, change, _tenant_of), name, versions)

    def _open_or_update(
        self, context: CommandContext, tenant_id: TenantId | None, name: str, change: Callable[[Policy], None]
    ) -> CommandResult:
        def make() -> Policy:
            opened = Policy.open(tenant_id, name)
            change(opened)
            return opened

        stream_id = policy_id_for(tenant_id, check_name(name))
        try:
            return self.runner.create(
                context, "draft_policy", stream_id, make=make, tenant_of=_tenant_of, exists=_PolicyExistsError
            )
        except _PolicyExistsError:
            return self.runner.update(context, "draft_policy", stream_id, change, _tenant_of)

    def _written(self, result: CommandResult, name: str, versions: list[int]) -> PolicyWritten:
        """The result with its version: from the decision, or from the stored event when the command was replayed."""
        if not versions:
            stored = [r for r in self.runner.store.read_stream(result.aggregate_id) if r.position == result.position]
            versions = [int(getattr(stored[0].event, "version", 0))] if stored else [0]
        return PolicyWritten(result.aggregate_id, result.position, result.replayed, name, versions[-1])
