"""The image's two scripts, run as the container runs them: the entry script turns secret files into settings, and
the health probe answers 0 only when every target answers."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.s3 import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_entry_script_turns_each_platform_secret_into_its_setting(tmp_path: Path) -> None:
    (tmp_path / "PLATFORM_NATS_URL").write_text("nats://platform:s3cret@nats:4222")
    (tmp_path / "postgres_password").write_text("not a setting")
    env = {"PATH": "/usr/bin:/bin", "SECRETS_DIR": str(tmp_path)}
    shown = subprocess.run(["sh", DEPLOY / "entrypoint.sh", "env"], env=env, capture_output=True, text=True, check=True)
    assert "PLATFORM_NATS_URL=nats://platform:s3cret@nats:4222" in shown.stdout.splitlines()
    assert "not a setting" not in shown.stdout


def probe(*targets: str) -> int:
    return subprocess.run(
        [sys.executable, DEPLOY / "healthcheck.py", *targets], capture_output=True, check=False
    ).returncode


def test_the_probe_is_healthy_only_when_every_target_answers() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        open_port = f"127.0.0.1:{listening.getsockname()[1]}"
        closed_port = f"127.0.0.1:{free_port()}"
        assert probe(open_port) == 0
        assert probe(open_port, closed_port) == 1
        assert probe(f"http://{closed_port}/health") == 1
