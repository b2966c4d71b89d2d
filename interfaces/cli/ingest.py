"""`platform ingest` (upload a file as a batch) and `platform demo` (the whole flow), through a running platform."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from domain.values import RunStatus
from interfaces.cli.common import CliError, Command, api_arguments, api_client
from interfaces.settings import Settings


def ingest(settings: Settings, args: argparse.Namespace) -> int:
    from interfaces.client import ApiError
    from interfaces.demo import describe_run, ingest_file, wait_for_run

    if not args.file.is_file():
        raise CliError(f"no such file: {args.file}")
    client = api_client(settings, args)
    try:
        accepted = ingest_file(client, args.tenant, args.contract, args.file, args.object)
        verb = "already landed as" if accepted["duplicate"] else "landed as"
        print(
            f"{args.file.name}: {accepted['bytes']} bytes, sha256 {accepted['sha256']}, {verb} run {accepted['run_id']}"
        )
        if args.wait:
            run = wait_for_run(client, accepted["location"], args.timeout)
            print("\n".join(describe_run(run)))
            return 0 if run["status"] == RunStatus.SUCCEEDED else 1
    except (ApiError, TimeoutError) as error:
        raise CliError(str(error)) from None
    return 0


def demo(settings: Settings, args: argparse.Namespace) -> int:
    from interfaces.client import ApiError
    from interfaces.demo import run_demo

    client = api_client(settings, args)
    with tempfile.TemporaryDirectory(prefix="platform-demo-") as workdir:
        try:
            run_demo(client, Path(workdir), args.rows, print)
        except (ApiError, TimeoutError, RuntimeError) as error:
            raise CliError(str(error)) from None
    return 0


def ingest_arguments(command: argparse.ArgumentParser) -> None:
    api_arguments(command)
    command.add_argument("file", type=Path, help="the file to upload (.csv .ndjson .parquet .arrow)")
    command.add_argument("--tenant", required=True, metavar="TENANT_ID", help="the tenant")
    command.add_argument("--contract", required=True, help="the contract id the batch is delivered under")
    command.add_argument("--object", help="the contract's schema object (when it has several)")
    command.add_argument("--wait", action="store_true", help="wait for the run and print its steps")
    command.add_argument("--timeout", type=float, default=300.0, help="seconds --wait waits (default 300)")


def demo_arguments(command: argparse.ArgumentParser) -> None:
    api_arguments(command)
    command.add_argument("--rows", type=int, default=10_000, help="sales lines to generate (default 10000)")


INGEST = Command(
    ingest, "upload a file (CSV, NDJSON, Parquet, Arrow) as a batch to a running platform", ingest_arguments
)
DEMO = Command(
    demo, "run the whole flow with the sample data against a running platform and print the KPIs", demo_arguments
)
