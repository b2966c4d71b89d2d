"""compose.yaml proven where there is no Docker: every service of the platform's image runs as a local process with
compose's command, environment, secrets (written by deploy/make-secrets.sh), configs and volumes, against local
stand-ins of the infrastructure (tests/topology/stand_ins.py says which), started in compose's order on its
healthchecks. The demo flow runs twice through the two API servers in turn, with no proxy; one process of each
kind is killed (SIGKILL) mid-flow and restarted, as compose's restart policy would. Then every run has completed
exactly once, every read model equals a replay of the log, and `platform audit verify` passes.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID

import pytest

from interfaces.bootstrap import open_field_cipher, open_store
from interfaces.client import ApiError, Client
from interfaces.demo import run_demo
from tests.s3 import S3Server
from tests.topology.compose_local import load
from tests.topology.local_process import LocalProcess
from tests.topology.platform_services import PlatformServices
from tests.topology.stand_ins import infrastructure, make_secrets

pytestmark = [pytest.mark.postgres, pytest.mark.nats, pytest.mark.redis, pytest.mark.s3]

RUN_STEPS = ["Ingested", "Normalized", "KpisBuilt", "Published"]
KILLS = {  # (demo, the demo's progress line) -> the kinds of process killed right then; other kinds: LAST_KILL
    (1, "registered"): {"serve"},
    (1, "uploaded"): {"orchestrator", "consumers", "projections"},
    (2, "approved"): {"relay", "scheduler", "webhooks"},
}
LAST_KILL = (2, "uploaded")


class RoundRobin(Client):
    """Each request to the next API server in turn, as compose's proxy does; a server that refuses the connection
    (down, or not up again yet) is passed over, as the proxy's health checks pass over it."""

    def __init__(self, bases: list[str], api_key: str, served: Counter[str] | None = None) -> None:
        super().__init__(bases[0], api_key=api_key)
        self.bases, self.turns = bases, itertools.cycle(bases)
        self.served: Counter[str] = Counter() if served is None else served

    def as_key(self, api_key: str) -> Client:
        return RoundRobin(self.bases, api_key, self.served)

    def _send(self, method: str, path: str, data: bytes | BinaryIO | None, headers: Mapping[str, str]) -> Any:
        for _ in self.bases:
            self.base_url = next(self.turns)
            try:
                answer = super()._send(method, path, data, headers)
            except ApiError as error:
                if error.status != 0:  # 0: no connection, so nothing was sent
                    raise
                continue
            self.served[self.base_url] += 1
            return answer
        raise ApiError(0, f"no API server answers: {self.bases}")


class Crashes:
    """Kills one process of each kind at the demo's progress lines and restarts it at once."""

    def __init__(self, services: PlatformServices) -> None:
        self.services = services
        self.demo = 0
        self.killed: list[LocalProcess] = []
        self.refused_while_down: dict[str, bool] = {}
        planned = set().union(*KILLS.values())
        self.plan = {**KILLS, LAST_KILL: KILLS.get(LAST_KILL, set()) | (services.kinds() - planned)}

    def say(self, line: str) -> None:
        print(line)  # shown when the test fails
        for (demo, progress), kinds in self.plan.items():
            if demo == self.demo and progress in line:
                for kind in sorted(kinds):
                    self.crash(self.services.of_kind(kind)[0])

    def crash(self, process: LocalProcess) -> None:
        process.kill()
        self.refused_while_down[process.name] = not process.healthy()
        process.start()
        self.killed.append(process)


@pytest.fixture
def services(tmp_path: Path, s3_server: S3Server) -> Iterator[PlatformServices]:
    compose = load()
    make_secrets(tmp_path)
    with infrastructure(compose, tmp_path, s3_server) as local:
        started = PlatformServices(compose, local, tmp_path)
        try:
            started.start()
            yield started
        finally:
            started.stop()
            for process in started.processes.values():  # shown when the test fails
                print(f"--- {process.name} ({process.starts} starts):\n{process.tail()}")


def test_the_compose_topology_runs_the_demo_through_a_crash_of_every_kind(
    services: PlatformServices, tmp_path: Path
) -> None:
    admin = RoundRobin(services.api_bases(), services.bootstrap_key())
    crashes = Crashes(services)
    for demo in (1, 2):
        crashes.demo = demo
        published = run_demo(admin, tmp_path, 300, crashes.say)
        assert published["version"] == 1

    assert {services.kind(p.name) for p in crashes.killed} == services.kinds()
    assert all(crashes.refused_while_down[p.name] for p in crashes.killed if p.spec.port is not None)
    for process in crashes.killed:
        process.wait_healthy()
    assert all(process.alive() for process in services.processes.values()), "a process died after its restart"
    assert set(admin.served) == set(services.api_bases()), "both API servers served the flow"
    refused = [p.name for p in services.of_kind("serve") if "authentication failed" in p.log.read_text()]
    assert refused == [], "the demo tried a key before the read models had it"
    assert_every_run_completed_once(services, runs=2)
    replay = services.run("projections", "platform", "replay")
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "DIFFERENT" not in replay.stdout
    audit = services.run("projections", "platform", "audit", "verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr


def assert_every_run_completed_once(services: PlatformServices, runs: int) -> None:
    """In the event log itself: each run's stream holds each step once, and each run published one version."""
    settings = services.settings("projections")
    cipher = open_field_cipher(settings)
    store = open_store(settings, cipher)
    try:
        events = store.read_all(0, 100_000)
        ingested = [e for e in events if type(e.event).__name__ == "Ingested" and "pipeline" in e.topic]
        assert len(ingested) == runs
        for run in ingested:
            assert [type(r.event).__name__ for r in store.read_stream(UUID(str(run.stream_id)))] == RUN_STEPS
        assert len([e for e in events if type(e.event).__name__ == "VersionPublished"]) == runs
    finally:
        store.close()
        cipher.close()
