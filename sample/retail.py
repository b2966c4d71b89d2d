"""Deterministic retail sales lines as CSV: ``python -m sample.retail OUT.csv --rows 10000 [--seed 7] [--defects]``.

The same arguments always write the same bytes. Lines belong to orders of 1-4 lines across 12 stores in five
countries over January-March 2026; about 4% are refunded. ``--defects`` adds the kinds of bad rows a real feed
has, so the quarantine has something to show: an unreadable quantity, a missing amount, an unknown country, and a
corrected re-send of an earlier line (same key, the later one wins).
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

CONTRACT = Path(__file__).with_name("retail-sales.odcs.yaml")
COLUMNS = (
    "order_id",
    "line",
    "ordered_at",
    "store",
    "country",
    "sku",
    "quantity",
    "unit_price",
    "amount",
    "refunded_amount",
    "status",
    "customer_email",
)
STORES = {
    "DE": ["berlin-mitte", "hamburg-altona", "munich-center"],
    "FR": ["paris-marais", "lyon-part-dieu", "lille-centre"],
    "NL": ["amsterdam-west", "utrecht-centraal"],
    "BE": ["brussels-louise", "antwerp-meir"],
    "AT": ["vienna-neubau", "graz-lend"],
}
SKUS = [f"SKU-{n:04d}" for n in range(1, 201)]
START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 90 * 24 * 3600


def lines(rows: int, seed: int = 7, defects: bool = False) -> Iterator[list[str]]:
    """``rows`` sales lines (plus a few defective ones with ``defects``), always the same for the same seed."""
    rng = random.Random(seed)
    countries = list(STORES)
    written, order = 0, 0
    while written < rows:
        order += 1
        country = rng.choice(countries)
        store = rng.choice(STORES[country])
        at = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        email = f"customer{rng.randrange(50_000)}@example.com" if rng.random() < 0.7 else ""
        refunded = rng.random() < 0.04
        for line in range(1, rng.randint(1, 4) + 1):
            if written >= rows:
                break
            quantity = rng.randint(1, 5)
            price = rng.choice((2.49, 4.99, 9.99, 19.9, 49.0, 129.0))
            amount = round(quantity * price, 2)
            yield [
                f"O-{order:08d}",
                str(line),
                at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                store,
                country,
                rng.choice(SKUS),
                str(quantity),
                f"{price:.2f}",
                f"{amount:.2f}",
                f"{amount:.2f}" if refunded else "0",
                "refunded" if refunded else "paid",
                email,
            ]
            written += 1
    if defects:
        yield from _defects(rng)


def _defects(rng: random.Random) -> Iterator[list[str]]:
    stamp = "2026-02-10T12:00:00+01:00"
    yield ["O-99999991", "1", stamp, "berlin-mitte", "DE", "SKU-0001", "three", "4.99", "14.97", "0", "paid", ""]
    yield ["O-99999992", "1", stamp, "paris-marais", "FR", "SKU-0002", "1", "4.99", "", "0", "paid", ""]
    yield ["O-99999993", "1", stamp, "nowhere", "XX", "SKU-0003", "1", "4.99", "4.99", "0", "paid", ""]
    # The first order's first line, sent again corrected: the later line wins.
    yield [
        "O-00000001",
        "1",
        "2026-01-01T00:00:00Z",
        "berlin-mitte",
        "DE",
        "SKU-0004",
        "1",
        "1.00",
        "1.00",
        "0",
        "paid",
        "",
    ]


def write_csv(path: Path, rows: int, seed: int = 7, defects: bool = False) -> Path:
    """Writes the lines as CSV with a header, streaming (any size in constant memory)."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(lines(rows, seed, defects))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample.retail", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the CSV file to write ('-' for standard output)")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--defects", action="store_true", help="add a few bad rows for the quarantine")
    args = parser.parse_args(argv)
    if str(args.out) == "-":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(lines(args.rows, args.seed, args.defects))
        return 0
    write_csv(args.out, args.rows, args.seed, args.defects)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
