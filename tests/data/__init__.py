"""Data the tests read, kept inside the repository so a fresh clone passes on its own."""

from __future__ import annotations

from pathlib import Path

ODCS_EXAMPLES = Path(__file__).resolve().parent / "odcs-examples"
"""The ODCS project's published example contracts (Apache-2.0; see SOURCE.md and LICENSE beside them)."""
