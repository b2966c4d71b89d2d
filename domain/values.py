"""Value types several contexts share: what a value is, said once."""

from __future__ import annotations

from typing import NamedTuple


class Shard(NamedTuple):
    """This process's share of keyed work when ``total`` processes split it: the keys whose number modulo
    ``total`` is ``number`` (INDEX/COUNT in PLATFORM_WEBHOOK_SHARD)."""

    number: int
    total: int

    @classmethod
    def of(cls, number: int, total: int) -> Shard:
        if not 0 <= number < total:
            raise ValueError(f"shard {number} of {total} does not exist; shards are 0 to {total - 1}")
        return cls(number, total)
