"""`platform serve`: the command and query APIs, after sweeping what stopped processes left behind."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from interfaces.cli.common import Command
from interfaces.settings import Settings

if TYPE_CHECKING:
    from interfaces.bootstrap import Platform


def serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from interfaces.bootstrap import bootstrap
    from interfaces.http.app import create_app
    from interfaces.tls import uvicorn_tls_options

    tls = uvicorn_tls_options(settings.http)
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

    removed = sweep_scratch(settings.stores)
    if removed:
        print(f"removed {len(removed)} staging files left by stopped processes", file=sys.stderr)


def sweep_decisions(platform: Platform) -> None:
    """Deletes the authorization decisions older than PLATFORM_DECISION_LOG_RETENTION_DAYS."""
    removed = platform.decisions.sweep()
    if removed:
        days = platform.settings.decision_log_retention_days
        print(f"removed {removed} authorization decisions older than {days} days", file=sys.stderr)


def announce_bootstrap_credential(platform: Platform) -> None:
    """On first start: print the platform-admin API key once (it is also in a file only its owner can read), or
    where it came from when the operator made it (PLATFORM_BOOTSTRAP_ADMIN_KEY_FILE)."""
    from interfaces.credentials import ensure_bootstrap_credential

    path = ensure_bootstrap_credential(platform)
    if path is not None and platform.settings.bootstrap_admin_key_file:
        print(f"bootstrap platform-admin API key registered from {path}", file=sys.stderr)
    elif path is not None:
        token = path.read_text().strip()
        print(f"bootstrap platform-admin API key (shown once; also in {path}):\n  {token}", file=sys.stderr)


def serve_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--host", help="address to listen on (PLATFORM_HOST)")
    command.add_argument("--port", type=int, help="port to listen on (PLATFORM_PORT)")
    command.add_argument("--no-projections", action="store_true", help="leave read models to other workers")
    command.add_argument("--tls-cert", metavar="PEM", help="certificate chain: serve HTTPS only (PLATFORM_TLS_CERT)")
    command.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert (PLATFORM_TLS_KEY)")
    command.add_argument(
        "--tls-client-ca",
        metavar="PEM",
        help="accept client certificates signed by this CA (PLATFORM_TLS_CLIENT_CA)",
    )


SERVE = Command(
    serve,
    "serve the command and query APIs (read models in-process unless PLATFORM_PROJECTIONS=off)",
    serve_arguments,
)
