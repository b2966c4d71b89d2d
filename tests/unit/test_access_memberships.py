"""A person is one identity with a principal (membership) per tenant; nothing about it is first-come across tenants."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from application.access import AccessService, PrincipalExistsError
from application.commands import CommandContext, CommandRunner
from domain.access import Principal, principal_id_for
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore

ACME, GLOBEX = "6b0c1f1e-0000-5000-8000-00000000000a", "6b0c1f1e-0000-5000-8000-00000000000b"


def context() -> CommandContext:
    return CommandContext(actor="platform", command_id=f"cmd-{uuid4()}", correlation_id="corr")


@pytest.fixture
def access() -> Iterator[AccessService]:
    store: RecorderEventStore = open_event_store("memory")
    yield AccessService(CommandRunner(store, lambda: datetime(2026, 1, 1, tzinfo=UTC)))
    store.close()


def test_the_same_identity_in_two_tenants_is_two_independent_principals(access: AccessService) -> None:
    in_acme = access.register_principal(context(), "person", "idp", "alice", "Alice", ACME)
    in_globex = access.register_principal(context(), "person", "idp", "alice", "A. Squatter", GLOBEX)

    assert in_acme.aggregate_id == principal_id_for("idp", "alice", ACME)
    assert in_globex.aggregate_id == principal_id_for("idp", "alice", GLOBEX)
    assert in_acme.aggregate_id != in_globex.aggregate_id != principal_id_for("idp", "alice", None)
    with pytest.raises(PrincipalExistsError, match=str(in_globex.aggregate_id)):
        access.register_principal(context(), "person", "idp", "alice", "Alice", GLOBEX)


def test_a_principal_of_the_old_shape_is_its_tenants_membership_and_no_one_elses(access: AccessService) -> None:
    legacy = principal_id_for("idp", "carol", None)  # before memberships: one id per (issuer, subject)
    old = {"kind": "person", "issuer": "idp", "subject": "carol", "display_name": "Carol", "tenant_id": ACME}
    access.runner.create(
        context(),
        "register_principal",
        legacy,
        make=lambda: Principal._create(Principal.Registered, id=legacy, **old),
        tenant_of=lambda principal: principal.tenant_id,
        exists=lambda: PrincipalExistsError("registered twice"),
    )

    assert access.membership_id("idp", "carol", ACME) == legacy
    assert access.membership_id("idp", "carol", GLOBEX) == principal_id_for("idp", "carol", GLOBEX)
    with pytest.raises(PrincipalExistsError, match=str(legacy)):
        access.register_principal(context(), "person", "idp", "carol", "Carol", ACME)
    assert access.register_principal(context(), "person", "idp", "carol", "Carol", GLOBEX).position > 0
