"""The command runner, counted: every command's outcome and duration, by the command's name."""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

from adapters.telemetry.metrics import Metrics
from application.commands import A, Clock, CommandContext, CommandResult, CommandRunner
from domain.errors import DomainError
from eventstore.port import ConcurrencyError, EventStore


class MeteredCommandRunner(CommandRunner):
    """A CommandRunner that counts each command by outcome (ok, replayed, rejected, conflict, error) and times it."""

    def __init__(self, store: EventStore, clock: Clock, metrics: Metrics) -> None:
        super().__init__(store, clock)
        self.metrics = metrics

    def create(
        self,
        context: CommandContext,
        name: str,
        stream_id: UUID,
        *,
        make: Callable[[], A],
        tenant_of: Callable[[A], str | None],
        exists: Callable[[], DomainError],
    ) -> CommandResult:
        create = super().create
        return self._counted(
            name, lambda: create(context, name, stream_id, make=make, tenant_of=tenant_of, exists=exists)
        )

    def update(
        self,
        context: CommandContext,
        name: str,
        stream_id: UUID,
        change: Callable[[A], None],
        tenant_of: Callable[[A], str | None],
        noun: str | None = None,
        aggregate: type[A] | None = None,
    ) -> CommandResult:
        update = super().update
        return self._counted(name, lambda: update(context, name, stream_id, change, tenant_of, noun, aggregate))

    def _counted(self, name: str, run: Callable[[], CommandResult]) -> CommandResult:
        started = time.perf_counter()
        outcome = "error"
        try:
            result = run()
            outcome = "replayed" if result.replayed else "ok"
            return result
        except ConcurrencyError:
            outcome = "conflict"
            raise
        except DomainError:
            outcome = "rejected"
            raise
        finally:
            self.metrics.commands.labels(name, outcome).inc()
            self.metrics.command_duration.labels(name).observe(time.perf_counter() - started)
