"""What the command groups share: the command record, the user's error, signals, progress, workers, API clients."""

from __future__ import annotations

import argparse
import getpass
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from interfaces.settings import Settings

if TYPE_CHECKING:
    from application.commands import CommandContext
    from interfaces.bootstrap import Platform
    from interfaces.client import Client


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def no_arguments(command: argparse.ArgumentParser) -> None:
    """A command that takes no arguments of its own."""


@dataclass(frozen=True)
class Command:
    """One `platform` command: what it runs, its help line, and the arguments it adds to its parser."""

    run: Callable[[Settings, argparse.Namespace], int]
    help: str
    arguments: Callable[[argparse.ArgumentParser], None] = no_arguments


def stop_on_signals() -> threading.Event:
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


def run_worker(settings: Settings, describe: Callable[[Platform], str], *starts: Callable[[Platform], None]) -> int:
    """A worker process: the platform, its background parts started, until SIGINT or SIGTERM."""
    from interfaces.bootstrap import bootstrap

    platform = bootstrap(settings)
    stop = stop_on_signals()
    print(describe(platform), file=sys.stderr)
    for start in starts:
        start(platform)
    stop.wait()
    platform.close()
    return 0


def operator_context(what: str) -> CommandContext:
    """A command of the operator at this terminal: the actor names the operating-system user."""
    from application.commands import CommandContext

    command_id = f"{what}|{uuid.uuid4()}"
    return CommandContext(f"platform-cli:{getpass.getuser()}", command_id, command_id)


def api_arguments(command: argparse.ArgumentParser) -> None:
    """--url and --api-key of the commands that act through a running platform's API."""
    command.add_argument("--url", help="the platform's API (PLATFORM_URL; default http://HOST:PORT)")
    command.add_argument("--api-key", help="API key to act with (PLATFORM_API_KEY; default the bootstrap key)")


def api_client(settings: Settings, args: argparse.Namespace) -> Client:
    """The API client of `ingest` and `demo`: --url/--api-key, else PLATFORM_URL/PLATFORM_API_KEY, else the local
    platform and its bootstrap admin key (PLATFORM_BOOTSTRAP_ADMIN_KEY_FILE, else the one under PLATFORM_KEYS_DIR)."""
    from adapters.keys.shared import BOOTSTRAP_ADMIN_FILE
    from interfaces.client import Client
    from interfaces.platform_keys import shared_bootstrap_key

    url = args.url or settings.url or f"http://{settings.host}:{settings.port}"
    key = args.api_key or settings.api_key or shared_bootstrap_key(settings.keys)
    if not key:
        path = Path(settings.keys_dir) / BOOTSTRAP_ADMIN_FILE
        if not path.exists():
            raise CliError(f"no API key: pass --api-key, set PLATFORM_API_KEY, or start the platform once ({path})")
        key = path.read_text().strip()
    return Client(url, api_key=key)
