"""The first start's platform-admin API key: a new one, or the one the operator made beforehand (`platform keys init`)
and every process shares (in-memory event store)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from application.access import AccessService, bootstrap_admin, key_digest, new_api_key, split_token
from application.commands import CommandContext, CommandRunner
from domain.errors import InvalidValueError
from eventstore.adapters import open_event_store

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture
def access() -> Iterator[AccessService]:
    store = open_event_store("memory")
    yield AccessService(CommandRunner(store, lambda: NOW))
    store.close()


def issued_event(access: AccessService, key_id: UUID) -> dict[str, str]:
    first = access.runner.store.read_stream(key_id)[0]
    assert first.type == "ApiKeyIssued"
    return dict(first.data)


def test_the_first_start_registers_the_key_the_operator_made_once(access: AccessService) -> None:
    made = new_api_key()
    prefix, secret = split_token(made) or ("", "")

    issued = bootstrap_admin(access, f"bootstrap-admin|key|{prefix}", made)

    assert issued is not None
    assert issued.token == made
    stored = issued_event(access, issued.key_id)
    assert (stored["prefix"], stored["digest"]) == (prefix, key_digest(stored["salt"], secret))
    assert bootstrap_admin(access, f"bootstrap-admin|key|{prefix}", made) is None  # later starts: nothing new


def test_without_one_the_first_start_makes_a_new_key(access: AccessService) -> None:
    issued = bootstrap_admin(access, "first-start")

    assert issued is not None
    assert split_token(issued.token) is not None


def test_a_key_not_shaped_like_an_api_key_is_refused_and_writes_nothing(access: AccessService) -> None:
    with pytest.raises(InvalidValueError, match="gdp_<12-character prefix>_<secret>"):
        access.create_api_key(CommandContext("platform", "bad-key", "bootstrap"), uuid4(), None, "gdp_short_x")
    assert access.runner.store.last_position() == 0
