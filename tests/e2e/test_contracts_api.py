"""The Data Contract Registry end to end over HTTP: ODCS documents in, four eyes, lifecycle, diffs, bad input.

Until the lead wires the registry into bootstrap, projections.ALL and create_app, ``wire`` and ``mount`` do here
what that wiring will do (each is a no-op once it is done).
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from litestar.testing import TestClient

from adapters.auth.tokens import LOCAL_ISSUER, local_signing_key, mint_token
from domain.access import ROLES, principal_id_for
from domain.contracts import MAX_DOCUMENT_BYTES
from interfaces.bootstrap import Platform
from tests.data import ODCS_EXAMPLES
from tests.e2e.conftest import new_slug

PROBLEM = "application/problem+json"
TYPES = "https://governed-data-platform.dev/problems/"
EXAMPLES = ODCS_EXAMPLES


def orders(version: str = "1.0.0", **top: Any) -> dict[str, Any]:
    """An ODCS v3 orders contract with a quality rule and a KPI."""
    doc: dict[str, Any] = {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "orders",
        "version": version,
        "name": "Orders",
        "description": {"purpose": "Paid orders of the web shop"},
        "schema": [
            {
                "name": "orders",
                "physicalType": "table",
                "properties": [
                    {"name": "order_id", "logicalType": "string", "physicalType": "varchar(36)", "primaryKey": True},
                    {"name": "country", "logicalType": "string", "classification": "public"},
                    {"name": "status", "logicalType": "string"},
                    {"name": "amount", "logicalType": "number", "quality": [{"metric": "nullValues", "mustBe": 0}]},
                    {"name": "ordered_at", "logicalType": "timestamp"},
                ],
                "customProperties": [{"property": "kpis", "value": [KPI]}],
            }
        ],
    }
    return doc | top


KPI = {
    "name": "daily_revenue",
    "aggregation": "sum",
    "measure": "amount",
    "dimensions": ["status"],
    "timeField": "ordered_at",
    "timeGrain": "day",
    "filters": [{"field": "status", "operator": "eq", "value": "paid"}],
    "target": {"value": 10000},
}


def edited(doc: dict[str, Any], version: str, **fields: dict[str, Any] | None) -> dict[str, Any]:
    """The document at another version, with fields replaced (a dict), added (new name) or removed (None)."""
    changed = copy.deepcopy(doc) | {"version": version}
    props = changed["schema"][0]["properties"]
    for name, field in fields.items():
        props[:] = [p for p in props if p["name"] != name] + ([{"name": name, **field}] if field is not None else [])
    return changed


def as_yaml(doc: dict[str, Any]) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False).encode()


pytestmark = pytest.mark.shared_platform


@pytest.fixture
def api(client: TestClient) -> TestClient:
    """A client speaking as a platform admin unless a request sets its own Authorization header."""
    return client


@pytest.fixture
def tenant(api: TestClient) -> str:
    created = api.post("/v1/tenants", json={"slug": new_slug("acme"), "display_name": "Acme"})
    assert created.status_code == 201, created.text
    return created.json()["tenant_id"]


@pytest.fixture
def who(api: TestClient, platform: Platform, token_for, tenant: str) -> dict[str, dict[str, str]]:
    """Authorization headers of the tenant's people, two data stewards among them."""
    people = {role: token_for(role, tenant) for role in ROLES[1:]}
    registered = api.post(
        f"/v1/tenants/{tenant}/principals",
        json={"kind": "person", "subject": "second-steward", "display_name": "Second steward", "issuer": LOCAL_ISSUER},
    )
    principal = registered.json()["principal_id"]
    assert (
        api.post(f"/v1/tenants/{tenant}/principals/{principal}/roles", json={"role": "data-steward"}).status_code == 202
    )
    platform.worker.catch_up()
    key = local_signing_key(Path(platform.settings.keys_dir))
    token = mint_token(key, "second-steward", platform.settings.jwt_audience)
    return people | {"second-steward": {"Authorization": f"Bearer {token}"}}


def principal(role: str, tenant: str) -> str:
    return str(principal_id_for(LOCAL_ISSUER, f"dev-{role}-{tenant}", tenant))


