"""A crash mid-upload leaves its staging file behind; the next `platform serve` or `platform orchestrator` to start
removes it, and leaves alone what a live process holds and what the platform did not make."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from adapters.datasets.scratch import claim
from tests.e2e.test_cli import env as cli_env
from tests.e2e.test_cli import start, stop

env = cli_env


def left_behind(path: Path, content: bytes = b"half an upload") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    return path


def gone_within(path: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not path.exists()


@pytest.mark.parametrize("command", ["serve", "orchestrator"])
def test_staging_files_of_stopped_processes_are_swept_at_start(env: dict[str, str], command: str) -> None:
    scratch = Path(env["PLATFORM_SCRATCH_DIR"])
    crashed = left_behind(scratch / "uploads" / "upload-crashed.part")
    work = left_behind(scratch / "work" / "work-crashed" / "gdp.partial.parquet").parent
    os.utime(work, (time.time() - 3600, time.time() - 3600))
    held = left_behind(scratch / "uploads" / "upload-in-use.part")
    foreign = left_behind(scratch / "uploads" / "operator-notes.txt")
    lock = claim(held)  # as a live process receiving an upload does
    process = start([command], env)
    try:
        assert gone_within(crashed, 30), process.stderr.read() if process.poll() is not None and process.stderr else ""
        assert gone_within(work, 5)
        assert held.exists()
        assert foreign.exists()
    finally:
        stop(process)
        os.close(lock)
