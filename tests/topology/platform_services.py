"""The platform's own services of compose.yaml (those built from the Dockerfile) as local processes: started as
compose starts them, each once the services it depends on are healthy; one-off commands run in a service's
container (`docker compose run --rm SERVICE ...`); and the settings a service ends up with, for the test's checks.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from adapters.keys.shared import BOOTSTRAP_ADMIN_FILE
from interfaces.platform_keys import shared_bootstrap_key
from interfaces.settings import Settings
from tests.topology.compose_local import Container, Image, Local, platform_image, replicas, start_order
from tests.topology.local_process import HEALTH_TIMEOUT, LocalProcess


class PlatformServices:
    """Every platform service of the compose file, each a local process."""

    def __init__(self, compose: dict[str, Any], local: Local, folder: Path) -> None:
        image = Image.built_here()
        self.services: dict[str, dict[str, Any]] = compose["services"]
        names = {name for name, service in self.services.items() if platform_image(service)}
        self.order = start_order(self.services, names)
        self.processes: dict[str, LocalProcess] = {}
        for name in self.order:
            for replica in replicas(self.services[name]):
                spec = Container(compose, name, image, local, folder, replica).spec()
                self.processes[spec.name] = LocalProcess(spec, folder / "logs")

    def kind(self, name: str) -> str:
        """What the service runs: the `platform` command's first word (serve, relay, projections...)."""
        return self.processes[name].spec.command[1]

    def of_kind(self, kind: str) -> list[LocalProcess]:
        return [process for name, process in self.processes.items() if self.kind(name) == kind]

    def kinds(self) -> set[str]:
        return {self.kind(name) for name in self.processes}

    def start(self) -> None:
        """Starts every container once the services it depends on (among these) are healthy, as compose does: a
        service is healthy when each of its replicas is."""
        healthy: set[str] = set()
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while len(healthy) < len(self.processes):
            for process in self.processes.values():
                needs = set(self.services[process.spec.service].get("depends_on") or {}) & set(self.order)
                if process.process is None and needs <= self._services_in(healthy):
                    process.start()
            for name, process in self.processes.items():
                if process.process is not None and name not in healthy and self._healthy(process):
                    healthy.add(name)
            if time.monotonic() > deadline:
                pytest.fail(f"not healthy after {HEALTH_TIMEOUT:g} s: {set(self.processes) - healthy}")
            time.sleep(0.5)

    def _services_in(self, containers: set[str]) -> set[str]:
        """The services all of whose containers are among these."""
        unready = {p.spec.service for name, p in self.processes.items() if name not in containers}
        return set(self.order) - unready

    def _healthy(self, process: LocalProcess) -> bool:
        if not process.alive():
            pytest.fail(process.failure("exited"))
        return process.healthy()

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            process.stop()

    def api_bases(self) -> list[str]:
        """The base URLs of the API servers (the services compose puts behind the proxy)."""
        return [f"http://127.0.0.1:{p.spec.port}" for p in self.of_kind("serve")]

    def first(self, service: str) -> LocalProcess:
        """The service's (first) container."""
        return next(p for p in self.processes.values() if p.spec.service == service)

    def run(self, service: str, *command: str) -> subprocess.CompletedProcess[str]:
        """A one-off command in a container of the service, as `docker compose run --rm SERVICE COMMAND` runs it."""
        spec = self.first(service).spec
        argv = [*spec.entrypoint, *command]
        ran = subprocess.run(argv, cwd=spec.cwd, env=spec.env, capture_output=True, text=True, timeout=300, check=False)
        return ran

    def settings(self, service: str) -> Settings:
        """The service's settings as its entry script makes them (each PLATFORM_* secret file a variable), relative
        paths taken in its container's working folder."""
        spec = self.first(service).spec
        given = {file.name: file.read_text() for file in Path(spec.env["SECRETS_DIR"]).glob("PLATFORM_*")}
        settings = Settings.from_env(spec.env | given)
        local = {"keys_dir": settings.keys_dir, "scratch_dir": settings.scratch_dir, "datasets": settings.datasets}
        inside = {key: str(spec.cwd / path) for key, path in local.items() if "://" not in path}
        return Settings.from_env(spec.env | given, **inside)

    def bootstrap_key(self) -> str:
        """The bootstrap platform-admin key: the shared key file compose names, else the one the first API server
        wrote into its keys folder."""
        settings = self.settings(self.of_kind("serve")[0].spec.service)
        shared = shared_bootstrap_key(settings.keys)
        return shared or (Path(settings.keys_dir) / BOOTSTRAP_ADMIN_FILE).read_text().strip()
