"""A compose service laid out as a local process: compose's command, environment, secrets, configs and volumes,
with only what cannot be the same here mapped (compose.yaml itself is read as it is, so the harness follows it):

- host names: a compose ``service:port`` becomes ``127.0.0.1`` and the port of its local stand-in (``Local``), and
  a PostgreSQL URL naming a compose database service becomes the test's database (its user and database name);
- the event store: compose names KurrentDB, which cannot run here, so PostgreSQL stands in (a schema of its own);
- container paths: each service gets a folder standing for its container's file system; under the image's WORKDIR
  it holds links to what the Dockerfile copies from the repository and a ``var/`` of its own, each volume is a link
  to one shared folder, each secret a file under ``run/secrets``, each config a copy with its paths mapped;
- ports: listening on every interface becomes loopback, and a server's container port a free port here.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from tests.s3 import free_port
from tests.unit.test_compose import dockerfile

ROOT = Path(__file__).resolve().parents[2]
SECRETS = "/run/secrets"
EVERY_INTERFACE = "0.0.0.0"
LOOPBACK = "127.0.0.1"
KURRENTDB_SCHEMES = ("esdb", "kurrentdb")


def load(path: Path = ROOT / "compose.yaml") -> dict[str, Any]:
    """The compose file, YAML merge keys (``<<``) resolved as Compose resolves them."""
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def interpolate(value: object) -> str:
    """A value as Compose passes it on: ``$$`` is a literal ``$``. A ``${VARIABLE}`` is refused: it would take the
    operator's environment, which this harness does not have."""
    text = str(value)
    if re.search(r"\$[{\w]", text.replace("$$", "")):
        raise ValueError(f"compose interpolates a variable the harness cannot give: {text}")
    return text.replace("$$", "$")


def start_order(services: dict[str, dict[str, Any]], names: set[str]) -> list[str]:
    """The named services, each after those of them it depends on."""
    graph = {name: set(services[name].get("depends_on") or {}) & names for name in names}
    return list(TopologicalSorter(graph).static_order())


def replicas(service: dict[str, Any]) -> list[int]:
    """The replica numbers of a service compose runs several times (``deploy.replicas``), or [0] for one."""
    count = int((service.get("deploy") or {}).get("replicas", 1))
    return list(range(1, count + 1)) if count > 1 else [0]


def platform_image(service: dict[str, Any]) -> bool:
    """Whether the service runs the image this repository builds (the Dockerfile)."""
    return "build" in service


@dataclass
class Local:
    """The local stand-ins of compose's infrastructure: where each ``service:port`` is reached, the PostgreSQL
    database standing in for each compose database service, and the event store standing in for KurrentDB."""

    folder: Path
    addresses: dict[str, str] = field(default_factory=dict)
    databases: dict[str, str] = field(default_factory=dict)
    event_store_url: str = ""

    def text(self, text: str) -> str:
        """A value with each compose ``host:port`` replaced by its local address, a URL of a database service by
        the local database's, and a KurrentDB URL by the event store standing in for it (in the environment or in
        a secret file alike)."""
        parts = urlsplit(text) if re.match(r"^[a-z][\w+.-]*://", text) else None
        if parts is not None and parts.scheme.split("+")[0] in KURRENTDB_SCHEMES:
            return self.event_store_url
        if parts is not None and parts.scheme.startswith("postgres") and parts.hostname in self.databases:
            local = urlsplit(self.databases[parts.hostname])
            return urlunsplit(parts._replace(netloc=local.netloc, path=local.path))
        return re.sub(r"(?<![\w.-])[a-z][\w.-]*:\d+\b", lambda m: self.addresses.get(m[0], m[0]), text)

    def environment(self, environment: dict[str, str]) -> dict[str, str]:
        """The service's settings as they run here: addresses mapped, PostgreSQL standing in for KurrentDB."""
        mapped = {name: self.text(value) for name, value in environment.items()}
        mapped = {name: LOOPBACK if value == EVERY_INTERFACE else value for name, value in mapped.items()}
        if mapped.get("PLATFORM_EVENT_STORE") == "eventstoredb":
            mapped["PLATFORM_EVENT_STORE"] = "postgres"
        return mapped

    def volume(self, name: str) -> Path:
        """The folder of a named volume, shared by every service that mounts it."""
        folder = self.folder / "volumes" / name
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return folder


@dataclass(frozen=True)
class Image:
    """What the service's image brings: its entry point and default command, its WORKDIR and what it copies there
    from the repository (the Dockerfile, for the platform's image)."""

    entrypoint: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    workdir: str = "/"
    copied: tuple[tuple[str, str], ...] = ()

    @classmethod
    def built_here(cls) -> Image:
        instructions = dockerfile()
        last = dict(instructions)
        copied: list[tuple[str, str]] = []
        for sources, target in (value.rsplit(None, 1) for kind, value in instructions if kind == "COPY"):
            names = sources.split()
            into = len(names) > 1 or target.endswith("/")
            copied += [(name, f"{target.rstrip('/')}/{name}" if into else target) for name in names]
        return cls(
            tuple(json.loads(last["ENTRYPOINT"])), tuple(json.loads(last["CMD"])), last["WORKDIR"], tuple(copied)
        )


