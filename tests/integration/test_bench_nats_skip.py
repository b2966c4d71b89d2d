"""The NATS figures skip, rather than fail, where no NATS server answers."""

from __future__ import annotations

from pathlib import Path

import pytest

import bench.jetstream
import bench.nats  # registers the figures
from bench.harness import REGISTRY, Config, measure


@pytest.mark.parametrize("name", ["relay.publish", "consumer.feed", "command.latency"])
def test_a_figure_skips_when_nats_does_not_answer(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.jetstream, "NATS_URL", "nats://127.0.0.1:1")  # nothing listens on port 1

    result = measure(REGISTRY[name], Config(quick=True, workdir=tmp_path))

    assert (result.status, result.rounds) == ("skipped", [])
    assert "no NATS JetStream at nats://127.0.0.1:1" in result.detail
    assert not list(tmp_path.iterdir())  # skipped before it wrote anything
