"""TenantAccess: a tenant's admin reaches only the tenant's own principals and keys (in-memory event store)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from application.access import AccessService
from application.commands import CommandContext, CommandRunner
from application.tenant_access import TenantAccess
from domain.access import ApiKey
from domain.errors import NotFoundError
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
ACME, GLOBEX = str(uuid4()), str(uuid4())


def context() -> CommandContext:
    return CommandContext("user:admin", f"cmd-{uuid4()}", "corr-1")


@pytest.fixture
def store() -> Iterator[RecorderEventStore]:
    memory = open_event_store("memory")
    yield memory
    memory.close()


@pytest.fixture
def access(store: RecorderEventStore) -> TenantAccess:
    return TenantAccess(AccessService(CommandRunner(store, lambda: NOW)))


def loader(access: TenantAccess, tenant_id: str) -> UUID:
    result = access.register_principal(context(), tenant_id, "service", "platform", "loader", "Loader")
    return result.aggregate_id


def test_an_admin_grants_roles_and_issues_keys_to_its_own_tenants_principal(access: TenantAccess) -> None:
    principal = loader(access, ACME)
    access.grant_role(context(), ACME, principal, "service")
    issued = access.create_api_key(context(), ACME, principal)

    assert access.principal(ACME, principal).roles == ["service"]
    assert issued.token.startswith("gdp_")
    assert access.key(ACME, issued.key_id).principal_id == str(principal)


def test_another_tenants_principal_is_not_found_and_nothing_is_recorded(
    access: TenantAccess, store: RecorderEventStore
) -> None:
    principal = loader(access, ACME)
    before = store.last_position()

    for attempt in (
        lambda: access.grant_role(context(), GLOBEX, principal, "service"),
        lambda: access.revoke_role(context(), GLOBEX, principal, "service"),
        lambda: access.create_api_key(context(), GLOBEX, principal),
    ):
        with pytest.raises(NotFoundError, match=f"no such principal: {principal}"):
            attempt()
    assert store.last_position() == before


def test_another_tenants_key_can_be_neither_rotated_nor_revoked(
    access: TenantAccess, store: RecorderEventStore
) -> None:
    issued = access.create_api_key(context(), ACME, loader(access, ACME))
    before = store.last_position()

    with pytest.raises(NotFoundError, match="no such API key"):
        access.rotate_api_key(context(), GLOBEX, issued.key_id, timedelta(hours=1))
    with pytest.raises(NotFoundError, match="no such API key"):
        access.revoke_api_key(context(), GLOBEX, issued.key_id, "leaked")
    assert store.last_position() == before


def test_rotation_issues_a_successor_and_the_old_key_expires_after_the_overlap(access: TenantAccess) -> None:
    principal = loader(access, ACME)
    old = access.create_api_key(context(), ACME, principal)

    new = access.rotate_api_key(context(), ACME, old.key_id, timedelta(hours=1))

    assert new.key_id != old.key_id
    assert access.key(ACME, new.key_id).principal_id == str(principal)
    expired: ApiKey = access.key(ACME, old.key_id)
    assert expired.expires_at == (NOW + timedelta(hours=1)).isoformat()


def test_an_id_that_names_no_principal_is_not_found(access: TenantAccess) -> None:
    with pytest.raises(NotFoundError):
        access.grant_role(context(), ACME, uuid4(), "service")
