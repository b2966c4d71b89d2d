"""The cross-tenant probe: every route of the app's OpenAPI document, called by every role of tenant B with tenant A's
real ids (in the path, the query and the body), never answers with A's data, and answers exactly as it does for an
id that exists nowhere (status, media type, problem text with the id replaced). Nothing of it reaches A's log.

Routes come from the document the app serves, so a new route is probed as soon as it exists; a route that names
no tenant's data is listed in TENANT_INDEPENDENT with the reason, and a route neither probed nor listed fails.
The four oracles of issue 12 section 4 are checked here for every role too, with tests/e2e/test_tenant_oracles.py's
helpers; that file keeps their detailed tests.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from adapters.auth.tokens import LOCAL_ISSUER
from domain.access import principal_id_for
from domain.tenants import tenant_id_for
from eventstore.codec import event_id_for
from interfaces.bootstrap import Platform
from interfaces.settings import Settings
from tests.e2e.conftest import TokenFor
from tests.e2e.test_tenant_oracles import INCLUSION, comparable, events_of, person
from tests.populated import Tenant, allowing_loopback, path_value, populate

METHODS = ("get", "put", "post", "patch", "delete")
TENANT_INDEPENDENT = {
    "GET /health": "liveness: no data at all",
    "GET /ready": "readiness: positions of the log and read models, no tenant's data",
    "GET /metrics": "platform metrics, labelled by route template and module, never by tenant or id",
    "GET /asyncapi": "the event catalogue: types and schemas, the same for everyone",
    "GET /v1/event-types": "the event catalogue: types and schemas, the same for everyone",
    "GET /v1/event-types/{event_type}": "one event type of the catalogue: no tenant has its own",
    "GET /v1/ledger/checkpoint": "the signed tree head: a size and a root hash, nothing per tenant",
    "GET /v1/ledger/key": "the ledger's public key",
    "POST /v1/ledger/checkpoints": "signs a tree head (platform admins only): takes no id",
    "GET /v1/ledger/proofs/consistency": "hashes between two tree sizes: no leaf is named",
    "POST /v1/tenants": "onboarding (platform admins only): takes a new slug, no existing id",
    "GET /v1/denials": "the platform's own refusals (platform admins only)",
    "GET /v1/policies": "platform policies (platform admins only): no tenant's",
    "POST /v1/policies": "platform policies (platform admins only): no tenant's",
    "GET /v1/policies/{name}": "platform policies (platform admins only): no tenant's",
    "POST /v1/policies/{name}/activate": "platform policies (platform admins only): no tenant's",
    "POST /v1/policies/{name}/retire": "platform policies (platform admins only): no tenant's",
    "POST /v1/policies/simulate": "platform policies (platform admins only): no tenant's",
}
"""Operations that read or write nothing of any one tenant, with the reason; every other one is probed."""

BODIES: dict[str, Any] = {
    "/roles": {"role": "analyst"},
    "/revoke": {"reason": "probe"},
    "/rotate": {},
    "/recover": {"since": "2020-01-01T00:00:00Z"},
    "/discard": {"reason": "probe"},
    "/retract": {"reason": "probe"},
    "/reject": {"reason": "probe"},
    "/suspend": {"reason": "probe"},
    "/offboard": {"reason": "probe"},
    "/secrets/{name}": {"value": "probe"},
    "/action-templates/{template_id}/versions": {"body": "x", "connector": {"url": "http://127.0.0.1:9/x"}},
}
"""A well-formed body for the commands that name an existing thing, by the end of their route template, so a
probe reaches the lookup of that thing (a malformed body would be refused before it)."""
UUID_SHAPED = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return allowing_loopback(settings)


@dataclasses.dataclass(frozen=True)
class Probe:
    """One request about A's things, and its twin about things that exist nowhere."""

    method: str
    foreign: str
    unknown: str
    foreign_marks: tuple[tuple[str, str], ...]
    unknown_marks: tuple[tuple[str, str], ...]
    body: Any


@pytest.fixture
def tenants(client: TestClient, platform: Platform, token_for: TokenFor, tmp_path: Path) -> tuple[Tenant, Tenant]:
    acme = populate(client, platform, token_for, "acme", tmp_path)
    globex = populate(client, platform, token_for, "globex", tmp_path)
    client.post("/v1/ledger/checkpoints")
    for tenant, slug in ((acme, "acme"), (globex, "globex")):  # the leaf of its onboarding, as an admin sees it
        tenant.ids["event_id"] = str(event_id_for(tenant_id_for(slug), 0))
        proof = client.get(INCLUSION, params={"event_id": tenant.ids["event_id"]}).json()
        tenant.ids["leaf_index"] = str(proof["leaf_index"])
    return acme, globex