def register(api: TestClient, tenant: str, doc: dict, headers: dict, media_type: str = "application/yaml") -> Any:
    body = as_yaml(doc) if "yaml" in media_type else json.dumps(doc).encode()
    return api.post(f"/v1/tenants/{tenant}/contracts", content=body, headers=headers | {"content-type": media_type})


def act(api: TestClient, tenant: str, command: str, body: dict, headers: dict, contract: str = "orders") -> Any:
    return api.post(f"/v1/tenants/{tenant}/contracts/{contract}/{command}", json=body, headers=headers)


def read(api: TestClient, path: str, position: int, headers: dict | None = None) -> Any:
    response = api.get(path, headers={**(headers or {}), "X-Consistent-Position": str(position)})
    assert response.status_code == 200, response.text
    return response.json()


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert (problem["status"], problem["type"]) == (status, TYPES + slug)
    assert "Traceback" not in response.text
    return problem


# --- registration and four eyes -------------------------------------------------------------------------------


def test_a_yaml_contract_is_registered_and_approved_by_a_steward_other_than_its_author(
    api: TestClient, platform: Platform, tenant: str, who: dict
) -> None:
    steward, second = who["data-steward"], who["second-steward"]
    created = register(api, tenant, orders(), steward)
    assert created.status_code == 201, created.text
    answer = created.json()
    assert (answer["contract"], answer["version"]) == ("orders", "1.0.0")
    assert created.headers["location"] == f"/v1/tenants/{tenant}/contracts/orders/versions/1.0.0"
    assert act(api, tenant, "propose", {"version": "1.0.0"}, steward).status_code == 202

    before = platform.store.last_position()
    problem = assert_problem(act(api, tenant, "approve", {"version": "1.0.0"}, steward), 409, "four-eyes")
    assert "another data steward" in problem["detail"]
    assert platform.store.last_position() == before

    approved = act(api, tenant, "approve", {"version": "1.0.0"}, second)
    assert approved.status_code == 202, approved.text
    base = f"/v1/tenants/{tenant}/contracts/orders"
    contract = read(api, base, approved.json()["position"], second)
    assert (contract["contract_id"], contract["status"], contract["current_version"]) == (
        answer["contract_id"],
        "active",
        "1.0.0",
    )
    version = read(api, f"{base}/versions/1.0.0", approved.json()["position"])
    assert version["author"] == principal("data-steward", tenant)
    assert version["approver"] == str(principal_id_for(LOCAL_ISSUER, "second-steward", tenant))
    assert version["document"] == orders()
    assert len(version["sha256"]) == 64
    assert version["spec"]["kpis"][0]["time_field"] == "ordered_at"
    assert version["spec"]["quality"][0]["metric"] == "nullValues"


@pytest.mark.parametrize("media_type", ["application/yaml", "application/x-yaml", "text/yaml", "application/json"])
def test_documents_are_taken_as_yaml_or_json(api: TestClient, tenant: str, who: dict, media_type: str) -> None:
    created = register(api, tenant, orders(), who["data-engineer"], media_type)
    assert created.status_code == 201, created.text


def test_a_published_odcs_example_registers_as_it_is(api: TestClient, tenant: str, who: dict) -> None:
    body = (EXAMPLES / "schema-kafka-schema.odcs.yaml").read_bytes()
    headers = who["data-engineer"] | {"content-type": "application/yaml"}
    created = api.post(f"/v1/tenants/{tenant}/contracts", content=body, headers=headers)
    assert created.status_code == 201, created.text
    assert (created.json()["contract"], created.json()["version"]) == ("orders", "0.0.1")


# --- the whole lifecycle ----------------------------------------------------------------------------------------


