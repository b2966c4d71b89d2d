"""The PostgreSQL event-store URL carries the adapter's connection settings: schema, connect timeout and pool size."""

from __future__ import annotations

import pytest

from eventstore.adapters import UnknownEventStoreError, postgres_env

URL = "postgresql://platform:pw@db.example:6543/events"


def test_the_pool_keeps_eventsourcings_defaults_unless_the_url_says_otherwise() -> None:
    assert (postgres_env(URL)["POSTGRES_POOL_SIZE"], postgres_env(URL)["POSTGRES_MAX_OVERFLOW"]) == ("5", "10")
    given = postgres_env(f"{URL}?schema=s&pool_size=1&max_overflow=0&connect_timeout=3")
    assert given["POSTGRES_SCHEMA"] == "s"
    assert (given["POSTGRES_POOL_SIZE"], given["POSTGRES_MAX_OVERFLOW"], given["POSTGRES_CONNECT_TIMEOUT"]) == (
        "1",
        "0",
        "3",
    )


@pytest.mark.parametrize("query", ["pool_size=0", "pool_size=two", "max_overflow=-1", "pool_size="])
def test_a_pool_size_that_is_no_count_is_refused_in_one_line(query: str) -> None:
    with pytest.raises(UnknownEventStoreError, match=r"^the PostgreSQL event-store URL's \w+ must be a whole number"):
        postgres_env(f"{URL}?{query}")