def operations(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    document = client.get("/schema/openapi.json").json()
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def fake_like(value: str, name: str) -> str:
    """An id of the same shape as ``value`` that exists nowhere."""
    if UUID_SHAPED.match(value):
        return str(uuid.uuid4())
    if re.fullmatch(r"[0-9a-f]{64}", value):
        return uuid.uuid4().hex * 2
    if value.isdigit():
        return "999999"
    return f"nosuch-{name}"


def body_for(method: str, template: str, operation: dict[str, Any]) -> Any:
    if "requestBody" not in operation:
        return None
    return next((body for ending, body in BODIES.items() if template.endswith(ending)), {})


def probes(method: str, template: str, operation: dict[str, Any], a: Tenant, b: Tenant) -> list[Probe]:
    """A's tenant in the path (against a tenant that does not exist, spelled as a prober might), and A's other ids
    in the path of B's own tenant or of a platform route (against ids of the same shape that exist nowhere)."""
    names = re.findall(r"{(\w+)}", template)
    body = body_for(method, template, operation)
    found: list[Probe] = []
    if "tenant_id" in names:
        filled = template
        for name in names:
            filled = filled.replace(f"{{{name}}}", path_value(template, name, a.ids) or name)
        foreign, nowhere = a.tenant_id.upper(), str(uuid.uuid4()).upper()
        found.append(
            Probe(
                method,
                filled.replace(a.tenant_id, foreign),
                filled.replace(a.tenant_id, nowhere),
                ((foreign, "TENANT"),),
                ((nowhere, "TENANT"),),
                body,
            )
        )
    own = {"tenant_id": b.tenant_id}
    differing = {
        name: value
        for name in names
        if name != "tenant_id"
        and (value := path_value(template, name, a.ids)) is not None
        and value != path_value(template, name, b.ids)
    }
    if differing:
        fakes = {name: fake_like(value, name) for name, value in differing.items()}
        foreign_path, unknown_path = template, template
        for name in names:
            b_value = own.get(name) or path_value(template, name, b.ids) or name
            foreign_path = foreign_path.replace(f"{{{name}}}", differing.get(name, b_value))
            unknown_path = unknown_path.replace(f"{{{name}}}", fakes.get(name, b_value))
        marks_a = tuple((value, f"<{name}>") for name, value in differing.items())
        marks_x = tuple((value, f"<{name}>") for name, value in fakes.items())
        found.append(Probe(method, foreign_path, unknown_path, marks_a, marks_x, body))
    return found + query_probes(method, template, operation, a, b, body)


def query_probes(method: str, template: str, operation: dict[str, Any], a: Tenant, b: Tenant, body: Any) -> list[Probe]:
    """A's id in a query parameter named like it (``event_id``, ...), on B's own tenant or a platform route."""
    path = template.replace("{tenant_id}", b.tenant_id)
    for name in re.findall(r"{(\w+)}", template):
        path = path.replace(f"{{{name}}}", path_value(template, name, b.ids) or name)
    found = []
    for parameter in operation.get("parameters", []):
        name = parameter["name"]
        if parameter["in"] == "query" and name in a.ids and a.ids[name] != b.ids.get(name):
            fake = fake_like(a.ids[name], name)
            marks_a, marks_x = ((a.ids[name], "<id>"),), ((fake, "<id>"),)
            found.append(Probe(method, f"{path}?{name}={a.ids[name]}", f"{path}?{name}={fake}", marks_a, marks_x, body))
    return found


def is_listing(method: str, template: str) -> bool:
    """A GET naming nothing but (maybe) the caller's tenant: probed by the listings test below."""
    return method == "GET" and "{" not in template.replace("{tenant_id}", "")


def answer(response: httpx.Response, *marks: tuple[str, str]) -> tuple[int, str, str]:
    if response.headers.get("content-type", "").endswith("json") and response.content:
        return comparable(response, *marks)
    text = response.text
    for given, placeholder in marks:
        text = text.replace(given, placeholder)
    return response.status_code, response.headers.get("content-type", ""), text


def a_only(a: Tenant, b: Tenant) -> set[str]:
    """Values that exist in A alone (ids and hashes, not names both tenants use)."""
    mine = set(b.ids.values())
    return {value for value in a.ids.values() if value not in mine and (UUID_SHAPED.match(value) or len(value) == 64)}


def test_every_route_and_role_of_tenant_b_learns_nothing_of_tenant_a(
    client: TestClient, platform: Platform, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    before = platform.store.last_position()
    secrets = a_only(a, b)
    unlisted, differences, leaks = [], [], []
    for method, template, operation in operations(client):
        label = f"{method} {template}"
        if label in TENANT_INDEPENDENT:
            continue
        found = probes(method, template, operation, a, b)
        if not found and not is_listing(method, template):
            unlisted.append(label)
        for probe in found:
            for role, headers in b.people.items():
                foreign = client.request(method, probe.foreign, json=probe.body, headers=headers)
                unknown = client.request(method, probe.unknown, json=probe.body, headers=headers)
                if answer(foreign, *probe.foreign_marks) != answer(unknown, *probe.unknown_marks):
                    differences.append(
                        f"[{role}] {label}: {foreign.status_code} {foreign.text[:200]} "
                        f"<> {unknown.status_code} {unknown.text[:200]}"
                    )
                if foreign.is_success and any(value in foreign.text for value in secrets):
                    leaks.append(f"[{role}] {label}: {foreign.status_code}")
    platform.worker.catch_up()

    assert not unlisted, f"neither probed nor listed in TENANT_INDEPENDENT: {unlisted}"
    assert not leaks, leaks
    assert not differences, "\n".join(differences)
    assert events_of(platform, a.tenant_id, before) == []


def test_listings_and_searches_of_tenant_b_never_show_tenant_a(
    client: TestClient, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    secrets = a_only(a, b)
    listings = [
        (method, template)
        for method, template, _ in operations(client)
        if method == "GET"
        and "{" not in template.replace("{tenant_id}", "")
        and f"GET {template}" not in TENANT_INDEPENDENT
    ]
    assert listings
    for method, template in listings:
        path = template.replace("{tenant_id}", b.tenant_id)
        for role, headers in b.people.items():
            for query in ({}, {"q": "acme"}, {"q": a.tenant_id}):
                response = client.request(method, path, params=query, headers=headers)
                assert response.status_code < 500, (role, path, response.text)
                assert not any(value in response.text for value in secrets), (role, path, query)


def test_the_four_oracles_answer_every_role_of_tenant_b_alike(
    client: TestClient, platform: Platform, tenants: tuple[Tenant, Tenant]
) -> None:
    """Inclusion proofs and entries by event id, a subject existing in A registered in B, the 404 text (in the probe
    above), and refusals about A recorded in the platform's log only."""
    a, b = tenants
    client.post("/v1/ledger/checkpoints")
    before = platform.store.last_position()
    onboarded = str(event_id_for(tenant_id_for("acme"), 0))
    robot = str(event_id_for(principal_id_for(LOCAL_ISSUER, "acme-robot", a.tenant_id), 0))
    nowhere = str(event_id_for(tenant_id_for("no-such-slug"), 0))
    for role, headers in b.people.items():
        missing = client.get(INCLUSION, params={"event_id": nowhere}, headers=headers)
        for event_id in (onboarded, robot):
            probe = client.get(INCLUSION, params={"event_id": event_id}, headers=headers)
            assert comparable(probe, (event_id, "ID")) == comparable(missing, (nowhere, "ID")), role
        taken = client.post(f"/v1/tenants/{b.tenant_id}/principals", json=person("acme-robot"), headers=headers)
        fresh = client.post(f"/v1/tenants/{b.tenant_id}/principals", json=person(f"{role}@b"), headers=headers)
        assert (taken.status_code, sorted(taken.json())) == (fresh.status_code, sorted(fresh.json())), role
    platform.worker.catch_up()
    assert events_of(platform, a.tenant_id, before) == []


def same_answer(first: httpx.Response, second: httpx.Response, *marks: tuple[str, str]) -> bool:
    """Created things differ by their ids: then the status and the fields; else the whole problem, ``marks`` aside."""
    if first.is_success and second.is_success:
        return (first.status_code, sorted(first.json())) == (second.status_code, sorted(second.json()))
    half = len(marks) // 2
    return answer(first, *marks[:half]) == answer(second, *marks[half:])


def test_names_of_tenant_a_in_the_bodies_of_tenant_b_are_unknown_names(
    client: TestClient, platform: Platform, tenants: tuple[Tenant, Tenant]
) -> None:
    """Bodies name other things by name (a template's secret, a playbook's templates): A's names are nobody's to B."""
    a, b = tenants
    a_base, b_base = f"/v1/tenants/{a.tenant_id}", f"/v1/tenants/{b.tenant_id}"
    client.put(f"{a_base}/secrets/acme-vault", json={"value": "v"})
    template = {"name": "acme-notify", "kind": "http", "body": "{}", "connector": {"url": "http://127.0.0.1:9/x"}}
    assert client.post(f"{a_base}/action-templates", json=template).status_code == 201
    platform.worker.catch_up()
    before = platform.store.last_position()

    def uses_secret(secret: str, n: int) -> dict[str, Any]:
        connector = {"url": "http://127.0.0.1:9/x", "auth_secret": secret}
        return template | {"name": f"probe-{n}", "connector": connector}

    def uses_template(name: str, n: int) -> dict[str, Any]:
        condition = {"operator": "above", "threshold": 0}
        steps = [{"template": name}]
        return {"name": f"probe-{n}", "contract": "retail-sales", "kpi": "daily_revenue", "condition": condition} | {
            "steps": steps
        }

    probes = [
        ("action-templates", uses_secret, "acme-vault", "nosuch-vault"),
        ("playbooks", uses_template, "acme-notify", "nosuch-notify"),
    ]
    for n, (role, headers) in enumerate(b.people.items()):
        for route, body, foreign, unknown in probes:
            first = client.post(f"{b_base}/{route}", json=body(foreign, 2 * n), headers=headers)
            second = client.post(f"{b_base}/{route}", json=body(unknown, 2 * n + 1), headers=headers)
            marks = ((foreign, "NAME"), (f"probe-{2 * n}", "P"), (unknown, "NAME"), (f"probe-{2 * n + 1}", "P"))
            assert same_answer(first, second, *marks), (role, route, first.text, second.text)
    platform.worker.catch_up()
    assert events_of(platform, a.tenant_id, before) == []