def test_versions_move_through_their_lifecycle_with_a_changelog_and_a_history(
    api: TestClient, tenant: str, who: dict
) -> None:
    engineer, steward, admin = who["data-engineer"], who["data-steward"], who["tenant-admin"]
    base = f"/v1/tenants/{tenant}/contracts/orders"
    v1 = orders()
    assert register(api, tenant, v1, engineer, "application/json").status_code == 201
    for command, headers in (("propose", engineer), ("approve", steward)):
        assert act(api, tenant, command, {"version": "1.0.0"}, headers).status_code == 202

    v11 = edited(v1, "1.1.0", note={"logicalType": "string"})
    assert (
        api.post(f"{base}/versions", content=as_yaml(v11), headers=engineer | {"content-type": "text/yaml"}).status_code
        == 201
    )
    act(api, tenant, "propose", {"version": "1.1.0"}, engineer)
    assert act(api, tenant, "approve", {"version": "1.1.0"}, steward).status_code == 202

    v2 = edited(v11, "2.0.0", country=None)
    assert (
        api.post(
            f"{base}/versions", content=json.dumps(v2), headers=engineer | {"content-type": "application/json"}
        ).status_code
        == 201
    )
    act(api, tenant, "propose", {"version": "2.0.0"}, engineer)
    rejected = act(api, tenant, "reject", {"version": "2.0.0", "reason": "country is still used by finance"}, steward)
    assert rejected.status_code == 202, rejected.text

    assert act(api, tenant, "deprecate", {"version": "1.1.0", "reason": "2.x is coming"}, admin).status_code == 202
    retired = act(api, tenant, "retire", {"version": "1.1.0"}, steward)
    assert retired.status_code == 202, retired.text

    contract = read(api, base, retired.json()["position"])
    assert (contract["status"], contract["current_version"], contract["latest_version"]) == ("retired", None, "2.0.0")
    statuses = {v["version"]: (v["status"], v["status_reason"]) for v in contract["versions"]}
    assert statuses == {
        "1.0.0": ("deprecated", "superseded by 1.1.0"),
        "1.1.0": ("retired", None),
        "2.0.0": ("rejected", "country is still used by finance"),
    }
    history = [(h["version"], h["status"]) for h in api.get(f"{base}/history").json()]
    assert history == [
        ("1.0.0", "draft"),
        ("1.0.0", "proposed"),
        ("1.0.0", "active"),
        ("1.1.0", "draft"),
        ("1.1.0", "proposed"),
        ("1.0.0", "deprecated"),
        ("1.1.0", "active"),
        ("2.0.0", "draft"),
        ("2.0.0", "proposed"),
        ("2.0.0", "rejected"),
        ("1.1.0", "deprecated"),
        ("1.1.0", "retired"),
    ]

    diff = api.get(f"{base}/diff", params={"from": "1.0.0", "to": "2.0.0"}).json()
    assert (diff["breaking"], diff["major_bump"]) == (True, True)
    assert {(c["kind"], c["path"], c["breaking"]) for c in diff["changes"]} == {
        ("field-removed", "orders.country", True),
        ("field-added", "orders.note", False),
    }
    assert api.get(f"{base}/diff", params={"from": "1.0.0", "to": "1.1.0"}).json()["breaking"] is False
    assert api.get(f"{base}/versions/1.1.0").json()["changes"][0]["kind"] == "field-added"


def test_contracts_are_listed_and_searched(api: TestClient, tenant: str, who: dict) -> None:
    engineer = who["data-engineer"]
    register(api, tenant, orders(), engineer)
    invoices = orders(id="invoices", name="Invoices", description={"purpose": "Billing documents"})
    last = register(api, tenant, invoices, engineer).json()["position"]
    listed = read(api, f"/v1/tenants/{tenant}/contracts", last, who["analyst"])
    assert [c["contract"] for c in listed["items"]] == ["invoices", "orders"]
    found = api.get(f"/v1/tenants/{tenant}/contracts", params={"q": "paid ORDERS"}, headers=who["service"]).json()
    assert [c["contract"] for c in found["items"]] == ["orders"]
    assert (
        api.get(f"/v1/tenants/{tenant}/contracts", params={"q": "daily_revenue billing"}).json()["items"][0]["contract"]
        == "invoices"
    )
    assert api.get(f"/v1/tenants/{tenant}/contracts", params={"q": "100%_"}).json()["items"] == []
    page = api.get(f"/v1/tenants/{tenant}/contracts", params={"limit": 1}).json()
    assert (page["items"][0]["contract"], page["next_after"]) == ("invoices", "invoices")
    assert api.get(f"/v1/tenants/{tenant}/contracts", params={"status": "active"}).json()["items"] == []


# --- who may do what ----------------------------------------------------------------------------------------------


