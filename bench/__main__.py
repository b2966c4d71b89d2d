"""``python -m bench``: measures each registered figure beside its baseline, prints a table and writes JSON.

Add a figure by decorating its setup function with ``@bench.harness.figure`` in a module listed in MODULES.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import MIN_ROUNDS, REGISTRY, Config, Figure, Result, measure, profile, select

MODULES = (
    "bench.eventstore",
    "bench.http",
    "bench.pipeline_ingest",
    "bench.pipeline_kpis",
    "bench.pipeline_rows",
    "bench.pipeline_memory",
    "bench.nats",
    "bench.ledger",
    "bench.personal_data",
    "bench.dataset_sealing",
    "bench.flow_loads",
    "bench.process_managers",
    "bench.web_pages",
)
"""Modules whose figures are registered on import."""

RESULTS = Path(__file__).parent / "results" / "latest.json"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small workloads: a smoke test, not a measurement")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS, help=f"alternating rounds (at least {MIN_ROUNDS})")
    parser.add_argument("--only", action="append", metavar="PREFIX", help="run figures whose name starts so")
    parser.add_argument("--list", action="store_true", help="list the registered figures and exit")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="server for the PostgreSQL figures")
    parser.add_argument("--profile", metavar="FIGURE", help="run one system trial of FIGURE under cProfile instead")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"where to write results (default {RESULTS})")
    args = parser.parse_args(argv)
    if args.rounds < MIN_ROUNDS:
        parser.error(f"--rounds must be at least {MIN_ROUNDS}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for module in MODULES:
        importlib.import_module(module)
    figures = select(args.only)
    if args.list or not figures:
        print("\n".join(f"{f.name:<20} aim {f.aim:.2f}x  {f.description}" for f in figures) or "no such figure")
        return 0 if figures else 2
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        config = Config(args.rounds, args.quick, Path(workdir), args.postgres_url, f"bench_{uuid.uuid4().hex[:10]}")
        if args.profile:
            return _profile(args.profile, config)
        started, load = time.time(), _load()
        results = [_measure_loudly(spec, config) for spec in figures]
    report(results, run_info(config, started, load), args.json)
    return 1 if any(r.status == "error" for r in results) else 0


def report(results: Sequence[Result], run: dict[str, Any], path: Path) -> None:
    """Prints the table and the machine's load, and writes the JSON document."""
    print(render(results))
    load = run["load_average"]
    busy = max(load["before"][0], load["after"][0]) > 0.5 * (os.cpu_count() or 1)
    warning = " (busy machine: absolute rates are noisy, ratios less so)" if busy else ""
    print(f"\nload average (1, 5, 15 min): before {load['before']}, after {load['after']}{warning}")
    write_json(path, run, results)
    print(f"wrote {path}")


def _profile(name: str, config: Config) -> int:
    if name not in REGISTRY:
        print(f"no figure {name!r}; --list shows them", file=sys.stderr)
        return 2
    print(profile(REGISTRY[name], config))
    return 0


def _measure_loudly(spec: Figure, config: Config) -> Result:
    print(f"measuring {spec.name} ...", file=sys.stderr, flush=True)
    result = measure(spec, config)
    print(f"  {result.status}, {result.seconds:.1f}s {result.detail}", file=sys.stderr, flush=True)
    return result


HEADER = ("figure", "system", "baseline", "ratio", "aim", "met", "ratio range", "note")


def render(results: Sequence[Result]) -> str:
    """The results as an aligned text table (rates per second; ratio = system / baseline)."""
    rows = [HEADER, *(_row(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER) - 1)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _row(result: Result) -> tuple[str, ...]:
    if result.status != "ok":
        return (result.name, "-", "-", "-", f"{result.aim:.2f}x", result.status, "-", result.detail or result.note)
    ratios = [r.ratio for r in result.rounds]
    return (
        result.name,
        f"{result.system_rate:,.0f}/s",
        f"{result.baseline_rate:,.0f}/s",
        f"{result.ratio:.3f}x",
        f"{result.aim:.2f}x",
        "yes" if result.met else "NO",
        f"{min(ratios):.3f}-{max(ratios):.3f}",
        result.note,
    )


def run_info(config: Config, started: float, load_before: list[float]) -> dict[str, Any]:
    return {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "quick": config.quick,
        "rounds": config.rounds,
        "python": platform.python_version(),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "commit": _git_commit(),
        "postgres_url": config.postgres_url,
        "load_average": {"before": load_before, "after": _load()},
    }


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def write_json(path: Path, run: dict[str, Any], results: Sequence[Result]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"run": run, "figures": [r.to_json() for r in results]}
    path.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
