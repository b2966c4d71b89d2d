"""A compose service running as a local process: started from its spec, killed (SIGKILL, as a crash), restarted
(as compose's restart policy does), stopped (SIGTERM, as `docker compose stop`), and probed with its healthcheck.

Output goes to a log file per service in the test's folder (no pipe to fill or leave open); its tail is shown when a
process dies or stays unhealthy.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.topology.compose_local import Spec

HEALTH_TIMEOUT = 120.0  # a loaded 2-core machine starts a dozen Python processes slowly


class LocalProcess:
    """One running service: its spec, its process and its log."""

    def __init__(self, spec: Spec, logs: Path) -> None:
        self.spec = spec
        self.log = logs / f"{spec.name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def name(self) -> str:
        return self.spec.name

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.spec.argv, cwd=self.spec.cwd, env=self.spec.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no goodbye, nothing flushed, leases and messages left as they were."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def healthy(self) -> bool:
        """Whether its healthcheck command, run as compose runs it (in the container, with its environment),
        exits 0."""
        probe = subprocess.run(
            self.spec.healthcheck, cwd=self.spec.cwd, env=self.spec.env, capture_output=True, timeout=30, check=False
        )
        return probe.returncode == 0

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def failure(self, what: str) -> str:
        return f"{self.name} {what}; its log ends:\n{self.tail()}"

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if not self.alive():
                pytest.fail(self.failure("exited"))
            if time.monotonic() > deadline:
                pytest.fail(self.failure(f"is not healthy after {timeout:g} s"))
            time.sleep(0.5)