def test_roles_decide_who_drafts_who_approves_and_who_only_reads(api: TestClient, tenant: str, who: dict) -> None:
    assert register(api, tenant, orders(), who["analyst"]).status_code == 403
    assert register(api, tenant, orders(), who["service"]).status_code == 403
    assert register(api, tenant, orders(), who["tenant-admin"]).status_code == 201
    assert act(api, tenant, "propose", {"version": "1.0.0"}, who["data-engineer"]).status_code == 202
    for role in ("data-engineer", "tenant-admin", "analyst"):
        assert act(api, tenant, "approve", {"version": "1.0.0"}, who[role]).status_code == 403, role
    approved = act(api, tenant, "approve", {"version": "1.0.0"}, who["data-steward"])
    assert approved.status_code == 202
    assert act(api, tenant, "deprecate", {"version": "1.0.0"}, who["data-engineer"]).status_code == 403
    assert read(api, f"/v1/tenants/{tenant}/contracts/orders", approved.json()["position"], who["analyst"])


def test_other_tenants_neither_see_nor_collide_with_a_contract(
    api: TestClient, tenant: str, who: dict, token_for
) -> None:
    register(api, tenant, orders(), who["data-engineer"])
    other = api.post("/v1/tenants", json={"slug": new_slug("globex"), "display_name": "Globex"}).json()["tenant_id"]
    outsider = token_for("data-steward", other)
    assert api.get(f"/v1/tenants/{tenant}/contracts/orders", headers=outsider).status_code == 404
    assert act(api, tenant, "propose", {"version": "1.0.0"}, outsider).status_code == 404
    own = register(api, other, orders(), outsider)
    assert own.status_code == 201, own.text
    assert own.json()["contract_id"] != api.get(f"/v1/tenants/{tenant}/contracts/orders").json()["contract_id"]


def test_a_suspended_tenant_reads_its_contracts_but_drafts_none(api: TestClient, tenant: str, who: dict) -> None:
    register(api, tenant, orders(), who["data-engineer"])
    suspended = api.post(f"/v1/tenants/{tenant}/suspend", json={"reason": "unpaid"})
    assert suspended.status_code == 202
    assert register(api, tenant, orders("1.0.1", id="other"), who["data-steward"]).status_code == 403
    assert act(api, tenant, "propose", {"version": "1.0.0"}, who["data-steward"]).status_code == 403
    position = suspended.json()["position"]
    assert read(api, f"/v1/tenants/{tenant}/contracts/orders", position, who["analyst"])["contract"] == "orders"


def test_the_same_idempotency_key_drafts_once(api: TestClient, platform: Platform, tenant: str, who: dict) -> None:
    headers = who["data-engineer"] | {"Idempotency-Key": str(uuid.uuid4())}
    first, again = register(api, tenant, orders(), headers), register(api, tenant, orders(), headers)
    assert (again.status_code, again.json()) == (201, first.json())
    assert len(platform.store.read_stream(uuid.UUID(first.json()["contract_id"]))) == 1


# --- bad input: a clear problem, and nothing recorded ------------------------------------------------------------


def too_large() -> dict[str, Any]:
    return orders(description={"purpose": "x" * (MAX_DOCUMENT_BYTES + 1)})


def with_prop(name: str, **values: Any) -> dict[str, Any]:
    doc = orders()
    next(p for p in doc["schema"][0]["properties"] if p["name"] == name).update(values)
    return doc


def with_kpi(**values: Any) -> dict[str, Any]:
    doc = orders()
    doc["schema"][0]["customProperties"][0]["value"] = [KPI | values]
    return doc


