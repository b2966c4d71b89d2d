"""A corpus of bad input over HTTP, on the embedded default and on PostgreSQL: each request once answered 500 or
was stored as sent; each now gets a 4xx problem naming what is wrong, and a refused command writes no event."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from interfaces.bootstrap import Platform
from interfaces.http.app import create_app
from interfaces.settings import Settings
from interfaces.settings.values import networks
from tests.e2e.conftest import new_slug
from tests.populated import Tenant, path_value, populate

PROBLEM = "application/problem+json"
BEYOND_64_BITS = str(2**64)
ORDERS = """\
apiVersion: v3.1.0
kind: DataContract
id: orders
version: 1.0.0
name: {name}
status: active
schema:
  - name: orders
    properties:
      - {{name: order_id, logicalType: string, primaryKey: true, required: true}}
      - {{name: amount, logicalType: number}}
"""
ORDERS_JSON = (
    '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "orders", "version": "1.0.0", "name": "Orders\\u0007",'
    ' "status": "active", "schema": [{"name": "orders", "properties": [{"name": "order_id", "logicalType": "string"}]}]'
    "}"
)


pytestmark = pytest.mark.shared_platform


@pytest.fixture(scope="module")
def module_settings(module_settings: Settings) -> Settings:
    return dataclasses.replace(module_settings, webhook_allowed_networks=networks("127.0.0.0/8"))


@dataclasses.dataclass(frozen=True)
class World:
    """A tenant with an approved contract (orders) and a webhook endpoint, and the people who act in it."""

    tenant: str
    endpoint: str
    engineer: dict[str, str]


@pytest.fixture
def world(client: TestClient, token_for: Any) -> World:
    tenant = client.post("/v1/tenants", json={"slug": new_slug("acme"), "display_name": "Acme"}).json()["tenant_id"]
    entitled = client.post(f"/v1/tenants/{tenant}/entitlements", json={"features": ["ingestion"], "quotas": {}})
    assert entitled.status_code == 202, entitled.text
    engineer, steward = token_for("data-engineer", tenant), token_for("data-steward", tenant)
    contracts = f"/v1/tenants/{tenant}/contracts"
    body = ORDERS.format(name="Orders").encode()
    created = client.post(contracts, content=body, headers=engineer | {"content-type": "application/yaml"})
    assert created.status_code == 201, created.text
    for step, who in (("propose", engineer), ("approve", steward)):
        done = client.post(f"{contracts}/orders/{step}", json={"version": "1.0.0"}, headers=who)
        assert done.status_code == 202, done.text
    hook = {"url": "http://127.0.0.1:9/hook", "event_types": ["platform.tenants.TenantSuspended"]}
    subscribed = client.post(f"/v1/tenants/{tenant}/webhooks", json=hook, headers=engineer)
    assert subscribed.status_code == 201, subscribed.text
    return World(tenant, subscribed.json()["endpoint_id"], engineer)


@dataclasses.dataclass(frozen=True)
class Case:
    method: str
    path: str
    status: int
    pointer: str | None = None
    body: bytes | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    as_engineer: bool = False

    def send(self, client: TestClient, world: World) -> Any:
        path = self.path.format(t=world.tenant, e=world.endpoint)
        headers = (world.engineer if self.as_engineer else {}) | self.headers
        return client.request(self.method, path, content=self.body, headers=headers)


def json_body(text: str) -> dict[str, Any]:
    return {"body": text.encode(), "headers": {"content-type": "application/json"}}


PRINCIPALS = "/v1/tenants/{t}/principals"
BATCHES = "/v1/tenants/{t}/contracts/orders/batches"
CORPUS = {
    # control characters, wherever the platform would store them
    "principal-display-name-nul": Case(
        "POST",
        PRINCIPALS,
        422,
        "#/display_name",
        **json_body('{"kind": "service", "subject": "s", "display_name": "a\\u0000b"}'),
    ),
    "tenant-display-name-del": Case(
        "POST", "/v1/tenants", 422, "#/display_name", **json_body('{"slug": "b", "display_name": "B\\u007f"}')
    ),
    "entitlement-in-a-list-escape": Case(
        "POST",
        "/v1/tenants/{t}/entitlements",
        422,
        "#/features/0",
        **json_body('{"features": ["x\\u001b[2J"], "quotas": {}}'),
    ),
    "object-key-bell": Case(
        "POST",
        "/v1/tenants/{t}/entitlements",
        422,
        "#/quotas/max\u0007",
        **json_body('{"features": [], "quotas": {"max\\u0007": 1}}'),
    ),
    "batch-source-query-nul": Case(
        "POST",
        BATCHES + "?source=a%00b",
        422,
        "query:source",
        b"order_id,amount\n1,2\n",
        {"content-type": "text/csv"},
        True,
    ),
    "batch-user-agent-escape": Case(
        "POST",
        BATCHES,
        422,
        "header:user-agent",
        b"order_id,amount\n1,2\n",
        {"content-type": "text/csv", "User-Agent": "\x1b]0;x"},
        True,
    ),
    "search-query-escape": Case("GET", "/v1/catalog?q=re%1Bfund", 422, "query:q"),
    "path-parameter-nul": Case("GET", PRINCIPALS + "/a%00b", 422, "path:principal_id"),
    "idempotency-key-soh": Case(
        "POST",
        "/v1/tenants/{t}/suspend",
        422,
        "header:idempotency-key",
        b'{"reason": "overdue"}',
        {"content-type": "application/json", "Idempotency-Key": "k\x01"},
    ),
    "correlation-id-del": Case(
        "GET", "/v1/tenants", 422, "header:x-correlation-id", headers={"X-Correlation-Id": "c\x7f"}
    ),
    "request-id-escape": Case(
        "GET", "/v1/tenants", 422, "header:x-request-id", headers={"X-Request-Id": "\x1b[31mred"}
    ),
    "contract-yaml-escaped-nul": Case(
        "POST",
        "/v1/tenants/{t}/contracts",
        422,
        "#/name",
        ORDERS.format(name='"Orders\\0"').replace("id: orders", "id: orders2").encode(),
        {"content-type": "application/yaml"},
        True,
    ),
    "contract-json-bell": Case(
        "POST",
        "/v1/tenants/{t}/contracts",
        422,
        "#/name",
        ORDERS_JSON.encode(),
        {"content-type": "application/json"},
        True,
    ),
    "secret-value-nul": Case(
        "PUT", "/v1/tenants/{t}/secrets/api", 422, "#/value", **json_body('{"value": "a\\u0000b"}')
    ),
    "secret-name-tab-is-not-opaque": Case(
        "PUT", "/v1/tenants/{t}/secrets/a%08b", 422, "path:name", **json_body('{"value": "v"}')
    ),
    # integers beyond 64 bits, and digits of other scripts
    "dead-letters-before": Case("GET", f"/v1/dead-letters?before={BEYOND_64_BITS}", 422, "query:before"),
    "runs-before": Case("GET", f"/v1/tenants/{{t}}/runs?before={BEYOND_64_BITS}", 422, "query:before"),
    "deliveries-before": Case(
        "GET", f"/v1/tenants/{{t}}/webhooks/{{e}}/deliveries?before={BEYOND_64_BITS}", 422, "query:before"
    ),
    "ledger-entry": Case("GET", f"/v1/ledger/entries/{BEYOND_64_BITS}", 422, "path:leaf_index"),
    "ledger-entry-fullwidth-digit": Case("GET", "/v1/ledger/entries/%EF%BC%93", 422, "path:leaf_index"),
    "inclusion-proof-position": Case(
        "GET", f"/v1/ledger/proofs/inclusion?position={BEYOND_64_BITS}", 422, "query:position"
    ),
    "schema-version-superscript": Case("GET", "/v1/tenants/{t}/schemas/subjects/orders/versions/%C2%B2", 422),
    "body-integer": Case(
        "POST",
        "/v1/tenants/{t}/exports",
        422,
        "#/version",
        **json_body(f'{{"product": "orders", "version": {BEYOND_64_BITS}}}'),
    ),
    "consistent-position-not-ascii-digits": Case("GET", "/v1/tenants", 400, headers={"X-Consistent-Position": "1_0"}),
    # bodies that cannot be read at all
    "json-nested-10000-deep": Case(
        "POST", PRINCIPALS, 400, body=b"[" * 10_000 + b"]" * 10_000, headers={"content-type": "application/json"}
    ),
    "json-nested-100-deep": Case(
        "POST", PRINCIPALS, 400, body=b'{"a":' * 100 + b"1" + b"}" * 100, headers={"content-type": "application/json"}
    ),
    "json-invalid-utf8": Case(
        "POST",
        PRINCIPALS,
        400,
        **{
            "body": b'{"kind": "service", "subject": "s", "display_name": "\xff"}',
            "headers": {"content-type": "application/json"},
        },
    ),
    "arrow-ipc-garbage": Case(
        "POST",
        BATCHES,
        422,
        body=b"\xff\xff\xff\xff\x10\x00\x00\x00" + b"\x01" * 64,
        headers={"content-type": "application/vnd.apache.arrow.stream"},
        as_engineer=True,
    ),
    # OPTIONS is no route of ours (CORS preflights are answered before routing when CORS is on)
    "options-without-credentials": Case("OPTIONS", "/v1/tenants/{t}", 405, headers={"Authorization": ""}),
    "options-with-credentials": Case("OPTIONS", PRINCIPALS, 405),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_bad_input_gets_a_4xx_problem_and_writes_no_event(
    name: str, client: TestClient, platform: Platform, world: World
) -> None:
    case = CORPUS[name]
    before = platform.store.last_position()
    response = case.send(client, world)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == case.status
    if case.pointer is not None:
        assert case.pointer in [error["pointer"] for error in problem["errors"]], problem
    assert platform.store.last_position() == before


def test_the_same_requests_without_the_bad_part_are_accepted(client: TestClient, world: World) -> None:
    """The corpus refuses the bad part only: tab, LF and CR are text, and a secret value is opaque but for NUL."""
    display = '{"kind": "service", "subject": "s", "display_name": "two\\tlines\\r\\nhere"}'
    created = client.post(
        PRINCIPALS.format(t=world.tenant), content=display, headers={"content-type": "application/json"}
    )
    assert created.status_code == 201, created.text
    secret = client.put(
        f"/v1/tenants/{world.tenant}/secrets/api",
        content='{"value": "\\u0001\\u007f\\u001b"}',
        headers={"content-type": "application/json"},
    )
    assert secret.status_code == 202, secret.text
    runs = client.get(f"/v1/tenants/{world.tenant}/runs?before={2**63 - 1}")
    assert runs.status_code == 200, runs.text
    entry = client.get("/v1/ledger/entries/1")
    assert entry.status_code in (200, 404), entry.text


def test_options_lists_what_the_path_allows(client: TestClient, world: World) -> None:
    response = client.options(f"/v1/tenants/{world.tenant}/secrets/api")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, PUT"
    assert "auth" not in response.json()["detail"]


@pytest.fixture
def cors_client(settings: Settings) -> Iterator[TestClient]:
    from interfaces.bootstrap import bootstrap

    platform = bootstrap(dataclasses.replace(settings, cors_origins=("https://app.example",)))
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        yield client
    platform.close()


@pytest.mark.fresh_platform  # a platform of its own, on its own stores
def test_a_cors_preflight_is_answered_as_configured(cors_client: TestClient) -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    allowed = cors_client.options("/v1/tenants", headers=preflight)
    assert allowed.status_code in (200, 204), allowed.text
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    refused = cors_client.options("/v1/tenants", headers=preflight | {"Origin": "https://evil.example"})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


# The same corpus over every operation that takes such input, found in the app's OpenAPI document: a route added
# later is covered without being named here.

DOCUMENT_METHODS = ("get", "put", "post", "patch", "delete")
FULLWIDTH_THREE = "%EF%BC%93"  # FULLWIDTH DIGIT THREE: a decimal digit to Python's int(), never to the platform
DEEP_JSON = b"[" * 10_000 + b"]" * 10_000
INVALID_UTF8 = b'{"reason": "\xff"}'
GARBAGE_ARROW = b"\xff\xff\xff\xff\x10\x00\x00\x00" + b"\x01" * 64


@dataclasses.dataclass(frozen=True)
class Operation:
    method: str
    template: str
    spec: dict[str, Any]

    def parameters(self, where: str, kind: str | None = None) -> list[str]:
        return [
            p["name"]
            for p in self.spec.get("parameters", [])
            if p["in"] == where and (kind is None or kind in json.dumps(p.get("schema", {})))
        ]

    def path(self, ids: dict[str, str], **override: str) -> str:
        filled = self.template
        for name in re.findall(r"{(\w+)}", self.template):
            filled = filled.replace(f"{{{name}}}", override.get(name) or path_value(self.template, name, ids) or "x")
        return filled

    def body_types(self) -> list[str]:
        return list(self.spec.get("requestBody", {}).get("content", {}))


@pytest.fixture
def populated(client: TestClient, platform: Platform, token_for: Any, tmp_path: Path) -> Tenant:
    tenant = populate(client, platform, token_for, new_slug("initech"), tmp_path)
    client.post("/v1/ledger/checkpoints")
    tenant.ids.update(leaf_index="1", event_type="x")
    return tenant


def document_operations(client: TestClient) -> list[Operation]:
    document = client.get("/schema/openapi.json").json()
    return [
        Operation(method.upper(), path, spec)
        for path, item in document["paths"].items()
        for method, spec in item.items()
        if method in DOCUMENT_METHODS
    ]


def refused(response: Any, status: int, pointer: str | None = None) -> str | None:
    """Why the answer is not the expected problem (None when it is)."""
    if response.status_code != status or response.headers.get("content-type") != PROBLEM:
        return f"{response.status_code} {response.text[:160]}"
    if pointer is not None and pointer not in [e.get("pointer") for e in response.json().get("errors", [])]:
        return f"no {pointer} in {response.text[:160]}"
    return None


def corpus_for(operation: Operation, ids: dict[str, str]) -> list[tuple[str, dict[str, Any], int, str | None]]:
    """(what, request, expected status, expected pointer) for each bad input this operation takes."""
    cases: list[tuple[str, dict[str, Any], int, str | None]] = [
        ("OPTIONS", {"method": "OPTIONS", "url": operation.path(ids), "headers": {"Authorization": ""}}, 405, None)
    ]
    for name in operation.parameters("path", "integer"):
        for value in (BEYOND_64_BITS, FULLWIDTH_THREE):
            url = operation.path(ids, **{name: value})
            cases.append((f"path {name}={value}", {"method": operation.method, "url": url}, 422, f"path:{name}"))
    integers = operation.parameters("query", "integer")
    for name in integers:
        for value in (BEYOND_64_BITS, "\uff13"):
            params = dict.fromkeys(integers, "1") | {name: value}  # the others well-formed (some are required)
            request = {"method": operation.method, "url": operation.path(ids), "params": params}
            cases.append((f"query {name}={value}", request, 422, f"query:{name}"))
    for media_type in operation.body_types():
        if not media_type.endswith("json"):
            continue
        status = 400 if media_type == "application/json" else 422  # a JSON body, or a data file (NDJSON)
        for what, body in (("deep JSON", DEEP_JSON), ("invalid UTF-8", INVALID_UTF8)):
            request = {"method": operation.method, "url": operation.path(ids), "content": body}
            cases.append((f"{what} {media_type}", request | {"headers": {"content-type": media_type}}, status, None))
    for media_type in operation.body_types():
        if "arrow" in media_type:
            request = {"method": operation.method, "url": operation.path(ids), "content": GARBAGE_ARROW}
            cases.append((f"garbage {media_type}", request | {"headers": {"content-type": media_type}}, 422, None))
    return cases


def test_every_operation_refuses_the_corpus_it_could_be_sent(
    client: TestClient, platform: Platform, populated: Tenant
) -> None:
    failures, counted = [], dict.fromkeys(("OPTIONS", "path", "query", "deep JSON", "invalid UTF-8", "garbage"), 0)
    for operation in document_operations(client):
        for what, request, status, pointer in corpus_for(operation, populated.ids):
            before = platform.store.last_position()
            why = refused(client.request(**request), status, pointer)
            if why is None and platform.store.last_position() != before:
                why = "it wrote an event"
            if why is not None:
                failures.append(f"{operation.method} {operation.template} [{what}]: {why}")
            counted[next(kind for kind in counted if what.startswith(kind))] += 1

    assert not failures, "\n".join(failures)
    assert all(counted.values()), counted  # each kind of bad input met at least one operation
