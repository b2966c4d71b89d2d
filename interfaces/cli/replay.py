"""`platform replay`: rebuild the read models from the log and compare them, or see them as they were."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from interfaces.cli.common import Command, progress_printer
from interfaces.settings import Settings

if TYPE_CHECKING:
    from adapters.readmodels import ReadModelStore
    from interfaces.bootstrap import Platform


def replay(settings: Settings, args: argparse.Namespace) -> int:
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
    from adapters.replay import position_at
    from adapters.replay import replay as replay_into

    position = position_at(platform.store, until)
    started = time.perf_counter()
    seen = replay_into(
        platform.store, target, dict.fromkeys(target.projections, position), progress_printer("replayed")
    )
    seconds = time.perf_counter() - started
    print(f"replayed {seen} events up to position {position} ({until}) in {seconds:.2f} s into {target_url}")
    for name in target.projections:
        print(f"  {name}: sha256 {target.snapshot(name)[1][:16]}")
    return 0


def replay_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--into", metavar="URL", help="read-model database to rebuild into (default: a new file)")
    command.add_argument(
        "--until",
        metavar="POSITION|TIME",
        help="rebuild the read models as they were at this log position or ISO time (the live ones untouched)",
    )


REPLAY = Command(
    replay,
    "rebuild every read model from the log into a fresh database and compare with the live ones",
    replay_arguments,
)