KPI_POINTER = "#/schema/0/customProperties/0/value/0"
BAD_DOCUMENTS = [
    pytest.param(b"kind: [DataContract", "application/yaml", 400, "malformed-contract", [], id="invalid-yaml"),
    pytest.param(b'{"kind": "DataContract",', "application/json", 400, "malformed-contract", [], id="invalid-json"),
    pytest.param(b"a: &x [1]\nb: *x\n", "application/yaml", 400, "malformed-contract", [], id="yaml-alias"),
    pytest.param(
        as_yaml(with_prop("order_id", required="yes") | {"colour": "red"}),
        "application/yaml",
        422,
        "invalid-contract",
        ["#/colour", "#/schema/0/properties/0/required"],
        id="schema-violations",
    ),
    pytest.param(
        as_yaml(with_prop("amount", logicalType="decimal")),
        "application/yaml",
        422,
        "invalid-contract",
        ["#/schema/0/properties/3/logicalType"],
        id="unknown-logical-type",
    ),
    pytest.param(
        as_yaml(with_kpi(measure="revenue")),
        "application/yaml",
        422,
        "invalid-contract",
        [f"{KPI_POINTER}/measure"],
        id="kpi-missing-field",
    ),
    pytest.param(
        as_yaml(with_kpi(timeField="country", dimensions=["region"])),
        "application/yaml",
        422,
        "invalid-contract",
        [f"{KPI_POINTER}/dimensions/0", f"{KPI_POINTER}/timeField"],
        id="kpi-time-field-not-a-timestamp",
    ),
    pytest.param(
        as_yaml(orders(apiVersion="v2.2.2")),
        "application/yaml",
        422,
        "invalid-contract",
        ["#/apiVersion"],
        id="odcs-v2",
    ),
    pytest.param(
        as_yaml(orders(version="1.0")), "application/yaml", 422, "invalid-contract", ["#/version"], id="not-semver"
    ),
    pytest.param(as_yaml(too_large()), "application/yaml", 413, "contract-too-large", [], id="too-large"),
    pytest.param(b"kind: DataContract", "text/plain", 415, "unsupported-media-type", [], id="not-yaml-or-json"),
]


@pytest.mark.parametrize(("body", "media_type", "status", "slug", "pointers"), BAD_DOCUMENTS)
def test_bad_documents_get_problem_details_and_write_nothing(
    api: TestClient,
    platform: Platform,
    tenant: str,
    who: dict,
    body: bytes,
    media_type: str,
    status: int,
    slug: str,
    pointers: list[str],
) -> None:
    before = platform.store.last_position()
    headers = who["data-engineer"] | {"content-type": media_type}
    problem = assert_problem(api.post(f"/v1/tenants/{tenant}/contracts", content=body, headers=headers), status, slug)
    assert [e["pointer"] for e in problem.get("errors", [])] == pointers
    assert platform.store.last_position() == before


def test_a_breaking_change_without_a_major_bump_names_each_break_and_writes_nothing(
    api: TestClient, platform: Platform, tenant: str, who: dict
) -> None:
    engineer = who["data-engineer"]
    register(api, tenant, orders(), engineer)
    act(api, tenant, "propose", {"version": "1.0.0"}, engineer)
    act(api, tenant, "approve", {"version": "1.0.0"}, who["data-steward"])
    doc = edited(orders(), "1.1.0", country=None, status={"logicalType": "string", "required": True})
    amount = next(p for p in doc["schema"][0]["properties"] if p["name"] == "amount")
    amount.update(logicalType="integer", quality=[{"metric": "nullValues", "mustBe": 5}])  # narrower; other value
    before = platform.store.last_position()
    url = f"/v1/tenants/{tenant}/contracts/orders/versions"
    problem = assert_problem(
        api.post(url, content=as_yaml(doc), headers=engineer | {"content-type": "application/yaml"}),
        422,
        "breaking-change",
    )
    assert {(e["kind"], e["path"]) for e in problem["errors"]} == {
        ("field-removed", "orders.country"),
        ("field-now-required", "orders.status"),
        ("type-narrowed", "orders.amount"),
        ("quality-rule-tightened", "orders.amount:nullValues"),
    }
    assert "need a major bump" in problem["detail"]
    assert platform.store.last_position() == before
    bumped = api.post(
        url, content=as_yaml(doc | {"version": "2.0.0"}), headers=engineer | {"content-type": "application/yaml"}
    )
    assert bumped.status_code == 201, bumped.text


