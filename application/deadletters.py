"""Dead letters: recording failed work once, and operators' retry and discard.

A retry hands the work back to its source (``retry_handlers``: the pipeline revives the run's step, so the
orchestrator picks it up again) before the dead letter says so; both are recorded under command ids derived from
the operator's command, so a repeated retry does the work once. A handler that returns True did the work at once
(a parked event re-applied to its read model): the dead letter is then resolved in the same command. A discard is
told to its source first too (``discard_handlers``: a parked event stays unapplied, knowingly).
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from application.commands import CommandContext, CommandResult, CommandRunner, replay
from domain.deadletters import DeadLetter
from domain.errors import ConflictError, NotFoundError
from domain.values import TenantId

RetryHandler = Callable[[CommandContext, DeadLetter], object]
"""Hands the work back to its source; returning True means the work is done already."""
DiscardHandler = Callable[[DeadLetter], object]


def _tenant_of(letter: DeadLetter) -> str | None:
    return letter.tenant_id


class _ExistsError(ConflictError):
    pass


class DeadLetterService:
    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner
        self.retry_handlers: dict[str, RetryHandler] = {}
        self.discard_handlers: dict[str, DiscardHandler] = {}

    def record(
        self,
        context: CommandContext,
        tenant_id: TenantId | None,
        source: str,
        subject: str,
        step: str,
        error: str,
        attempts: int,
        cause: tuple[str, str] | None = None,
    ) -> CommandResult:
        """Records failed work as a dead letter, or reopens the one it already has."""
        cause_id, cause_type = cause if cause else (None, None)
        # Made first so its id is derived once, by the aggregate (a create never makes it twice: see PipelineService).
        letter = DeadLetter.record(tenant_id, source, subject, step, error, attempts, cause_id, cause_type)
        try:
            return self.runner.create(
                context,
                "record_dead_letter",
                letter.id,
                make=lambda: letter,
                tenant_of=_tenant_of,
                exists=lambda: _ExistsError("exists"),
            )
        except _ExistsError:
            return self.runner.update(
                context, "reopen_dead_letter", letter.id, lambda d: d.reopen(error, attempts), _tenant_of
            )

    def get(self, letter_id: UUID) -> DeadLetter:
        found: DeadLetter | None = replay(self.runner.store.read_stream(letter_id))
        if found is None:
            raise NotFoundError(f"no such dead letter: {letter_id}")
        return found

    def retry(self, context: CommandContext, letter_id: UUID) -> CommandResult:
        history = self.runner.store.read_stream(letter_id)
        if any(r.metadata.command_id == context.command_id for r in history):  # a repeat answers as the first
            return self.runner.update(context, "retry_dead_letter", letter_id, lambda d: None, _tenant_of)
        letter = self.get(letter_id)
        letter.retry(context.actor)  # on a copy: refuses a closed one before the source is touched
        handler = self.retry_handlers.get(letter.source)
        if handler is None:
            raise ConflictError(f"dead letters from {letter.source} cannot be retried here")
        follow_up = CommandContext(
            context.actor, f"{context.command_id}|retry-source", context.correlation_id, context.command_id
        )
        done = handler(follow_up, letter) is True

        def retry(letter: DeadLetter) -> None:
            letter.retry(context.actor)
            if done:
                letter.resolve(context.actor)

        return self.runner.update(context, "retry_dead_letter", letter_id, retry, _tenant_of)

    def discard(self, context: CommandContext, letter_id: UUID, reason: str) -> CommandResult:
        history = self.runner.store.read_stream(letter_id)
        if not any(r.metadata.command_id == context.command_id for r in history):
            letter = self.get(letter_id)
            letter.discard(context.actor, reason)  # on a copy: refuses a closed one before the source is told
            handler = self.discard_handlers.get(letter.source)
            if handler is not None:
                handler(letter)
        return self.runner.update(
            context, "discard_dead_letter", letter_id, lambda d: d.discard(context.actor, reason), _tenant_of
        )
