"""`platform actions`: action templates, playbooks and runs through a running platform's API."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interfaces.cli.common import CliError, Command, api_arguments, api_client
from interfaces.settings import Settings

if TYPE_CHECKING:
    from interfaces.client import Client

ACTION_VERBS = {
    "templates": ("list", "show", "define"),
    "playbooks": ("list", "show", "define", "activate", "pause", "backtest"),
    "runs": ("list", "show", "approve", "reject"),
}
ACTION_PATHS = {"templates": "action-templates", "playbooks": "playbooks", "runs": "action-runs"}
TARGETS_NEEDED = {"show": 1, "activate": 1, "pause": 1, "backtest": 1, "approve": 2, "reject": 2}
"""How many targets (the id, and the step number) each verb needs."""


def actions(settings: Settings, args: argparse.Namespace) -> int:
    """Action templates, playbooks and runs through the API: JSON answers printed as they come."""
    from interfaces.client import ApiError

    if args.verb not in ACTION_VERBS[args.what]:
        raise CliError(f"actions {args.what} takes one of: {', '.join(ACTION_VERBS[args.what])}")
    target = args.target or []
    needs = TARGETS_NEEDED.get(args.verb, 0)
    if len(target) < needs:
        raise CliError(
            f"actions {args.what} {args.verb} needs {needs} argument(s): the id" + (" and step" * (needs > 1))
        )
    client = api_client(settings, args)
    try:
        answer = _call(client, args, target)
    except (ApiError, ValueError) as error:
        raise CliError(str(error)) from None
    print(json.dumps(answer, indent=2, sort_keys=True))
    return 0


def _call(client: Client, args: argparse.Namespace, target: list[str]) -> Any:
    base = f"/v1/tenants/{args.tenant}/{ACTION_PATHS[args.what]}"
    if args.verb == "list":
        return client.get(base, {"status": args.status} if args.status else None)
    if args.verb == "show":
        return client.get(f"{base}/{target[0]}")
    if args.verb == "define":
        if not args.file or not args.file.is_file():
            raise CliError(f"actions {args.what} define needs --file with the definition (JSON)")
        return client.post(base, json.loads(args.file.read_text()))
    if args.verb == "backtest":
        period = {k: v for k, v in (("from", args.start), ("to", args.end)) if v}
        return client.post(f"{base}/{target[0]}/backtest", period)
    if args.verb in ("approve", "reject"):
        body = {"reason": args.reason} if args.verb == "reject" else {}
        return client.post(f"{base}/{target[0]}/steps/{target[1]}/{args.verb}", body)
    return client.post(f"{base}/{target[0]}/{args.verb}")


def actions_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("what", choices=tuple(ACTION_VERBS), help="templates, playbooks or runs")
    command.add_argument("verb", help="list, show, define, activate, pause, backtest, approve, reject")
    command.add_argument("target", nargs="*", help="the id (and, to approve or reject, the step number)")
    command.add_argument("--tenant", required=True, metavar="TENANT_ID", help="the tenant")
    command.add_argument("--file", type=Path, help="define: the definition as JSON")
    command.add_argument("--status", help="list: only runs or playbooks in this status")
    command.add_argument("--reason", help="reject: why")
    command.add_argument("--from", dest="start", help="backtest: from this time (ISO 8601)")
    command.add_argument("--to", dest="end", help="backtest: up to this time (ISO 8601)")
    api_arguments(command)


ACTIONS = Command(
    actions,
    "action templates, playbooks and runs: list, show, define, activate, pause, backtest, approve, reject",
    actions_arguments,
)
