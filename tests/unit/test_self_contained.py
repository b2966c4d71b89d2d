"""A fresh clone has nothing beside it: no test may reach for files outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"""parents\[\d+\]\.parent\b|["']shared["']\s*/|/work/shared""")
"""The shapes a path outside the repository took: the parent of the root, the shared folder beside it."""


def test_no_test_reads_beside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path.name != Path(__file__).name
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == [], "tests read outside the repository:\n" + "\n".join(offenders)


def test_the_vendored_odcs_examples_keep_their_licence() -> None:
    examples = ROOT / "tests" / "data" / "odcs-examples"
    assert "Apache License" in (examples / "LICENSE").read_text()
    assert "bitol-io/open-data-contract-standard" in (examples / "SOURCE.md").read_text()
