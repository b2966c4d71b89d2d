"""A bad setting stops `platform` at start with one line naming the setting, a non-zero exit and no traceback."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.test_cli import PLATFORM
from tests.e2e.test_cli import env as cli_env

env = cli_env

KINDS = [
    ("PLATFORM_PORT", "abc", "PLATFORM_PORT='abc' is not a valid int"),
    ("PLATFORM_CONSISTENCY_TIMEOUT", "soon", "PLATFORM_CONSISTENCY_TIMEOUT='soon' is not a valid float"),
    ("PLATFORM_AUTH", "maybe", "PLATFORM_AUTH='maybe' is not one of on, off (unknown word 'maybe')"),
    (
        "PLATFORM_WEBHOOK_RETRY_SCHEDULE",
        "0,soon",
        "PLATFORM_WEBHOOK_RETRY_SCHEDULE='0,soon' is not comma-separated seconds (a retry schedule)",
    ),
    (
        "PLATFORM_WEBHOOK_SHARD",
        "2/2",
        "PLATFORM_WEBHOOK_SHARD='2/2' is not a shard: shard 2 of 2 does not exist; shards are 0 to 1",
    ),
    (
        "PLATFORM_READ_MODEL_URL",
        "var/readmodels.db",
        "PLATFORM_READ_MODEL_URL='var/readmodels.db' is not a sqlite:/// or postgresql:// URL",
    ),
    (
        "PLATFORM_LEDGER_ORIGIN",
        "my ledger",
        "PLATFORM_LEDGER_ORIGIN='my ledger' is not a checkpoint origin (a schema-less URL: no spaces, no '+')",
    ),
]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PLATFORM, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("variable", "text", "line"), KINDS, ids=[kind[0] for kind in KINDS])
def test_serve_stops_with_one_line_naming_the_setting(env: dict[str, str], variable: str, text: str, line: str) -> None:
    result = run(["serve"], {**env, variable: text})
    assert result.returncode == 2
    assert result.stderr.strip() == f"platform serve: {line}"
    assert result.stdout == ""


@pytest.mark.parametrize(("variable", "text", "line"), KINDS[::3], ids=[kind[0] for kind in KINDS[::3]])
def test_a_worker_command_stops_the_same_way(env: dict[str, str], variable: str, text: str, line: str) -> None:
    result = run(["orchestrator"], {**env, variable: text})
    assert result.returncode == 2
    assert result.stderr.strip() == f"platform orchestrator: {line}"
