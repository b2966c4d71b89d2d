"""The harness that lays compose services out as local processes maps what cannot be the same here, and only that."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.topology.compose_local import ROOT, Container, Image, Local, interpolate, load, replicas
from tests.topology.stand_ins import make_secrets


def local_in(folder: Path) -> Local:
    local = Local(folder, {"nats:4222": "127.0.0.1:4999", "minio:9000": "127.0.0.1:9999"})
    local.databases["postgres"] = "postgresql://postgres@127.0.0.1:5432/t_1"
    local.event_store_url = "postgresql://postgres@127.0.0.1:5432/test?schema=t_2"
    return local


def test_compose_names_become_local_addresses_and_postgres_stands_in_for_kurrentdb(tmp_path: Path) -> None:
    local = local_in(tmp_path)
    assert local.text("nats://platform:4222x@nats:4222") == "nats://platform:4222x@127.0.0.1:4999"
    assert local.text("s3://k:s@b/p?endpoint_override=minio:9000&scheme=http") == (
        "s3://k:s@b/p?endpoint_override=127.0.0.1:9999&scheme=http"
    )
    assert local.text("postgresql://platform:pw@postgres:5432/platform") == "postgresql://postgres@127.0.0.1:5432/t_1"
    assert local.text("natsy:4222 nats:42220") == "natsy:4222 nats:42220"
    assert local.text("kurrentdb+discover://kurrentdb:2113?Tls=true") == local.event_store_url
    given = {"PLATFORM_EVENT_STORE": "eventstoredb", "PLATFORM_EVENT_STORE_URL": "esdb://kurrentdb:2113?Tls=false"}
    assert local.environment(given | {"PLATFORM_HOST": "0.0.0.0"}) == {
        "PLATFORM_EVENT_STORE": "postgres",
        "PLATFORM_EVENT_STORE_URL": local.event_store_url,
        "PLATFORM_HOST": "127.0.0.1",
    }


def test_interpolation_keeps_a_literal_dollar_and_refuses_a_variable() -> None:
    assert interpolate('"$$(cat /run/secrets/x)"') == '"$(cat /run/secrets/x)"'
    for text in ("${HOME}", "$HOME"):
        with pytest.raises(ValueError, match="cannot give"):
            interpolate(text)


def test_an_api_server_runs_the_images_entry_with_its_secrets_volume_and_own_port(tmp_path: Path) -> None:
    compose = load()
    make_secrets(tmp_path)
    container = Container(compose, "api-1", Image.built_here(), local_in(tmp_path), tmp_path)
    spec = container.spec()
    app = tmp_path / "containers" / "api-1" / "app"
    assert spec.argv == [str(app / "deploy" / "entrypoint.sh"), "platform", "serve"]
    assert (app / "deploy").resolve() == ROOT / "deploy"
    assert (spec.cwd, spec.env["PLATFORM_PORT"], spec.env["PLATFORM_HOST"]) == (app, str(spec.port), "127.0.0.1")
    assert spec.env["PLATFORM_EVENT_STORE"] == "postgres"
    assert spec.healthcheck[1:] == [str(app / "deploy" / "healthcheck.py"), f"http://127.0.0.1:{spec.port}/health"]
    secrets = Path(spec.env["SECRETS_DIR"])
    nats_password = re.findall(r'password: "([^"]+)"', (tmp_path / "secrets" / "nats_auth.conf").read_text())[0]
    assert (secrets / "PLATFORM_NATS_URL").read_text() == f"nats://platform:{nats_password}@127.0.0.1:4999"
    assert (secrets / "PLATFORM_READ_MODEL_URL").read_text() == "postgresql://postgres@127.0.0.1:5432/t_1"
    masking = Path(spec.env["PLATFORM_MASKING_KEY_FILE"])  # a shared key: the secret file, at its local path
    assert masking.read_bytes() == (tmp_path / "secrets" / "masking.key").read_bytes()


def test_natss_config_finds_its_volume_and_its_login_in_the_container_folder(tmp_path: Path) -> None:
    make_secrets(tmp_path)
    spec = Container(load(), "nats", Image(entrypoint=("nats-server",)), local_in(tmp_path), tmp_path).spec()
    root = tmp_path / "containers" / "nats"
    assert spec.argv == ["nats-server", "-c", str(root / "etc" / "nats" / "nats.conf")]
    config = (root / "etc" / "nats" / "nats.conf").read_text()
    assert f"store_dir: {root / 'data'}\n" in config
    assert "include ./auth.conf" in config
    assert (root / "etc" / "nats" / "auth.conf").read_text().startswith("authorization {")
    assert (root / "data").resolve() == tmp_path / "volumes" / "nats-data"


def test_a_service_compose_runs_several_times_gets_a_container_per_replica(tmp_path: Path) -> None:
    compose = load()
    compose["services"]["consumers"]["deploy"] = {"replicas": 2}
    make_secrets(tmp_path)
    assert replicas(compose["services"]["consumers"]) == [1, 2]
    assert replicas(compose["services"]["relay"]) == [0]
    image, local = Image.built_here(), local_in(tmp_path)
    specs = [Container(compose, "consumers", image, local, tmp_path, replica).spec() for replica in (1, 2)]
    assert [(spec.name, spec.service) for spec in specs] == [("consumers-1", "consumers"), ("consumers-2", "consumers")]
    assert specs[0].cwd != specs[1].cwd
    keys = [Path(spec.env["PLATFORM_MASKING_KEY_FILE"]).read_bytes() for spec in specs]
    assert keys[0] == keys[1]  # each replica reads the same shared key
