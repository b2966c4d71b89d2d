"""The README's "Production topology" section matches compose.yaml: its table names every service and no other, each
platform service with the command compose runs, and its diagram shows every service."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HEADING = "## Production topology"


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text())["services"])


@pytest.fixture(scope="module")
def section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index(f"\n{HEADING}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end > 0 else len(readme)]


def rows(section: str) -> dict[str, list[str]]:
    """Each service the table names -> its row's cells (a first cell may name several: `api-1`, `api-2`)."""
    found: dict[str, list[str]] = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            found |= dict.fromkeys(re.findall(r"`([^`]+)`", cells[0]), cells)
    return found


def test_the_table_names_every_compose_service_and_no_other(services: dict[str, Any], section: str) -> None:
    assert sorted(rows(section)) == sorted(services)


def test_each_platform_service_runs_the_command_compose_gives_it(services: dict[str, Any], section: str) -> None:
    table = rows(section)
    for name, service in services.items():
        command = service.get("command") or []
        if command[:1] == ["platform"]:
            assert f"`{' '.join(command)}`" in table[name][1], name


def test_the_diagram_shows_every_service(services: dict[str, Any], section: str) -> None:
    diagram = section.split("```")[1]
    assert [name for name in services if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", diagram)] == []