BAD_COMMANDS = [
    ("register-again", "POST", "", {"yaml": orders("1.0.1")}, 409, "contract-exists"),
    ("same-version", "POST", "/orders/versions", {"yaml": orders("1.0.0+rebuild")}, 409, "version-exists"),
    ("lower-version", "POST", "/orders/versions", {"yaml": orders("0.9.0")}, 422, "invalid-contract"),
    (
        "other-contract-id",
        "POST",
        "/orders/versions",
        {"yaml": orders("1.1.0", id="invoices")},
        422,
        "invalid-contract",
    ),
    ("versions-of-unknown", "POST", "/nothing/versions", {"yaml": orders("1.1.0", id="nothing")}, 404, "not-found"),
    ("approve-a-draft", "POST", "/orders/approve", {"json": {"version": "1.0.0"}}, 409, "lifecycle-conflict"),
    ("unknown-version", "POST", "/orders/propose", {"json": {"version": "9.9.9"}}, 404, "not-found"),
    ("reject-without-reason", "POST", "/orders/reject", {"json": {"version": "1.0.0"}}, 422, "invalid-request"),
    ("unknown-field", "POST", "/orders/propose", {"json": {"version": "1.0.0", "by": "me"}}, 422, "invalid-request"),
    ("yaml-on-propose", "POST", "/orders/propose", {"yaml": {"version": "1.0.0"}}, 415, "unsupported-media-type"),
    ("read-unknown", "GET", "/nothing", {}, 404, "not-found"),
    ("read-unknown-version", "GET", "/orders/versions/9.9.9", {}, 404, "not-found"),
    ("diff-unknown-version", "GET", "/orders/diff?from=1.0.0&to=9.9.9", {}, 404, "not-found"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "slug"), [c[1:] for c in BAD_COMMANDS], ids=[c[0] for c in BAD_COMMANDS]
)
def test_bad_commands_and_queries_get_problem_details_and_write_nothing(
    api: TestClient,
    platform: Platform,
    tenant: str,
    who: dict,
    method: str,
    path: str,
    body: dict,
    status: int,
    slug: str,
) -> None:
    register(api, tenant, orders(), who["data-steward"])
    before = platform.store.last_position()
    kwargs: dict[str, Any] = {"headers": who["data-steward"]}
    if "yaml" in body:
        kwargs = {
            "content": as_yaml(body["yaml"]),
            "headers": who["data-steward"] | {"content-type": "application/yaml"},
        }
    elif "json" in body:
        kwargs["json"] = body["json"]
    assert_problem(api.request(method, f"/v1/tenants/{tenant}/contracts{path}", **kwargs), status, slug)
    assert platform.store.last_position() == before


def test_approval_registers_each_schema_object_in_the_schema_registry_under_its_mode(
    api: TestClient, platform: Platform, tenant: str, who: dict
) -> None:
    engineer, steward = who["data-engineer"], who["data-steward"]
    subject = f"{tenant}.orders.orders"
    register(api, tenant, orders(), engineer)
    act(api, tenant, "propose", {"version": "1.0.0"}, engineer)
    assert act(api, tenant, "approve", {"version": "1.0.0"}, steward).status_code == 202
    versions = read(api, f"/v1/tenants/{tenant}/schemas/subjects/{subject}/versions", platform.store.last_position())
    assert versions == [1]

    v2 = edited(orders(), "2.0.0", channel={"logicalType": "string", "required": True})  # breaks BACKWARD
    base = f"/v1/tenants/{tenant}/contracts/orders/versions"
    assert (
        api.post(base, content=as_yaml(v2), headers=engineer | {"content-type": "application/yaml"}).status_code == 201
    )
    act(api, tenant, "propose", {"version": "2.0.0"}, engineer)
    before = platform.store.last_position()
    refused = act(api, tenant, "approve", {"version": "2.0.0"}, steward)
    assert_problem(refused, 409, "conflict")
    assert subject in refused.json()["detail"]
    assert platform.store.last_position() == before

    mode = api.put(f"/v1/tenants/{tenant}/schemas/config/{subject}", json={"compatibility": "NONE"}, headers=steward)
    assert mode.status_code in (200, 202), mode.text
    second = act(api, tenant, "approve", {"version": "2.0.0"}, steward)
    assert second.status_code == 202
    position = platform.store.last_position()  # the registration follows the approval
    latest = read(api, f"/v1/tenants/{tenant}/schemas/subjects/{subject}/versions/latest", position)
    assert latest["version"] == 2
    assert {f["name"] for f in latest["schema"]["fields"]} >= {"order_id", "channel"}
