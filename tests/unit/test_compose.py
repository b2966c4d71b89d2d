"""compose.yaml and the Dockerfile, checked where no Docker engine runs: the file is a valid Compose file, and it
keeps the topology's rules (a healthcheck on every service, no published port but the proxy's, startup ordered on
health, secrets as files, `platform` commands and settings that exist); the image's user can write its data folder.

Validity is checked by the `compose-spec` package, the Python binding of the Rust compose_spec crate: a strict
parser of the Compose Specification (unknown keys, wrong types and unknown conditions refused). YAML merge keys
(``<<``) are resolved first by PyYAML, as Compose resolves them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_spec import PyCompose

from adapters.keys.shared import SHARED_FILES
from interfaces.cli.main import parser
from interfaces.platform_keys import SHARED_KEY_SETTINGS, variable
from interfaces.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PROXY = "proxy"
INFRASTRUCTURE = {"kurrentdb", "nats", "postgres", "minio", "redis", PROXY}
WORKERS = {"relay", "projections", "consumers", "orchestrator", "scheduler", "webhooks"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def platform_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: service for name, service in services.items() if service.get("command", [""])[0] == "platform"}


def test_the_file_is_a_valid_compose_file(compose: dict[str, Any]) -> None:
    parsed = PyCompose.from_json(json.dumps(compose)).to_dict()
    assert set(parsed["services"]) == set(compose["services"])


@pytest.mark.parametrize(
    ("service", "refused"),
    [({"helthcheck": {}}, "helthcheck"), ({"depends_on": {"b": {"condition": "service_nice"}}}, "service_nice")],
)
def test_a_strict_parser_refuses_what_compose_would(service: dict[str, Any], refused: str) -> None:
    """The validator is not a rubber stamp: a misspelt key or an unknown condition is refused."""
    with pytest.raises(ValueError, match=refused):
        PyCompose.from_json(json.dumps({"services": {"a": {"image": "x", **service}}}))


def test_the_topology_has_its_parts(services: dict[str, dict[str, Any]]) -> None:
    serving = [name for name, s in platform_services(services).items() if s["command"][1] == "serve"]
    assert set(services) >= INFRASTRUCTURE
    assert set(platform_services(services)) >= WORKERS
    assert len(serving) >= 2


def test_every_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    unchecked = [name for name, s in services.items() if not s.get("healthcheck", {}).get("test")]
    disabled = [name for name, s in services.items() if s.get("healthcheck", {}).get("disable")]
    assert (unchecked, disabled) == ([], [])


def test_only_the_proxy_publishes_a_port(services: dict[str, dict[str, Any]]) -> None:
    assert {name for name, s in services.items() if s.get("ports")} == {PROXY}


def test_every_service_waits_for_what_it_depends_on_to_be_healthy(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on must name a condition"
        for other, rule in depends_on.items():
            assert other in services
            assert rule == {"condition": "service_healthy"}, f"{name} -> {other}"


def test_every_platform_command_exists_in_the_cli(services: dict[str, dict[str, Any]]) -> None:
    for name, service in platform_services(services).items():
        arguments = parser().parse_args(service["command"][1:])  # SystemExit on an unknown command or argument
        assert arguments.command == service["command"][1], name


def test_every_setting_named_exists(services: dict[str, dict[str, Any]]) -> None:
    known = {f"PLATFORM_{field.name.upper()}" for field in fields(Settings)}
    for name, service in platform_services(services).items():
        named = [k for k in service["environment"] if k.startswith("PLATFORM_")]
        named += [s["target"] for s in service.get("secrets", []) if s["target"].startswith("PLATFORM_")]
        assert set(named) <= known, f"{name}: {set(named) - known}"


def test_credentials_arrive_as_secret_files(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    made = (ROOT / "deploy" / "make-secrets.sh").read_text()
    by_keys_init = set(SHARED_FILES) if 'keys init --dir "$dir"' in made else set()
    for secret in compose["secrets"].values():
        name = Path(secret["file"]).name
        assert name in by_keys_init or f'"$dir/{name}"' in made  # deploy/make-secrets.sh writes every one
    for name, service in services.items():
        values = " ".join(str(v) for v in (service.get("environment") or {}).values())
        assert not re.search(r"://[^/@\s]*:[^/@\s]*@", values), f"{name}: a password in the environment"
    for config in compose["configs"].values():
        assert (ROOT / config["file"]).is_file()


def test_every_platform_service_reads_the_same_shared_key_files(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """Each shared key setting names a file mounted from the secret `platform keys init` made for it, in every
    platform service alike; no service keeps keys of its own (no volume at the keys folder)."""
    for name, service in platform_services(services).items():
        mounted = {f"/run/secrets/{s['target']}": compose["secrets"][s["source"]]["file"] for s in service["secrets"]}
        for setting, file in SHARED_KEY_SETTINGS.items():
            named = service["environment"][variable(setting)]
            assert Path(mounted[named]).name == file, f"{name}: {variable(setting)}"
        assert not [v for v in service.get("volumes", []) if v.endswith(":/app/var/keys")], name


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_images_user_owns_the_data_folder_every_default_points_into() -> None:
    instructions = dockerfile()
    user = next(value for kind, value in reversed(instructions) if kind == "USER")
    workdir = Path(next(value for kind, value in reversed(instructions) if kind == "WORKDIR"))
    data = workdir / "var"
    commands = [shlex.split(value) for kind, value in instructions if kind == "RUN"]
    words = [word for command in commands for word in command]
    assert user not in ("root", "nobody", "0")
    assert words[words.index("useradd") :].count(user) == 1  # the user is made in the image
    assert str(data) in words[words.index("mkdir") :]
    chown = words.index("chown")
    assert words[chown + 1 : chown + 4] == ["-R", f"{user}:{user}", str(data)]
    defaults = Settings()
    for path in (defaults.keys_dir, defaults.datasets, defaults.scratch_dir, defaults.event_store_url):
        assert (workdir / path).is_relative_to(data), path
    assert defaults.read_model_url.removeprefix("sqlite:///").startswith("var/")


def test_the_image_holds_the_sample_and_its_entry_script() -> None:
    instructions = dockerfile()
    copied = {value.split()[0] for kind, value in instructions if kind == "COPY"}
    entry = json.loads(next(value for kind, value in instructions if kind == "ENTRYPOINT"))
    assert {"sample", "deploy"} <= copied
    assert entry == ["/app/deploy/entrypoint.sh"]
    assert os.access(ROOT / "deploy" / "entrypoint.sh", os.X_OK)
