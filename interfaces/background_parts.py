"""The background parts the composition root (``interfaces/bootstrap.py``) builds, each from its settings group:
webhooks and their dispatcher, actions and their engine, the orchestrator, the evidence ledger and the scheduler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from adapters.actions.email import SmtpActionSender
from adapters.actions.http import HttpActionSender, WebhookActionSender
from adapters.actions.nats import NatsActionSender
from adapters.actions.rendering import JinjaRenderer
from adapters.actions.senders import SendersByKind
from adapters.compute.steps import ComputeSteps
from adapters.delivery.events import webhook_event_types, webhook_payload
from adapters.delivery.guard import AddressGuard
from adapters.delivery.http import HttpSender
from adapters.delivery.signing import new_secret
from adapters.keys import EnvelopeCipher
from adapters.ledger import Ledger, open_ledger
from adapters.nats.cloudevents import event_type
from adapters.process_checkpoints import SqlCheckpoints
from adapters.readmodels import ReadModelStore
from application.action_engine import ActionEngine
from application.actions import ActionService
from application.authorization import Authorization
from application.commands import CommandRunner
from application.contracts import ContractService
from application.deadletters import DeadLetterService
from application.jobs import PlatformJobs
from application.orchestrator import Orchestrator
from application.pipeline import PipelineService
from application.scheduler import Scheduler
from application.schedules import SchedulerService
from application.secrets import SecretService
from application.webhook_dispatcher import WebhookDispatcher
from application.webhooks import WebhookService
from eventstore.port import EventStore
from interfaces.settings import Settings
from interfaces.settings.groups import NatsSettings, PipelineSettings, ProcessManagerSettings, WebhookSettings


def action_senders(webhooks: WebhookSettings, nats: NatsSettings, guard: AddressGuard) -> SendersByKind:
    timeout = webhooks.webhook_timeout
    return SendersByKind(
        {
            "http": HttpActionSender(guard, timeout=timeout),
            "webhook": WebhookActionSender(HttpSender(guard, timeout=timeout)),
            "email": SmtpActionSender(guard, timeout=timeout),
            "nats": NatsActionSender(guard, nats.nats_url),
        }
    )


@dataclass(frozen=True)
class Core:
    """What every process manager is built on: the log, its command runner, checkpoints, dead letters and clock."""

    store: EventStore
    runner: CommandRunner
    checkpoints: SqlCheckpoints
    dead_letters: DeadLetterService
    clock: Callable[[], datetime]


def webhooks_and_dispatcher(
    webhooks: WebhookSettings, core: Core, secrets: SecretService, guard: AddressGuard
) -> tuple[WebhookService, WebhookDispatcher]:
    service = WebhookService(core.runner, secrets, guard, webhook_event_types(), new_secret)
    dispatcher = WebhookDispatcher(
        core.store,
        service,
        HttpSender(guard, timeout=webhooks.webhook_timeout),
        webhook_payload,
        event_type,
        core.clock,
        webhooks.webhook_retry_schedule,
        dead_letters=core.dead_letters,
        shard=webhooks.webhook_shard,
        checkpoints=core.checkpoints,
    )
    core.dead_letters.retry_handlers["webhook"] = lambda context, letter: service.requeue_delivery(
        context, UUID(letter.subject), f"dead letter {letter.id}"
    )
    return service, dispatcher


def actions_and_engine(
    settings: Settings, core: Core, contracts: ContractService, secrets: SecretService, guard: AddressGuard
) -> tuple[ActionService, ActionEngine]:
    renderer = JinjaRenderer()
    service = ActionService(core.runner, contracts, renderer, guard)
    managers = settings.process_managers
    engine = ActionEngine(
        core.store,
        service,
        renderer,
        action_senders(settings.webhooks, settings.nats, guard),
        secrets,
        core.dead_letters,
        core.clock,
        attempts=managers.action_attempts,
        backoff=managers.action_backoff,
        checkpoints=core.checkpoints,
    )
    core.dead_letters.retry_handlers["action"] = lambda context, letter: service.revive_step(
        context, UUID(letter.subject), int(letter.step.removeprefix("step-"))
    )
    return service, engine


def orchestrator(
    pipeline_settings: PipelineSettings,
    core: Core,
    pipeline: PipelineService,
    compute: ComputeSteps,
    authorization: Authorization,
) -> Orchestrator:
    core.dead_letters.retry_handlers["pipeline"] = lambda context, letter: pipeline.revive(
        context, UUID(letter.subject), letter.step
    )
    return Orchestrator(
        core.store,
        pipeline,
        compute,
        core.dead_letters,
        core.clock,
        attempts=pipeline_settings.pipeline_attempts,
        backoff=pipeline_settings.pipeline_backoff,
        authorize_step=authorization.authorize_step,
        checkpoints=core.checkpoints,
    )


def ledger(settings: Settings, store: EventStore, read_models: ReadModelStore, cipher: EnvelopeCipher) -> Ledger:
    ledger = settings.ledger
    return open_ledger(
        store,
        read_models.engine,
        cipher.keys,
        ledger.ledger_origin,
        checkpoint_every=ledger.ledger_checkpoint_every,
        checkpoint_interval=ledger.ledger_checkpoint_interval,
        poll_interval=settings.stores.poll_interval,
    )


def scheduler(
    managers: ProcessManagerSettings, core: Core, schedules: SchedulerService, jobs: PlatformJobs
) -> Scheduler:
    return Scheduler(
        core.store,
        schedules,
        jobs,
        core.clock,
        interval=managers.scheduler_interval,
        stale_after=managers.scheduler_stale_after,
        checkpoints=core.checkpoints,
    )
