"""The platform's background parts as processes of their own: projections, consumers, relay, orchestrator,
scheduler and webhook dispatch (whose group also recovers an endpoint's failed deliveries)."""

from __future__ import annotations

import argparse

from interfaces.cli.common import (
    CliError,
    Command,
    api_arguments,
    api_client,
    progress_printer,
    run_worker,
    stop_on_signals,
)
from interfaces.cli.serve import sweep_staging
from interfaces.settings import Settings


def projections(settings: Settings, args: argparse.Namespace) -> int:
    return run_worker(
        settings,
        lambda p: f"projecting {', '.join(p.read_models.projections)} from {settings.event_store}",
        lambda p: p.worker.start(),
        lambda p: p.ledger.start(),
    )


def consumers(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.telemetry import configure_tracing
    from interfaces.consumers import run_consumers

    configure_tracing("platform-consumers")
    sweep_staging(settings)
    run_consumers(settings)
    return 0


def relay(settings: Settings, args: argparse.Namespace) -> int:
    from interfaces.relay import run_relay

    run_relay(settings, stop_on_signals(), progress_printer("relayed"))
    return 0


def orchestrator(settings: Settings, args: argparse.Namespace) -> int:
    return run_worker(
        settings,
        lambda p: f"orchestrating pipeline runs and exports from {settings.event_store}",
        lambda p: sweep_staging(settings),
        lambda p: p.orchestrator.start(),
    )


def scheduler(settings: Settings, args: argparse.Namespace) -> int:
    return run_worker(
        settings,
        lambda p: f"firing scheduled jobs from {settings.event_store} as {p.scheduler.owner}",
        lambda p: p.scheduler.start(),
    )


def webhooks(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "dispatch":
        return run_worker(
            settings,
            lambda p: f"delivering webhooks from {settings.event_store}",
            lambda p: p.webhook_dispatcher.start(),
        )
    from interfaces.client import ApiError

    if not (args.endpoint and args.tenant and args.since):
        raise CliError("webhooks recover needs ENDPOINT_ID, --tenant and --since")
    path = f"/v1/tenants/{args.tenant}/webhooks/{args.endpoint}/recover"
    try:
        accepted = api_client(settings, args).post(path, {"since": args.since})
    except ApiError as error:
        raise CliError(str(error)) from None
    print(f"{args.endpoint}: deliveries failed since {args.since} will be made again (position {accepted['position']})")
    return 0


def webhooks_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("action", choices=("dispatch", "recover"))
    command.add_argument("endpoint", nargs="?", metavar="ENDPOINT_ID", help="recover: the endpoint")
    command.add_argument("--tenant", metavar="TENANT_ID", help="recover: the endpoint's tenant")
    command.add_argument("--since", help="recover: failed at or after this time (ISO 8601 with offset)")
    api_arguments(command)


PROJECTIONS = Command(projections, "keep the read models up to date from the event log, as a process of its own")
CONSUMERS = Command(consumers, "run the NATS consumers (read models fed from JetStream)")
RELAY = Command(relay, "publish the event log to NATS JetStream as CloudEvents")
ORCHESTRATOR = Command(
    orchestrator,
    "drive pipeline runs and exports as a process of its own (with PLATFORM_ORCHESTRATOR=off on servers)",
)
SCHEDULER = Command(
    scheduler,
    "fire scheduled jobs as a process of its own (with PLATFORM_SCHEDULER=off on servers; several may run)",
)
WEBHOOKS = Command(
    webhooks,
    "deliver webhooks as a process of its own (dispatch, with PLATFORM_WEBHOOK_DISPATCHER=off on servers), or "
    "recover an endpoint's failed deliveries",
    webhooks_arguments,
)
