"""Settings are read once, at start, into typed values; a bad one stops the start with one line naming it."""

from __future__ import annotations

import ipaddress
from dataclasses import fields

import pytest

from domain.values import Shard
from interfaces.settings import EventStoreKind, Placement, Quota, Settings, SettingsError, Switch
from interfaces.settings import values as read


def test_the_environment_gives_typed_values() -> None:
    settings = Settings.from_env(
        {
            "PLATFORM_PORT": "8080",
            "PLATFORM_POLL_INTERVAL": "0.5",
            "PLATFORM_EVENT_STORE": "Postgres",
            "PLATFORM_AUTH": "off",
            "PLATFORM_ORCHESTRATOR": "off",
            "PLATFORM_WEBHOOK_RETRY_SCHEDULE": "0, 5,300",
            "PLATFORM_WEBHOOK_SHARD": "1/3",
            "PLATFORM_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8, ::1/128",
            "PLATFORM_RATE_LIMIT_TENANT": "off",
            "PLATFORM_RATE_LIMIT_CLIENT": "5/10",
            "PLATFORM_CORS_ORIGINS": "https://app.example/, https://admin.example:8443",
            "PLATFORM_LOG_LEVEL": "debug",
        }
    )
    assert (settings.port, settings.poll_interval) == (8080, 0.5)
    assert (settings.event_store, settings.auth, settings.orchestrator) == (
        EventStoreKind.POSTGRES,
        Switch.OFF,
        Placement.OFF,
    )
    assert settings.webhook_retry_schedule == (0.0, 5.0, 300.0)
    assert settings.webhook_shard == Shard(1, 3)
    assert settings.webhook_allowed_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert (settings.rate_limit_tenant, settings.rate_limit_client) == (None, Quota("client", 5, 10))
    assert settings.cors_origins == ("https://app.example", "https://admin.example:8443")
    assert settings.log_level == "DEBUG"


def test_the_defaults_read_as_their_variables_would() -> None:
    """Each typed default is what its variable's documented text reads to, so PLATFORM_* defaults keep their meaning."""
    documented = {
        "PLATFORM_RATE_LIMIT_PRINCIPAL": "600/60",
        "PLATFORM_RATE_LIMIT_TENANT": "3000/60",
        "PLATFORM_RATE_LIMIT_CLIENT": "600/60",
        "PLATFORM_RATE_LIMIT_AUTH_FAILURES": "20/60",
        "PLATFORM_WEBHOOK_RETRY_SCHEDULE": "0,5,300,1800,7200,18000,36000,86400",
        "PLATFORM_WEBHOOK_SHARD": "0/1",
        "PLATFORM_EVENT_STORE": "sqlite",
        "PLATFORM_AUTH": "on",
        "PLATFORM_PROJECTIONS": "inprocess",
        "PLATFORM_LOG_FORMAT": "text",
    }
    assert Settings.from_env(documented) == Settings() == Settings.from_env({})


def test_overrides_are_read_like_their_variables() -> None:
    settings = Settings.from_env({"PLATFORM_PORT": "1"}, port=2, projections="off", host=None)
    assert (settings.port, settings.projections, settings.host) == (2, Placement.OFF, "127.0.0.1")
    with pytest.raises(SettingsError, match=r"^PLATFORM_PORT='x' is not a valid int$"):
        Settings.from_env({}, port="x")


@pytest.mark.parametrize(
    ("variable", "text", "says"),
    [
        ("PLATFORM_PORT", "abc", "is not a valid int"),
        ("PLATFORM_PORT", "70000", "is not a port"),
        ("PLATFORM_MAX_BATCH_ROWS", "-5", "is not 0 or more"),
        ("PLATFORM_CONSISTENCY_TIMEOUT", "soon", "is not a valid float"),
        ("PLATFORM_POLL_INTERVAL", "nan", "is not a finite number"),
        ("PLATFORM_WEBHOOK_TIMEOUT", "-1", "is not a finite number of 0 or more"),
        ("PLATFORM_LEASE_TTL", "0", "is not above 0"),
        ("PLATFORM_EVENT_STORE", "oracle", "unknown event store 'oracle'"),
        ("PLATFORM_ORCHESTRATOR", "maybe", "is not one of inprocess, off"),
        ("PLATFORM_AUTH", "yes", "is not one of on, off"),
        ("PLATFORM_LOG_FORMAT", "xml", "is not one of text, json"),
        ("PLATFORM_LOG_LEVEL", "loud", "is not a logging level"),
        ("PLATFORM_WEBHOOK_RETRY_SCHEDULE", "a,b", "is not comma-separated seconds"),
        ("PLATFORM_WEBHOOK_SHARD", "3/3", "shard 3 of 3 does not exist"),
        ("PLATFORM_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/33", "is not a list of CIDR blocks"),
        ("PLATFORM_CORS_ORIGINS", "app.example", "is not an origin"),
        ("PLATFORM_RATE_LIMIT_TENANT", "ten/60", "is not N/W"),
        ("PLATFORM_NATS_URL", "http://127.0.0.1:4222", "is not a nats or tls or ws or wss URL"),
        ("PLATFORM_JWKS_URL", "ftp://issuer.example/jwks", "is not a https or http URL"),
        ("PLATFORM_URL", "127.0.0.1:8000", "is not a http or https URL"),
        ("PLATFORM_READ_MODEL_URL", "mysql://db/rm", "is not a sqlite:/// or postgresql:// URL"),
        ("PLATFORM_LEDGER_ORIGIN", "a+b.example/ledger", "is not a checkpoint origin"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_variable(variable: str, text: str, says: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({variable: text})
    line = str(refused.value)
    assert line.startswith(f"{variable}={text!r} ")
    assert says in line
    assert "\n" not in line


def test_every_setting_belongs_to_exactly_one_group() -> None:
    settings = Settings()
    groups = [
        settings.stores,
        settings.http,
        settings.limits,
        settings.pipeline,
        settings.process_managers,
        settings.webhooks,
        settings.keys,
        settings.telemetry,
        settings.nats,
        settings.ledger,
    ]
    grouped = [f.name for group in groups for f in fields(group)]
    assert sorted(grouped) == sorted(f.name for f in fields(Settings))
    assert settings.webhooks.webhook_shard == settings.webhook_shard


@pytest.mark.parametrize(
    ("text", "schedule"), [("0,5,300", (0.0, 5.0, 300.0)), ("0.5", (0.5,)), (" 1 , 2 ", (1.0, 2.0))]
)
def test_a_schedule_is_comma_separated_seconds(text: str, schedule: tuple[float, ...]) -> None:
    assert read.schedule(text) == schedule


@pytest.mark.parametrize("text", ["", "a,b", "1,-1", "inf", "nan"])
def test_a_schedule_that_is_not_waits_in_seconds_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="schedule"):
        read.schedule(text)


def test_the_environment_of_settings_gives_them_back() -> None:
    settings = Settings(port=9, rate_limit_client=None, consistency_timeout=2.5)
    assert Settings.from_env(settings.environment()) == settings
    assert settings.environment()["PLATFORM_RATE_LIMIT_CLIENT"] == "off"