@dataclass(frozen=True)
class Spec:
    """A service ready to run here: its command line, environment, working folder and healthcheck command."""

    name: str
    """The container's name: the service's, or with its replica's number when compose runs several."""
    service: str
    entrypoint: list[str]
    command: list[str]
    env: dict[str, str]
    cwd: Path
    healthcheck: list[str]
    port: int | None = None
    """The local port its container port maps to, when it listens."""

    @property
    def argv(self) -> list[str]:
        return [*self.entrypoint, *self.command]


class Container:
    """One compose service's folder, standing for its container's file system, and the spec to run it here."""

    def __init__(
        self, compose: dict[str, Any], name: str, image: Image, local: Local, project: Path, replica: int = 0
    ) -> None:
        self.compose, self.service_name, self.image, self.local, self.project = compose, name, image, local, project
        self.name = f"{name}-{replica}" if replica else name
        self.service: dict[str, Any] = compose["services"][name]
        self.root = local.folder / "containers" / self.name
        self.mounts: dict[str, Path] = {}

    def spec(self, executable: tuple[str, ...] = ()) -> Spec:
        """Lays out the container's folder and answers the spec; a service that listens (its healthcheck probes its
        own loopback port) gets a free port here for its container port."""
        self._lay_out()
        environment = {name: interpolate(value) for name, value in (self.service.get("environment") or {}).items()}
        listens_on = self.listens_on()
        port = free_port() if listens_on is not None else None
        own: dict[str, str] = {}
        if port is not None:
            self.local.addresses.setdefault(f"{self.service_name}:{listens_on}", f"{LOOPBACK}:{port}")
            own = {f"{host}:{listens_on}": f"{LOOPBACK}:{port}" for host in (LOOPBACK, "localhost")}
            environment |= {"PLATFORM_PORT": str(port)} if platform_image(self.service) else {}
        env = {"PATH": f"{Path(sys.executable).parent}:{os.defpath}", "TMPDIR": str(self._made("tmp"))}
        environment = {name: self.in_container(value) for name, value in environment.items()}
        env |= {"SECRETS_DIR": str(self.path(SECRETS))} | self.local.environment(environment)
        command = self.service.get("command") or list(self.image.command)
        entrypoint = [*executable, *(self.mapped(part) for part in self.image.entrypoint)]
        command = [self.mapped(interpolate(part)) for part in command]
        cwd = self.path(self.image.workdir)
        return Spec(self.name, self.service_name, entrypoint, command, env, cwd, self._healthcheck(own), port)

    def listens_on(self) -> int | None:
        """The container port the service's healthcheck probes on its own loopback, if it does."""
        test = " ".join(self.service.get("healthcheck", {}).get("test") or [])
        found = re.search(rf"(?:{re.escape(LOOPBACK)}|localhost):(\d+)", test)
        return int(found[1]) if found else None

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def mapped(self, text: str) -> str:
        """A text with the container's paths made paths of its folder, and compose's addresses made local ones."""
        return self.local.text(self.in_container(text))

    def in_container(self, text: str) -> str:
        """A text with the container's paths (WORKDIR, secrets, mounts) made paths of its folder."""
        known = sorted({self.image.workdir, SECRETS, *self.mounts} - {"/"}, key=len, reverse=True)
        pattern = "|".join(re.escape(path) for path in known)
        return re.sub(rf"(?<![\w/.])(?:{pattern})(?=[/\s\"']|$)", lambda m: str(self.path(m[0])), text)

    def _made(self, container_path: str) -> Path:
        folder = self.path(container_path)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _lay_out(self) -> None:
        workdir = self._made(self.image.workdir)
        for source, target in self.image.copied:
            link = workdir / target
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(ROOT / source)
        self._made(f"{self.image.workdir}/var")
        for volume in self.service.get("volumes") or []:
            source, target = volume.split(":")[:2]
            shared = self.local.volume(source) if not source.startswith((".", "/")) else self.project / source
            self.mounts[target] = shared
            self.path(target).parent.mkdir(parents=True, exist_ok=True)
            self.path(target).symlink_to(shared)
        for kind in ("secrets", "configs"):
            for entry in self.service.get(kind) or []:
                self._mount_file(kind, entry)

    def _mount_file(self, kind: str, entry: str | dict[str, str]) -> None:
        """A secret (under /run/secrets unless its target is absolute) or a config, its text mapped."""
        source = entry if isinstance(entry, str) else entry["source"]
        target = entry if isinstance(entry, str) else entry.get("target", source)
        if kind == "secrets" and not target.startswith("/"):
            target = f"{SECRETS}/{target}"
        file = self.compose[kind][source]["file"]
        self.mounts[target] = self.path(target)
        found = self.project / file if (self.project / file).exists() else ROOT / file
        self.path(target).parent.mkdir(parents=True, exist_ok=True)
        content = found.read_bytes()
        try:
            text = content.decode()
        except UnicodeDecodeError:  # a key made by `platform keys init`: bytes, copied as they are
            self.path(target).write_bytes(content)
            return
        self.path(target).write_text(self.mapped(text) if kind == "configs" else self.local.text(text))

    def _healthcheck(self, own: dict[str, str]) -> list[str]:
        """The healthcheck's command here; ``own`` maps the container's loopback addresses to the local port."""
        test = list(self.service.get("healthcheck", {}).get("test") or [])
        argv = test[1:] if test[:1] == ["CMD"] else ["sh", "-c", *test[1:]]
        argv = [self.mapped(interpolate(part)) for part in argv]
        for address, local in own.items():
            argv = [part.replace(address, local) for part in argv]
        return argv
