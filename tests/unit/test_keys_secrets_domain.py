"""The Secret aggregate, offboarding with erasure (and reading the old Offboarded shape), and the secret directory."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.errors import InvalidValueError, NotFoundError
from domain.secrets import MAX_VALUE_CHARS, Secret, secret_id_for
from domain.tenants import Tenant
from eventstore.codec import decode, encode, event_id_for
from eventstore.envelope import Metadata
from projections.base import Update, Upsert
from projections.secrets import evolve, secrets

TENANT = "0d6f7a4e-8c1b-5f2a-9e3d-1a2b3c4d5e6f"
AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def stored_secret(value: str = "v-1") -> Secret:
    return Secret.store(TENANT, "webhook.signing-key", value, "hmac-sha256:aa")


# Secrets: given / when / then


def test_storing_a_secret_records_its_value_under_an_id_of_tenant_and_name() -> None:
    secret = stored_secret()

    [stored] = secret.collect_events()

    assert isinstance(stored, Secret.Stored)
    assert (stored.tenant_id, stored.name, stored.value, stored.fingerprint) == (
        TENANT,
        "webhook.signing-key",
        "v-1",
        "hmac-sha256:aa",
    )
    assert secret.id == secret_id_for(TENANT, "webhook.signing-key")
    assert secret_id_for(TENANT, "other") != secret.id
    assert secret.revision == 1


@pytest.mark.parametrize("name", ["", "-x", "x-", "a b", "a/b", "é", "a" * 129, "x\n"])
def test_a_bad_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidValueError, match="secret name"):
        Secret.store(TENANT, name, "v", "f")


@pytest.mark.parametrize("value", ["", "x" * (MAX_VALUE_CHARS + 1)])
def test_a_bad_value_is_refused_without_repeating_it(value: str) -> None:
    with pytest.raises(InvalidValueError) as refused:
        Secret.store(TENANT, "name", value, "f")

    assert value not in str(refused.value) or not value


def test_a_new_value_is_a_new_version_and_the_same_value_again_records_nothing() -> None:
    secret = stored_secret()
    secret.collect_events()

    secret.replace("v-2", "hmac-sha256:bb")
    secret.replace("v-2", "hmac-sha256:bb")

    [rotated] = secret.collect_events()
    assert isinstance(rotated, Secret.Rotated)
    assert (rotated.value, secret.value, secret.revision) == ("v-2", "v-2", 2)


def test_a_deleted_secret_cannot_be_rotated_or_deleted_but_a_put_brings_it_back() -> None:
    secret = stored_secret()
    secret.delete()
    secret.collect_events()

    with pytest.raises(NotFoundError):
        secret.rotate("v-2", "f")
    with pytest.raises(NotFoundError):
        secret.delete()
    secret.replace("v-1", "hmac-sha256:aa")

    [rotated] = secret.collect_events()
    assert isinstance(rotated, Secret.Rotated)
    assert (secret.deleted, secret.value, secret.revision) == (False, "v-1", 3)


# Offboarding with erasure


def test_offboarding_records_whether_the_tenant_is_to_be_erased() -> None:
    kept, erased = Tenant.onboard("kept", "Kept", "trial"), Tenant.onboard("gone", "Gone", "trial")

    kept.offboard("contract ended")
    erased.offboard("right to erasure", erase=True)

    assert [e.erase for e in kept.collect_events()[1:]] == [False]
    assert [e.erase for e in erased.collect_events()[1:]] == [True]
    assert (kept.erased, erased.erased) == (False, True)
    assert Tenant.Offboarded.class_version == 2


def test_an_offboarding_recorded_before_erasure_existed_reads_as_not_erased() -> None:
    tenant = Tenant.onboard("acme", "Acme", "trial")
    tenant.offboard("done")
    onboarded, offboarded = tenant.collect_events()
    meta = Metadata(
        event_id=str(event_id_for(tenant.id, 1)),
        tenant_id=str(tenant.id),
        actor="a",
        command_id="c",
        correlation_id="c",
        causation_id=None,
        traceparent=None,
        recorded_at=AT.isoformat(),
        schema_version=1,
    )
    current = encode(offboarded, meta)
    v1_state = current.state.replace(b',"erase":false', b"")
    assert b"erase" not in v1_state
    old = type(current)(current.originator_id, current.originator_version, current.topic, v1_state)

    recorded = decode(2, old)

    assert (recorded.event.reason, recorded.event.erase) == ("done", False)
    rebuilt = recorded.event.mutate(onboarded.mutate(None))
    assert (rebuilt.status, rebuilt.erased) == ("offboarded", False)


# The secret directory: never the value


class View:
    def __init__(self, event: Any, position: int) -> None:
        self.event, self.position, self.recorded_at, self.tenant_id = event, position, AT, TENANT


def test_the_directory_keeps_name_version_and_fingerprint_but_never_the_value() -> None:
    secret = stored_secret("do-not-store-me")
    secret.replace("nor-me", "hmac-sha256:bb")
    secret.delete()
    stored, rotated, deleted = secret.collect_events()
    key = {"secret_id": str(secret.id)}

    changes = [evolve(View(e, p)) for p, e in enumerate((stored, rotated, deleted), start=10)]

    assert changes == [
        [
            Upsert(
                secrets,
                key,
                {
                    "tenant_id": TENANT,
                    "name": "webhook.signing-key",
                    "status": "active",
                    "fingerprint": "hmac-sha256:aa",
                    "created_at": AT.isoformat(),
                    "version": 1,
                    "updated_at": AT.isoformat(),
                    "position": 10,
                },
            )
        ],
        [Update(secrets, key, {"status": "active", "fingerprint": "hmac-sha256:bb", "version": 2} | _at(11))],
        [Update(secrets, key, {"status": "deleted", "fingerprint": None, "version": 3} | _at(12))],
    ]
    assert "do-not-store-me" not in repr(changes)
    assert "nor-me" not in repr(changes)


def _at(position: int) -> dict[str, Any]:
    return {"updated_at": AT.isoformat(), "position": position}


def test_an_erasing_offboarding_marks_every_secret_of_the_tenant_erased_and_a_plain_one_changes_nothing() -> None:
    tenant = Tenant.onboard("acme", "Acme", "trial")
    tenant.offboard("right to erasure", erase=True)
    plain = Tenant.onboard("globex", "Globex", "trial")
    plain.offboard("contract ended")
    erasing, ending = tenant.collect_events()[-1], plain.collect_events()[-1]

    assert evolve(View(erasing, 20)) == [
        Update(secrets, {"tenant_id": str(tenant.id)}, {"status": "erased", "fingerprint": None})
    ]
    assert evolve(View(ending, 21)) == []
