"""The `platform` command: serve and its workers, replay, ingest, demo, token, keys, version."""

from __future__ import annotations

import argparse
import getpass
import logging
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING

from domain.access import ROLES
from domain.errors import DomainError
from interfaces.input_rules import control_character
from interfaces.settings import Settings, SettingsError

if TYPE_CHECKING:
    from adapters.readmodels import ReadModelStore
    from application.commands import CommandContext
    from interfaces.bootstrap import Platform
    from interfaces.client import Client

log = logging.getLogger("platform")


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def progress_printer(label: str) -> Callable[[int, int], None]:
    """Prints progress to stderr at most every half second (and always on a terminal's line)."""
    last = [0.0]

    def show(count: int, position: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5:
            last[0] = now
            print(f"{label}: {count} events, at position {position}", file=sys.stderr, flush=True)

    return show


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from interfaces.bootstrap import bootstrap
    from interfaces.http.app import create_app
    from interfaces.tls import uvicorn_tls_options

    tls = uvicorn_tls_options(settings)
    platform = bootstrap(settings)
    sweep_staging(settings)
    sweep_decisions(platform)
    announce_bootstrap_credential(platform)
    scheme = "https" if tls else "http"
    print(
        f"serving on {scheme}://{settings.host}:{settings.port} (event store: {settings.event_store})", file=sys.stderr
    )
    from adapters.telemetry import configure_tracing

    configure_tracing("platform-serve")  # real span ids: traceparent on events, trace_id in JSON logs
    app = create_app(platform)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", log_config=None, **tls)
    finally:
        platform.close()
    return 0


def sweep_staging(settings: Settings) -> None:
    """Removes the staging files and work directories that stopped processes left behind (none in use)."""
    from interfaces.bootstrap import sweep_scratch

    removed = sweep_scratch(settings)
    if removed:
        print(f"removed {len(removed)} staging files left by stopped processes", file=sys.stderr)


def sweep_decisions(platform: Platform) -> None:
    """Deletes the authorization decisions older than PLATFORM_DECISION_LOG_RETENTION_DAYS."""
    removed = platform.decisions.sweep()
    if removed:
        days = platform.settings.decision_log_retention_days
        print(f"removed {removed} authorization decisions older than {days} days", file=sys.stderr)


def announce_bootstrap_credential(platform: Platform) -> None:
    """On first start: print the platform-admin API key once (it is also in a file only its owner can read)."""
    from interfaces.credentials import ensure_bootstrap_credential

    path = ensure_bootstrap_credential(platform)
    if path is not None:
        token = path.read_text().strip()
        print(f"bootstrap platform-admin API key (shown once; also in {path}):\n  {token}", file=sys.stderr)


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    from interfaces.bootstrap import bootstrap
    from interfaces.credentials import dev_token

    platform = bootstrap(settings)
    try:
        print(dev_token(platform, args.role, args.tenant))
    finally:
        platform.close()
    return 0


def run_worker(settings: Settings, describe: Callable[[Platform], str], *starts: Callable[[Platform], None]) -> int:
    """A worker process: the platform, its background parts started, until SIGINT or SIGTERM."""
    from interfaces.bootstrap import bootstrap

    platform = bootstrap(settings)
    stop = _stop_on_signals()
    print(describe(platform), file=sys.stderr)
    for start in starts:
        start(platform)
    stop.wait()
    platform.close()
    return 0


def cmd_projections(settings: Settings, args: argparse.Namespace) -> int:
    return run_worker(
        settings,
        lambda p: f"projecting {', '.join(p.read_models.projections)} from {settings.event_store}",
        lambda p: p.worker.start(),
        lambda p: p.ledger.start(),
    )


def cmd_consumers(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.telemetry import configure_tracing
    from interfaces.consumers import run_consumers

    configure_tracing("platform-consumers")
    sweep_staging(settings)
    run_consumers(settings)
    return 0


def cmd_relay(settings: Settings, args: argparse.Namespace) -> int:
    from interfaces.relay import run_relay

    run_relay(settings, _stop_on_signals(), progress_printer("relayed"))
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.readmodels import ReadModelStore, sqlite_url
    from adapters.replay import replay_and_compare
    from interfaces.bootstrap import bootstrap
    from projections import ALL

    target_url = args.into or sqlite_url(Path(tempfile.mkdtemp(prefix="platform-replay-")) / "readmodels.db")
    platform = bootstrap(settings)
    target = ReadModelStore(target_url, ALL, platform.read_models.sealer)
    try:
        if args.until:
            return _replay_until(platform, target, target_url, args.until)
        report = replay_and_compare(platform.store, platform.read_models, target, progress_printer("replayed"))
    finally:
        target.close()
        platform.close()
    rate = report.events / report.seconds if report.seconds else 0.0
    print(f"replayed {report.events} events in {report.seconds:.2f} s ({rate:,.0f} events/s) into {target_url}")
    for c in report.comparisons:
        verdict = "equal" if c.equal else "DIFFERENT"
        print(f"  {c.name}: up to position {c.position}: {verdict} (sha256 {c.replayed_digest[:16]})")
    return 0 if report.equal else 1


def _replay_until(platform: Platform, target: ReadModelStore, target_url: str, until: str) -> int:
    """Time travel: every read model as it was at a position (or time), in a database of its own."""
    from adapters.replay import position_at, replay

    position = position_at(platform.store, until)
    started = time.perf_counter()
    seen = replay(platform.store, target, dict.fromkeys(target.projections, position), progress_printer("replayed"))
    seconds = time.perf_counter() - started
    print(f"replayed {seen} events up to position {position} ({until}) in {seconds:.2f} s into {target_url}")
    for name in target.projections:
        print(f"  {name}: sha256 {target.snapshot(name)[1][:16]}")
    return 0


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.keys.rotation import KeyringRotation
    from application.commands import CommandRunner
    from application.keys import KeyService
    from interfaces.bootstrap import open_field_cipher, open_store, utc_now

    if args.action == "retire" and not args.kek_id:
        raise CliError("retire needs the KEK id to retire")
    if args.action == "encrypt-datasets":
        return _encrypt_datasets(settings)
    cipher = open_field_cipher(settings)
    store = open_store(settings, cipher)
    try:
        store.last_position()  # the log answers before the keyring changes: no rotation goes unrecorded for want of it
        service = KeyService(CommandRunner(store, utc_now), KeyringRotation(cipher.keys))
        context = _operator_context(f"{args.action}-kek")
        if args.action == "rotate":
            rotated = service.rotate_kek(context)
            print(f"key-encryption key {rotated.kek_id} is current (was {rotated.previous});", end=" ")
            print(f"{rotated.rewrapped} data keys re-wrapped; recorded at position {rotated.result.position}")
            if rotated.retirable:
                print(f"retire next: {' '.join(rotated.retirable)}")
        else:
            retired = service.retire_kek(context, args.kek_id)
            print(f"key-encryption key {retired.kek_id} retired;", end=" ")
            print(f"{retired.rewrapped} data keys re-wrapped first; recorded at position {retired.result.position}")
    finally:
        store.close()
        cipher.close()
    return 0


def _operator_context(what: str) -> CommandContext:
    """A command of the operator at this terminal: the actor names the operating-system user."""
    from application.commands import CommandContext

    command_id = f"{what}|{uuid.uuid4()}"
    return CommandContext(f"platform-cli:{getpass.getuser()}", command_id, command_id)


def _encrypt_datasets(settings: Settings) -> int:
    """Seals the dataset files written in plaintext (resumable: sealed files are skipped)."""
    from adapters.datasets.migration import encrypt_datasets
    from adapters.datasets.store import DatasetError
    from interfaces.bootstrap import open_datasets, open_field_cipher

    cipher = open_field_cipher(settings)
    try:
        done = encrypt_datasets(open_datasets(settings, cipher), print)
    except DatasetError as error:
        raise CliError(f"{error} (files sealed so far stay sealed; run it again once fixed)") from error
    finally:
        cipher.close()
    print(done.summary)
    return 0


def api_client(settings: Settings, args: argparse.Namespace) -> Client:
    """The API client of `ingest` and `demo`: --url/--api-key, else PLATFORM_URL/PLATFORM_API_KEY, else the local
    platform and its bootstrap admin key."""
    from interfaces.client import Client
    from interfaces.credentials import BOOTSTRAP_FILE

    url = args.url or settings.url or f"http://{settings.host}:{settings.port}"
    key = args.api_key or settings.api_key
    if not key:
        path = Path(settings.keys_dir) / BOOTSTRAP_FILE
        if not path.exists():
            raise CliError(f"no API key: pass --api-key, set PLATFORM_API_KEY, or start the platform once ({path})")
        key = path.read_text().strip()
    return Client(url, api_key=key)


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
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
            return 0 if run["status"] == "succeeded" else 1
    except (ApiError, TimeoutError) as error:
        raise CliError(str(error)) from None
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from interfaces.client import ApiError
    from interfaces.demo import run_demo

    client = api_client(settings, args)
    with tempfile.TemporaryDirectory(prefix="platform-demo-") as workdir:
        try:
            run_demo(client, Path(workdir), args.rows, print)
        except (ApiError, TimeoutError, RuntimeError) as error:
            raise CliError(str(error)) from None
    return 0


def cmd_dlq(settings: Settings, args: argparse.Namespace) -> int:
    from interfaces.client import ApiError

    client = api_client(settings, args)
    try:
        if args.action == "list":
            params = {k: v for k, v in (("source", args.source), ("status", args.status)) if v}
            for letter in client.get("/v1/dead-letters", params)["dead_letters"]:
                print(
                    f"{letter['dead_letter_id']}  {letter['status']:<9} {letter['source']:<10} {letter['step']:<10} "
                    f"{letter['attempts']} attempts  {letter['subject']}  {letter['error'][:80]}"
                )
            return 0
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
            print(
                f"{args.id}: discarded (position {client.post(f'{path}/discard', {'reason': args.reason})['position']})"
            )
    except ApiError as error:
        raise CliError(str(error)) from None
    return 0


def cmd_scheduler(settings: Settings, args: argparse.Namespace) -> int:
    return run_worker(
        settings,
        lambda p: f"firing scheduled jobs from {settings.event_store} as {p.scheduler.owner}",
        lambda p: p.scheduler.start(),
    )


def cmd_webhooks(settings: Settings, args: argparse.Namespace) -> int:
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


ACTION_VERBS = {
    "templates": ("list", "show", "define"),
    "playbooks": ("list", "show", "define", "activate", "pause", "backtest"),
    "runs": ("list", "show", "approve", "reject"),
}
ACTION_PATHS = {"templates": "action-templates", "playbooks": "playbooks", "runs": "action-runs"}


def cmd_actions(settings: Settings, args: argparse.Namespace) -> int:
    """Action templates, playbooks and runs through the API: JSON answers printed as they come."""
    import json

    from interfaces.client import ApiError

    if args.verb not in ACTION_VERBS[args.what]:
        raise CliError(f"actions {args.what} takes one of: {', '.join(ACTION_VERBS[args.what])}")
    base = f"/v1/tenants/{args.tenant}/{ACTION_PATHS[args.what]}"
    target = args.target or []
    needs = {"show": 1, "activate": 1, "pause": 1, "backtest": 1, "approve": 2, "reject": 2}.get(args.verb, 0)
    if len(target) < needs:
        raise CliError(
            f"actions {args.what} {args.verb} needs {needs} argument(s): the id" + (" and step" * (needs > 1))
        )
    client = api_client(settings, args)
    try:
        if args.verb == "list":
            answer = client.get(base, {"status": args.status} if args.status else None)
        elif args.verb == "show":
            answer = client.get(f"{base}/{target[0]}")
        elif args.verb == "define":
            if not args.file or not args.file.is_file():
                raise CliError(f"actions {args.what} define needs --file with the definition (JSON)")
            answer = client.post(base, json.loads(args.file.read_text()))
        elif args.verb == "backtest":
            answer = client.post(
                f"{base}/{target[0]}/backtest", {k: v for k, v in (("from", args.start), ("to", args.end)) if v}
            )
        elif args.verb in ("approve", "reject"):
            body = {"reason": args.reason} if args.verb == "reject" else {}
            answer = client.post(f"{base}/{target[0]}/steps/{target[1]}/{args.verb}", body)
        else:
            answer = client.post(f"{base}/{target[0]}/{args.verb}")
    except (ApiError, ValueError) as error:
        raise CliError(str(error)) from None
    print(json.dumps(answer, indent=2, sort_keys=True))
    return 0


def cmd_orchestrator(settings: Settings, args: argparse.Namespace) -> int:
    return run_worker(
        settings,
        lambda p: f"orchestrating pipeline runs and exports from {settings.event_store}",
        lambda p: sweep_staging(settings),
        lambda p: p.orchestrator.start(),
    )


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    from interfaces import audit

    if args.audit_action == "check":  # offline: no database, no running platform
        from adapters.ledger.bundle import BundleError

        try:
            return audit.check(args.bundle, args.key)
        except BundleError as error:
            raise CliError(str(error)) from None
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
    from interfaces.bootstrap import bootstrap

    platform = bootstrap(settings)
    try:
        if args.audit_action == "accesses":
            return audit_accesses(platform, args)
        if args.audit_action == "verify":
            return audit.verify(platform.ledger, args.key or "")
        return audit.bundle(platform, args.tenant, args.start, args.end, args.out, err=sys.stderr)
    finally:
        platform.close()


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


def cmd_version(settings: Settings, args: argparse.Namespace) -> int:
    print(f"platform {package_version('governed-data-platform')} (event store: {settings.event_store})")
    return 0


COMMANDS: dict[str, tuple[Callable[[Settings, argparse.Namespace], int], str]] = {
    "serve": (cmd_serve, "serve the command and query APIs (read models in-process unless PLATFORM_PROJECTIONS=off)"),
    "projections": (cmd_projections, "keep the read models up to date from the event log, as a process of its own"),
    "consumers": (cmd_consumers, "run the NATS consumers (read models fed from JetStream)"),
    "relay": (cmd_relay, "publish the event log to NATS JetStream as CloudEvents"),
    "replay": (
        cmd_replay,
        "rebuild every read model from the log into a fresh database and compare with the live ones",
    ),
    "orchestrator": (
        cmd_orchestrator,
        "drive pipeline runs and exports as a process of its own (with PLATFORM_ORCHESTRATOR=off on servers)",
    ),
    "scheduler": (
        cmd_scheduler,
        "fire scheduled jobs as a process of its own (with PLATFORM_SCHEDULER=off on servers; several may run)",
    ),
    "ingest": (cmd_ingest, "upload a file (CSV, NDJSON, Parquet, Arrow) as a batch to a running platform"),
    "demo": (cmd_demo, "run the whole flow with the sample data against a running platform and print the KPIs"),
    "webhooks": (
        cmd_webhooks,
        "deliver webhooks as a process of its own (dispatch, with PLATFORM_WEBHOOK_DISPATCHER=off on servers), or "
        "recover an endpoint's failed deliveries",
    ),
    "actions": (
        cmd_actions,
        "action templates, playbooks and runs: list, show, define, activate, pause, backtest, approve, reject",
    ),
    "dlq": (cmd_dlq, "list, show, retry or discard dead letters (failed work after its last attempt)"),
    "token": (cmd_token, "print a development bearer token for a role (signed with the local key)"),
    "keys": (
        cmd_keys,
        "rotate the key-encryption key (re-wrapping every data key), retire an old one, or encrypt-datasets"
        " (seal the dataset files written in plaintext)",
    ),
    "audit": (
        cmd_audit,
        "for auditors: verify the ledger against the log, trace a published number, write or check an evidence bundle",
    ),
    "version": (cmd_version, "print the version"),
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="platform", description="The governed data platform.")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name == "serve":
            command.add_argument("--host", help="address to listen on (PLATFORM_HOST)")
            command.add_argument("--port", type=int, help="port to listen on (PLATFORM_PORT)")
            command.add_argument("--no-projections", action="store_true", help="leave read models to other workers")
            command.add_argument(
                "--tls-cert", metavar="PEM", help="certificate chain: serve HTTPS only (PLATFORM_TLS_CERT)"
            )
            command.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert (PLATFORM_TLS_KEY)")
            command.add_argument(
                "--tls-client-ca",
                metavar="PEM",
                help="accept client certificates signed by this CA (PLATFORM_TLS_CLIENT_CA)",
            )
        if name == "dlq":
            command.add_argument("action", choices=("list", "show", "retry", "discard"))
            command.add_argument("id", nargs="?", metavar="DEAD_LETTER_ID")
            command.add_argument("--source", help="list: only from this source (pipeline, webhook, ...)")
            command.add_argument(
                "--status", choices=("open", "retrying", "resolved", "discarded"), help="list: only these"
            )
            command.add_argument("--reason", help="discard: why")
        if name == "webhooks":
            command.add_argument("action", choices=("dispatch", "recover"))
            command.add_argument("endpoint", nargs="?", metavar="ENDPOINT_ID", help="recover: the endpoint")
            command.add_argument("--tenant", metavar="TENANT_ID", help="recover: the endpoint's tenant")
            command.add_argument("--since", help="recover: failed at or after this time (ISO 8601 with offset)")
        if name == "actions":
            _actions_arguments(command)
        if name in ("ingest", "demo", "dlq", "webhooks", "actions"):
            command.add_argument("--url", help="the platform's API (PLATFORM_URL; default http://HOST:PORT)")
            command.add_argument("--api-key", help="API key to act with (PLATFORM_API_KEY; default the bootstrap key)")
        if name == "ingest":
            command.add_argument("file", type=Path, help="the file to upload (.csv .ndjson .parquet .arrow)")
            command.add_argument("--tenant", required=True, metavar="TENANT_ID", help="the tenant")
            command.add_argument("--contract", required=True, help="the contract id the batch is delivered under")
            command.add_argument("--object", help="the contract's schema object (when it has several)")
            command.add_argument("--wait", action="store_true", help="wait for the run and print its steps")
            command.add_argument("--timeout", type=float, default=300.0, help="seconds --wait waits (default 300)")
        if name == "demo":
            command.add_argument("--rows", type=int, default=10_000, help="sales lines to generate (default 10000)")
        if name == "token":
            command.add_argument("--role", required=True, choices=ROLES, help="the role the token's principal holds")
            command.add_argument("--tenant", metavar="TENANT_ID", help="the tenant (every role but platform-admin)")
        if name == "keys":
            command.add_argument(
                "action",
                choices=("rotate", "retire", "encrypt-datasets"),
                help="what to do",
            )
            command.add_argument("kek_id", nargs="?", metavar="KEK_ID", help="the key-encryption key to retire")
        if name == "audit":
            _audit_parsers(command)
        if name == "replay":
            command.add_argument(
                "--into", metavar="URL", help="read-model database to rebuild into (default: a new file)"
            )
            command.add_argument(
                "--until",
                metavar="POSITION|TIME",
                help="rebuild the read models as they were at this log position or ISO time (the live ones untouched)",
            )
    return root


def _actions_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("what", choices=tuple(ACTION_VERBS), help="templates, playbooks or runs")
    command.add_argument("verb", help="list, show, define, activate, pause, backtest, approve, reject")
    command.add_argument("target", nargs="*", help="the id (and, to approve or reject, the step number)")
    command.add_argument("--tenant", required=True, metavar="TENANT_ID", help="the tenant")
    command.add_argument("--file", type=Path, help="define: the definition as JSON")
    command.add_argument("--status", help="list: only runs or playbooks in this status")
    command.add_argument("--reason", help="reject: why")
    command.add_argument("--from", dest="start", help="backtest: from this time (ISO 8601)")
    command.add_argument("--to", dest="end", help="backtest: up to this time (ISO 8601)")


def _audit_parsers(command: argparse.ArgumentParser) -> None:
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


def refused_argument(argv: Sequence[str]) -> str | None:
    """Why the command line is refused: an argument holding a control character (the HTTP API refuses them too)."""
    for number, argument in enumerate(argv, start=1):
        why = control_character(argument)
        if why is not None:
            return f"argument {number} ({argument!r}) {why}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    refused = refused_argument(argv)
    if refused is not None:
        print(f"platform: {refused}", file=sys.stderr)
        return 2
    args = parser().parse_args(argv)
    try:
        overrides = {
            name: getattr(args, name, None) for name in ("host", "port", "tls_cert", "tls_key", "tls_client_ca")
        }
        if getattr(args, "no_projections", False):
            overrides["projections"] = "off"
        settings = Settings.from_env(**overrides)
        from adapters.telemetry import configure_logging

        configure_logging(settings.log_level, json=settings.log_format == "json")
        handler, _ = COMMANDS[args.command]
        return handler(settings, args)
    except (CliError, SettingsError, ValueError, OSError, DomainError) as error:
        print(f"platform {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
