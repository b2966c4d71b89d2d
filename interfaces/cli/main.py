"""The `platform` command line: every group's commands in one parser, settings read once, errors as one line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import version as package_version

from domain.errors import DomainError
from interfaces.cli import actions, audit, dlq, ingest, keys, replay, serve, workers
from interfaces.cli.common import CliError, Command
from interfaces.input_rules import control_character
from interfaces.settings import Settings, SettingsError

log = logging.getLogger("platform")


def version(settings: Settings, args: argparse.Namespace) -> int:
    print(f"platform {package_version('governed-data-platform')} (event store: {settings.event_store})")
    return 0


COMMANDS: dict[str, Command] = {
    "serve": serve.SERVE,
    "projections": workers.PROJECTIONS,
    "consumers": workers.CONSUMERS,
    "relay": workers.RELAY,
    "replay": replay.REPLAY,
    "orchestrator": workers.ORCHESTRATOR,
    "scheduler": workers.SCHEDULER,
    "ingest": ingest.INGEST,
    "demo": ingest.DEMO,
    "webhooks": workers.WEBHOOKS,
    "actions": actions.ACTIONS,
    "dlq": dlq.DLQ,
    "token": keys.TOKEN,
    "keys": keys.KEYS,
    "audit": audit.AUDIT,
    "version": Command(version, "print the version"),
}
"""Every command, in the order `platform --help` lists them."""


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="platform", description="The governed data platform.")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        command.arguments(sub.add_parser(name, help=command.help, description=command.help))
    return root


def refused_argument(argv: Sequence[str]) -> str | None:
    """Why the command line is refused: an argument holding a control character (the HTTP API refuses them too)."""
    for number, argument in enumerate(argv, start=1):
        why = control_character(argument)
        if why is not None:
            return f"argument {number} ({argument!r}) {why}"
    return None


def settings_of(args: argparse.Namespace) -> Settings:
    """The settings from the environment, with the options of `serve` over them."""
    overrides = {name: getattr(args, name, None) for name in ("host", "port", "tls_cert", "tls_key", "tls_client_ca")}
    if getattr(args, "no_projections", False):
        overrides["projections"] = "off"
    return Settings.from_env(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    refused = refused_argument(argv)
    if refused is not None:
        print(f"platform: {refused}", file=sys.stderr)
        return 2
    args = parser().parse_args(argv)
    try:
        settings = settings_of(args)
        from adapters.telemetry import configure_logging

        configure_logging(settings.log_level, json=settings.log_format == "json")
        return COMMANDS[args.command].run(settings, args)
    except (CliError, SettingsError, ValueError, OSError, DomainError) as error:
        print(f"platform {args.command}: {error}", file=sys.stderr)
        return 2
