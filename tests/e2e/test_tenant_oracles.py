"""Nothing about another tenant can be learned: each way a principal of one tenant could tell whether something
of another tenant exists, answered the same whether it exists there or nowhere at all.

Each test compares full answers (status, media type, body without ``instance``) for something that exists in
another tenant and something that exists nowhere, and checks that the other tenant's log got no event.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from adapters.auth.tokens import LOCAL_ISSUER, local_signing_key, mint_token
from application.commands import CommandContext
from domain.access import Principal, principal_id_for
from domain.tenants import tenant_id_for
from eventstore.codec import event_id_for
from interfaces.bootstrap import Platform
from tests.e2e.conftest import TokenFor, new_slug

pytestmark = pytest.mark.shared_platform

INCLUSION = "/v1/ledger/proofs/inclusion"


@dataclass(frozen=True)
class World:
    acme: str
    globex: str
    spy: dict[str, str]
    """A tenant admin of globex: the prober."""
    analyst: dict[str, str]
    """An analyst of globex."""
    slugs: dict[str, str]
    """The slugs the two tenants were onboarded under, by name."""


@pytest.fixture
def world(client: TestClient, token_for: TokenFor) -> World:
    slugs = {name: new_slug(name) for name in ("acme", "globex")}
    acme = client.post("/v1/tenants", json={"slug": slugs["acme"], "display_name": "Acme"}).json()["tenant_id"]
    globex = client.post("/v1/tenants", json={"slug": slugs["globex"], "display_name": "Globex"}).json()["tenant_id"]
    return World(acme, globex, token_for("tenant-admin", globex), token_for("analyst", globex), slugs)


def comparable(response: httpx.Response, *spellings: tuple[str, str]) -> tuple[int, str, str]:
    """Status, media type and body without its instance, each (as given, placeholder) spelling replaced."""
    body: dict[str, Any] = response.json()
    body.pop("instance", None)
    text = json.dumps(body, sort_keys=True)
    for given, placeholder in spellings:
        text = text.replace(given, placeholder)
    return response.status_code, response.headers["content-type"], text


def events_of(platform: Platform, tenant_id: str | None, after: int) -> list[str]:
    return [e.type for e in platform.store.read_all(after, 10_000) if e.tenant_id == tenant_id]


def person(subject: str, display_name: str = "Alice") -> dict[str, str]:
    return {"kind": "person", "subject": subject, "display_name": display_name, "issuer": LOCAL_ISSUER}


def bearer(platform: Platform, subject: str) -> dict[str, str]:
    key = local_signing_key(Path(platform.settings.keys_dir))
    return {"Authorization": f"Bearer {mint_token(key, subject, platform.settings.jwt_audience)}"}


def test_ledger_proofs_and_entries_name_only_leaves_the_caller_may_read(
    client: TestClient, world: World, platform: Platform
) -> None:
    client.post(f"/v1/tenants/{world.acme}/principals", json=person("alice@idp.example"))
    client.post("/v1/ledger/checkpoints")
    # Event ids follow from public names: a tenant's slug, a person's subject in a tenant.
    onboarded = str(event_id_for(tenant_id_for(world.slugs["acme"]), 0))
    registered = str(event_id_for(principal_id_for(LOCAL_ISSUER, "alice@idp.example", world.acme), 0))
    nowhere = str(event_id_for(tenant_id_for("no-such-slug"), 0))
    missing = client.get(INCLUSION, params={"event_id": nowhere}, headers=world.analyst)

    for event_id in (onboarded, registered):
        leaf = client.get(INCLUSION, params={"event_id": event_id}).json()["leaf_index"]  # a platform admin sees it
        probe = client.get(INCLUSION, params={"event_id": event_id}, headers=world.analyst)
        assert comparable(probe, (event_id, "ID")) == comparable(missing, (nowhere, "ID"))
        entry = client.get(f"/v1/ledger/entries/{leaf}", headers=world.analyst)
        beyond = client.get("/v1/ledger/entries/999999", headers=world.analyst)
        assert comparable(entry, (f"leaf {leaf} ", "leaf N ")) == comparable(beyond, ("leaf 999999 ", "leaf N "))
        position = int(client.get(f"/v1/ledger/entries/{leaf}").headers["x-ledger-position"])
        by_position = client.get(INCLUSION, params={"position": position}, headers=world.analyst)
        far = client.get(INCLUSION, params={"position": 999999}, headers=world.analyst)
        assert comparable(by_position, (f"position {position} ", "position N ")) == comparable(
            far, ("position 999999 ", "position N ")
        )
    assert missing.status_code == 404
    own = str(event_id_for(tenant_id_for(world.slugs["globex"]), 0))
    assert client.get(INCLUSION, params={"event_id": own}, headers=world.analyst).status_code == 200


def test_a_person_is_one_identity_with_an_independent_membership_per_tenant(
    client: TestClient, world: World, platform: Platform
) -> None:
    acme_principal = client.post(f"/v1/tenants/{world.acme}/principals", json=person("alice@idp.example")).json()
    client.post(f"/v1/tenants/{world.acme}/principals/{acme_principal['principal_id']}/roles", json={"role": "analyst"})
    before, acme_stream = platform.store.last_position(), uuid.UUID(acme_principal["principal_id"])
    acme_history = platform.store.read_stream(acme_stream)

    base = f"/v1/tenants/{world.globex}/principals"
    taken = client.post(base, json=person("alice@idp.example", "A. Squatter"), headers=world.spy)
    fresh = client.post(base, json=person("bob@idp.example", "Bob"), headers=world.spy)

    assert (
        (taken.status_code, sorted(taken.json()))
        == (fresh.status_code, sorted(fresh.json()))
        == (
            201,
            ["position", "principal_id"],
        )
    )
    globex_principal = taken.json()["principal_id"]
    assert globex_principal != acme_principal["principal_id"]
    assert platform.store.read_stream(acme_stream) == acme_history
    assert events_of(platform, world.acme, before) == []
    again = client.post(base, json=person("alice@idp.example"), headers=world.spy)
    assert (again.status_code, globex_principal in again.json()["detail"]) == (409, True)

    # The same token acts in each tenant through that tenant's membership: its roles and its name.
    client.post(f"{base}/{globex_principal}/roles", json={"role": "tenant-admin"}, headers=world.spy)
    platform.worker.catch_up()
    alice = bearer(platform, "alice@idp.example")
    listed = client.get(base, headers=alice)
    assert listed.status_code == 200
    assert {p["subject"]: p["display_name"] for p in listed.json()}["alice@idp.example"] == "A. Squatter"
    assert client.get(f"/v1/tenants/{world.acme}/principals", headers=alice).status_code == 403
    assert client.get(f"/v1/tenants/{world.acme}", headers=alice).json()["display_name"] == "Acme"
    assert client.get(f"/v1/tenants/{world.acme}/principals/{acme_principal['principal_id']}").json()["roles"] == [
        "analyst"
    ]


def test_principals_registered_before_memberships_keep_their_id_and_still_replay(
    client: TestClient, world: World, platform: Platform
) -> None:
    # The old shape: one principal per (issuer, subject), its id not naming its tenant.
    legacy = principal_id_for(LOCAL_ISSUER, "carol@idp.example", None)
    old = {"kind": "person", "issuer": LOCAL_ISSUER, "subject": "carol@idp.example", "display_name": "Carol"}
    context = CommandContext("platform", "legacy-carol", "legacy")
    platform.access.runner.create(
        context,
        "register_principal",
        legacy,
        make=lambda: Principal._create(Principal.Registered, id=legacy, tenant_id=world.acme, **old),
        tenant_of=lambda principal: principal.tenant_id,
        exists=lambda: AssertionError("registered twice"),
    )
    platform.access.grant_role(CommandContext("platform", "legacy-grant", "legacy"), legacy, "tenant-admin")
    platform.worker.catch_up()
    carol = bearer(platform, "carol@idp.example")

    assert client.get(f"/v1/tenants/{world.acme}/principals/{legacy}", headers=carol).json()["roles"] == [
        "tenant-admin"
    ]
    again = client.post(f"/v1/tenants/{world.acme}/principals", json=person("carol@idp.example"))
    assert (again.status_code, str(legacy) in again.json()["detail"]) == (409, True)
    elsewhere = client.post(f"/v1/tenants/{world.globex}/principals", json=person("carol@idp.example"))
    assert elsewhere.status_code == 201
    membership = elsewhere.json()["principal_id"]
    assert membership == str(principal_id_for(LOCAL_ISSUER, "carol@idp.example", world.globex))
    client.post(f"/v1/tenants/{world.globex}/principals/{membership}/roles", json={"role": "analyst"})
    platform.worker.catch_up()
    assert client.get(f"/v1/tenants/{world.globex}/principals", headers=carol).status_code == 403
    assert client.get(f"/v1/tenants/{world.globex}", headers=carol).status_code == 200
    assert client.get(f"/v1/tenants/{world.acme}/principals", headers=carol).status_code == 200
    replayed = platform.access.current(legacy)
    assert isinstance(replayed, Principal)
    assert (replayed.tenant_id, replayed.roles, replayed.display_name) == (world.acme, ["tenant-admin"], "Carol")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "", None),
        ("GET", "/principals", None),
        ("GET", "/denials", None),
        ("POST", "/suspend", {"reason": "probing"}),
        ("POST", "/principals", person("mallory@idp.example")),
    ],
)
def test_a_tenant_not_yours_and_no_tenant_at_all_get_the_same_404(
    client: TestClient, world: World, method: str, path: str, body: dict[str, Any] | None
) -> None:
    foreign, nowhere = world.acme.upper(), str(uuid.uuid4()).upper()  # as a prober might spell them
    answers = [
        client.request(method, f"/v1/tenants/{tenant}{path}", json=body, headers=world.spy)
        for tenant in (foreign, nowhere)
    ]

    assert answers[0].status_code == 404
    assert comparable(answers[0], (foreign, "TENANT")) == comparable(answers[1], (nowhere, "TENANT"))
    assert foreign in answers[0].json()["detail"]


def test_a_refused_command_on_a_tenant_not_yours_is_recorded_in_the_platforms_log_only(
    client: TestClient, world: World, platform: Platform
) -> None:
    before, nowhere = platform.store.last_position(), str(uuid.uuid4())
    for tenant in (world.acme, nowhere):
        answer = client.post(f"/v1/tenants/{tenant}/principals", json=person("mallory@idp.example"), headers=world.spy)
        assert answer.status_code == 404
    refused_at_home = client.post(f"/v1/tenants/{world.globex}/suspend", json={"reason": "x"}, headers=world.spy)
    platform.worker.catch_up()

    assert refused_at_home.status_code == 403
    assert events_of(platform, world.acme, before) == []
    assert events_of(platform, None, before) == ["DenialRecorded", "DenialRecorded"]
    platform_log = client.get("/v1/denials").json()
    assert [d["resource"] for d in platform_log[:2]] == [f'Tenant::"{nowhere}"', f'Tenant::"{world.acme}"']
    assert {d["action"] for d in platform_log[:2]} == {"register_principal"}
    assert client.get(f"/v1/tenants/{world.acme}/denials").json() == []
    own = client.get(f"/v1/tenants/{world.globex}/denials").json()
    assert [(d["action"], d["resource"]) for d in own] == [("suspend_tenant", f'Tenant::"{world.globex}"')]
    assert client.get("/v1/denials", headers=world.spy).status_code == 403
