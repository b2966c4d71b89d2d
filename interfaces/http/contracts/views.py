"""The request bodies and command answers of the contract registry's HTTP API (query answers are the read
model's: projections/contract_queries.py)."""

from __future__ import annotations

from typing import Annotated

import msgspec

Version = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class VersionCommand(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: Version
    reason: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class RejectVersion(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: Version
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class Accepted(msgspec.Struct, frozen=True):
    contract_id: str
    contract: str
    version: str
    position: int
