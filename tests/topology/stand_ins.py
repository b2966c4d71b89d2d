"""compose.yaml's infrastructure, here, each by the image it names:

| compose image | stands in here |
|---|---|
| postgres | the machine's PostgreSQL: a fresh database per test, reached as its trusted local user |
| kurrentdb | the machine's PostgreSQL as the event store (a schema of its own, a small pool): no KurrentDB server can |
|           | run here |
| minio | the moto S3 server the tests start (``tests/s3.py``); it takes any access key, so the secret's key is kept |
| nats | a nats-server of the test's own, run with compose's command, config (``deploy/nats.conf``: JetStream on the |
|      | volume, a login required) and the auth secret ``deploy/make-secrets.sh`` wrote; only its ports are mapped |
| redis | a redis-server of the test's own, run with compose's command (its password from the secret file) |
| caddy | none: the test is the proxy, alternating over the API servers (proxy-less) |
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import POSTGRES_URL, event_store_url_in, new_pg_database, new_pg_schema
from tests.s3 import S3Server, free_port
from tests.topology.compose_local import LOOPBACK, ROOT, Container, Image, Local, platform_image
from tests.topology.local_process import LocalProcess

PROXY_IMAGES = {"caddy"}
EVENT_STORE_POOL = "pool_size=1&max_overflow=4"
"""Here the event store shares the machine's PostgreSQL (100 connections) with the read models and other tests:
eventsourcing's default pool (5 kept open, up to 15) times a dozen processes would use it up."""
SBIN = "/usr/sbin:/usr/local/sbin:/usr/local/bin:/usr/bin"


def image_name(service: dict[str, Any]) -> str:
    """``quay.io/minio/minio:RELEASE...`` -> ``minio``."""
    return str(service["image"]).rsplit("/", 1)[-1].split(":")[0]


def make_secrets(folder: Path) -> None:
    """What the operator does before the first `docker compose up`: deploy/make-secrets.sh writes ./secrets."""
    subprocess.run(["sh", str(ROOT / "deploy" / "make-secrets.sh")], cwd=folder, check=True, capture_output=True)


@contextmanager
def infrastructure(compose: dict[str, Any], folder: Path, s3: S3Server) -> Iterator[Local]:
    """Every infrastructure service of compose.yaml standing in here, until the block ends."""
    local = Local(folder)
    postgres = urlsplit(POSTGRES_URL).netloc.rsplit("@", 1)[-1]
    with ExitStack() as stack:
        for name, service in compose["services"].items():
            if platform_image(service):
                continue
            image = image_name(service)
            if image == "postgres":
                local.databases[name] = stack.enter_context(new_pg_database())
                local.addresses[f"{name}:5432"] = postgres
            elif image == "kurrentdb":
                schema = stack.enter_context(new_pg_schema())
                local.event_store_url = f"{event_store_url_in(schema)}&{EVENT_STORE_POOL}"
                local.addresses[f"{name}:2113"] = postgres
            elif image == "minio":
                local.addresses[f"{name}:9000"] = s3.endpoint
            elif image in ("nats", "redis"):
                server = _server(compose, name, image, local, folder)
                stack.callback(server.stop)
                server.start()
                server.wait_healthy(30)
            elif image not in PROXY_IMAGES:
                pytest.fail(f"compose service {name} runs {service['image']}, which has no stand-in here")
        yield local


def _server(compose: dict[str, Any], name: str, image: str, local: Local, folder: Path) -> LocalProcess:
    """A nats-server or redis-server of the test's own, as compose runs it, on free loopback ports; it is healthy
    once its client port accepts connections (compose's own probes use wget and redis-cli from the images)."""
    port = free_port()
    if image == "nats":
        binary = shutil.which("nats-server", path=SBIN)
        if binary is None:
            pytest.skip("nats-server is not installed: compose's NATS (with its login) cannot run here")
        spec = Container(compose, name, Image(entrypoint=(binary,)), local, folder).spec()
        assert spec.port is not None, "compose's NATS healthcheck probes its monitoring port"
        command = [*spec.command, "-a", LOOPBACK, "-p", str(port), "-m", str(spec.port)]
        local.addresses[f"{name}:4222"] = f"{LOOPBACK}:{port}"
    else:
        spec = Container(compose, name, Image(), local, folder).spec()
        *shell, script = spec.command
        command = [*shell, f"{script} --bind {LOOPBACK} --port {port}"]
        local.addresses[f"{name}:6379"] = f"{LOOPBACK}:{port}"
    probe = [sys.executable, str(ROOT / "deploy" / "healthcheck.py"), f"{LOOPBACK}:{port}"]
    return LocalProcess(dataclasses.replace(spec, command=command, healthcheck=probe), folder / "logs")
