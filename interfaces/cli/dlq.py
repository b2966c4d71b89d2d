"""`platform dlq`: list, show, retry or discard dead letters through a running platform's API."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from domain.values import DeadLetterStatus
from interfaces.cli.common import CliError, Command, api_arguments, api_client
from interfaces.settings import Settings

if TYPE_CHECKING:
    from interfaces.client import Client


def dlq(settings: Settings, args: argparse.Namespace) -> int:
    from interfaces.client import ApiError

    client = api_client(settings, args)
    try:
        if args.action == "list":
            _list(client, args)
        else:
            _act_on_one(client, args)
    except ApiError as error:
        raise CliError(str(error)) from None
    return 0


def _list(client: Client, args: argparse.Namespace) -> None:
    params = {k: v for k, v in (("source", args.source), ("status", args.status)) if v}
    for letter in client.get("/v1/dead-letters", params)["dead_letters"]:
        print(
            f"{letter['dead_letter_id']}  {letter['status']:<9} {letter['source']:<10} {letter['step']:<10} "
            f"{letter['attempts']} attempts  {letter['subject']}  {letter['error'][:80]}"
        )


def _act_on_one(client: Client, args: argparse.Namespace) -> None:
    if not args.id:
        raise CliError(f"dlq {args.action} needs the dead letter's id")
    path = f"/v1/dead-letters/{args.id}"
    if args.action == "show":
        for key, value in client.get(path).items():
            print(f"{key}: {value}")
    elif args.action == "retry":
        answer = client.post(f"{path}/retry")
        print(f"{args.id}: {answer['status']} (position {answer['position']})")
    else:
        if not args.reason:
            raise CliError("dlq discard needs --reason")
        print(f"{args.id}: discarded (position {client.post(f'{path}/discard', {'reason': args.reason})['position']})")


def dlq_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("action", choices=("list", "show", "retry", "discard"))
    command.add_argument("id", nargs="?", metavar="DEAD_LETTER_ID")
    command.add_argument("--source", help="list: only from this source (pipeline, webhook, ...)")
    command.add_argument("--status", choices=[status.value for status in DeadLetterStatus], help="list: only these")
    command.add_argument("--reason", help="discard: why")
    api_arguments(command)


DLQ = Command(dlq, "list, show, retry or discard dead letters (failed work after its last attempt)", dlq_arguments)
