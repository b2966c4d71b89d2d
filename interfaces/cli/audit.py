"""`platform audit`: verify the ledger, trace a published number, write or check an evidence bundle, list accesses."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from interfaces.cli.common import CliError, Command, progress_printer
from interfaces.settings import Settings

if TYPE_CHECKING:
    from interfaces.bootstrap import Platform


def audit(settings: Settings, args: argparse.Namespace) -> int:
    if args.audit_action == "check":  # offline: no database, no running platform
        return _check(args)
    if args.audit_action == "trace":
        from interfaces.trace import run_trace

        return run_trace(
            settings,
            args.tenant,
            args.product,
            args.version,
            args.verify,
            args.json,
            progress=progress_printer("projected"),
        )
    from interfaces import audit as auditing
    from interfaces.bootstrap import bootstrap

    platform = bootstrap(settings)
    try:
        if args.audit_action == "accesses":
            return audit_accesses(platform, args)
        if args.audit_action == "verify":
            return auditing.verify(platform.ledger, args.key or "")
        return auditing.bundle(platform, args.tenant, args.start, args.end, args.out, err=sys.stderr)
    finally:
        platform.close()


def _check(args: argparse.Namespace) -> int:
    from adapters.ledger.bundle import BundleError
    from interfaces import audit as auditing

    try:
        return auditing.check(args.bundle, args.key)
    except BundleError as error:
        raise CliError(str(error)) from None


def audit_accesses(platform: Platform, args: argparse.Namespace) -> int:
    from uuid import UUID

    from interfaces.audit_accesses import print_accesses
    from projections.personal_data import AccessFilter, utc_time

    try:
        UUID(args.tenant)
    except ValueError:
        raise CliError(f"--tenant must be a tenant id (a UUID), not {args.tenant!r}") from None
    since = utc_time("--since", args.since) if args.since else None
    until = utc_time("--until", args.until) if args.until else None
    wanted = AccessFilter(args.principal, args.product, args.field, since, until)
    return print_accesses(
        platform.store, args.tenant, wanted, as_json=args.json, out=sys.stdout, progress=progress_printer("read")
    )


def audit_arguments(command: argparse.ArgumentParser) -> None:
    actions = command.add_subparsers(dest="audit_action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="recompute the evidence ledger from the event log and compare")
    verify.add_argument("--key", metavar="VERIFIER_KEY", help="the checkpoint verifier key to trust")
    trace = actions.add_parser("trace", help="the chain from a published product version back to its raw bytes")
    trace.add_argument("product", help="the data product (its contract id)")
    trace.add_argument("version", type=int, help="the product version")
    trace.add_argument("--tenant", required=True, metavar="TENANT_ID", help="the tenant")
    trace.add_argument("--verify", action="store_true", help="hash every raw batch again against the dataset store")
    trace.add_argument("--json", action="store_true", help="print the trace as JSON")
    bundle = actions.add_parser("bundle", help="write a tenant's evidence bundle of a period")
    bundle.add_argument("--tenant", required=True, metavar="TENANT_ID", help="the tenant")
    bundle.add_argument("--from", dest="start", metavar="POSITION|TIME", help="from this log position or ISO time")
    bundle.add_argument("--to", dest="end", metavar="POSITION|TIME", help="up to this log position or ISO time")
    bundle.add_argument("--out", type=Path, required=True, help="the bundle file to write (a zip)")
    accesses = actions.add_parser("accesses", help="who was served a tenant's personal data unmasked (from the log)")
    accesses.add_argument("--tenant", required=True, metavar="TENANT_ID", help="the tenant")
    accesses.add_argument("--principal", metavar="PRINCIPAL_ID", help="only this principal's accesses")
    accesses.add_argument("--product", help="only accesses to this data product")
    accesses.add_argument("--field", help="only accesses that served this personal-data field")
    accesses.add_argument("--since", metavar="TIME", help="from this ISO time (inclusive)")
    accesses.add_argument("--until", metavar="TIME", help="up to this ISO time (exclusive)")
    accesses.add_argument("--json", action="store_true", help="one JSON object per access")
    check = actions.add_parser("check", help="verify a bundle offline (no database, no running platform)")
    check.add_argument("bundle", type=Path, help="the bundle file")
    check.add_argument("--key", metavar="VERIFIER_KEY", help="the verifier key obtained out of band")


AUDIT = Command(
    audit,
    "for auditors: verify the ledger against the log, trace a published number, write or check an evidence bundle",
    audit_arguments,
)
