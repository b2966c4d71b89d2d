"""The gateway over HTTP: rate limits, request ids, security headers, CORS and body-size limits on a small app."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import NotAuthorizedException
from litestar.openapi import OpenAPIConfig
from litestar.params import JSONBody
from litestar.testing import TestClient
from litestar.types import ASGIApp, Receive, Scope, Send

from interfaces.http.gateway import (
    CSP_API,
    CSP_SCHEMA,
    cors_config,
    gateway_middleware,
    request_id,
    route_body_limit,
    security_headers_hook,
)
from interfaces.http.problems import EXCEPTION_HANDLERS
from interfaces.http.ratelimit import RateLimits
from interfaces.settings import Settings, SettingsError


@dataclass(frozen=True)
class FakeIdentity:
    principal_id: str
    tenant_id: str | None
    method: str = "jwt"


def client_address_from_header(app: ASGIApp) -> ASGIApp:
    """Lets a test speak from another client address (X-Test-Client): the TestClient always has one."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope.get("headers", []):
            if name == b"x-test-client":
                scope["client"] = (value.decode(), 50000)
        await app(scope, receive, send)

    return middleware


def fake_authentication(app: ASGIApp) -> ASGIApp:
    """Stands in for the real authentication: the identity comes from test headers; /v1/private needs one."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode(): v.decode() for k, v in scope.get("headers", [])}
        if "x-test-principal" in headers:
            method = headers.get("x-test-method", "jwt")
            scope["auth"] = FakeIdentity(headers["x-test-principal"], headers.get("x-test-tenant"), method)
        elif scope["path"] == "/v1/private":
            raise NotAuthorizedException("valid credentials are required")
        await app(scope, receive, send)

    return middleware


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@get("/v1/things")
async def list_things(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {"request_id": request_id(request.scope), "state_request_id": request.state.request_id}


@get("/v1/private")
async def private() -> dict[str, str]:
    return {"secret": "yes"}


@get("/v1/cached")
async def cached() -> Response[dict[str, bool]]:
    return Response({"ok": True}, headers={"Cache-Control": "max-age=60"})


@post("/v1/things")
async def create_thing(data: JSONBody[dict[str, Any]]) -> dict[str, int]:
    return {"fields": len(data)}


@post("/v1/tenants/{tenant_id:str}/batches", request_max_body_size=None)
async def land_batch(request: Request[Any, Any, Any]) -> dict[str, int]:
    body = await request.body()
    return {"bytes": len(body)}


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/open")
async def open_route() -> dict[str, str]:
    return {"open": "to anyone"}


def make_app(settings: Settings, clock: FakeClock) -> Litestar:
    limits = RateLimits(settings.limits, settings.auth, clock, public_paths=("/health", "/open", "/schema"))
    return Litestar(
        route_handlers=[list_things, private, cached, create_thing, land_batch, health, open_route],
        middleware=[
            client_address_from_header,
            *gateway_middleware(settings.limits),
            limits.by_address,
            fake_authentication,
            limits.by_principal,
        ],
        before_send=[security_headers_hook],
        cors_config=cors_config(settings.http),
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(title="gateway test", version="0", path="/schema"),
        debug=False,
    )


ClientFactory = Callable[..., TestClient[Litestar]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(clock: FakeClock) -> Iterator[ClientFactory]:
    clients: list[TestClient[Litestar]] = []

    def make(base_url: str = "http://testserver.local", **settings: Any) -> TestClient[Litestar]:
        defaults: dict[str, Any] = {"max_body_bytes": 1024, "max_ingest_bytes": 8192}
        client = TestClient(make_app(Settings.from_env({}, **{**defaults, **settings}), clock), base_url=base_url)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def as_principal(principal: str, tenant: str | None = None) -> dict[str, str]:
    return {"x-test-principal": principal, **({"x-test-tenant": tenant} if tenant else {})}


# Rate limits


def test_a_principal_over_its_limit_gets_429_with_retry_after(make_client: ClientFactory, clock: FakeClock) -> None:
    client = make_client(rate_limit_principal="3/60", rate_limit_tenant="100/60")
    alice = as_principal("alice", "acme")
    answers = [client.get("/v1/things", headers=alice) for _ in range(3)]
    refused = client.get("/v1/things", headers=alice)

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["ratelimit"] for a in answers] == [
        '"principal";r=2;t=20',
        '"principal";r=1;t=40',
        '"principal";r=0;t=20',
    ]
    assert answers[0].headers["ratelimit-policy"] == '"principal";q=3;w=60, "tenant";q=100;w=60'
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "20"
    assert refused.headers["ratelimit"] == '"principal";r=0;t=20'
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["type"].endswith("/too-many-requests")
    assert (body["title"], body["status"], body["instance"]) == ("Too Many Requests", 429, "/v1/things")
    assert "retry in 20 s" in body["detail"]
    assert body["request_id"] == refused.headers["x-request-id"]
    assert refused.headers["x-content-type-options"] == "nosniff"

    clock.now += 20
    assert client.get("/v1/things", headers=alice).status_code == 200


def test_principals_of_one_tenant_share_its_limit(make_client: ClientFactory) -> None:
    client = make_client(rate_limit_principal="100/60", rate_limit_tenant="3/30")
    statuses = [client.get("/v1/things", headers=as_principal(p, "acme")).status_code for p in ("a", "b", "a")]
    refused = client.get("/v1/things", headers=as_principal("b", "acme"))
    other_tenant = client.get("/v1/things", headers=as_principal("c", "globex"))

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.headers["ratelimit"] == '"tenant";r=0;t=10'
    assert refused.headers["retry-after"] == "10"
    assert other_tenant.status_code == 200


def test_without_an_identity_the_client_address_is_limited_and_no_tenant(make_client: ClientFactory) -> None:
    client = make_client(rate_limit_client="2/60", rate_limit_principal="1/60", rate_limit_tenant="1/60")
    answers = [client.get("/open") for _ in range(3)]
    elsewhere = client.get("/open", headers={"x-test-client": "192.0.2.7"})

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["ratelimit-policy"] == '"client";q=2;w=60'
    assert answers[1].headers["ratelimit"] == '"client";r=0;t=30'
    assert answers[2].headers["retry-after"] == "30"
    assert "the client rate limit of 2 requests per 60 s is used up" in answers[2].json()["detail"]
    assert elsewhere.status_code == 200  # each address has its own bucket


def test_health_and_ready_probes_are_never_limited(make_client: ClientFactory) -> None:
    client = make_client(rate_limit_client="1/60", rate_limit_auth_failures="1/60")
    client.get("/v1/private")  # the address's one failure
    answers = [client.get("/health") for _ in range(5)]
    assert {a.status_code for a in answers} == {200}
    assert "ratelimit" not in answers[0].headers
    assert client.get("/open").status_code == 429  # barred elsewhere meanwhile


def test_with_authentication_off_every_request_is_limited_by_address(make_client: ClientFactory) -> None:
    client = make_client(auth="off", rate_limit_client="2/60")
    # PLATFORM_AUTH=off puts a stand-in identity (method "none") in the scope: it proves nobody
    stand_in = {**as_principal("anonymous", "acme"), "x-test-method": "none"}
    statuses = [client.get("/v1/things", headers=stand_in).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_failed_authentications_bar_the_address_before_its_credentials_are_checked(
    make_client: ClientFactory, clock: FakeClock
) -> None:
    client = make_client(rate_limit_auth_failures="3/60", rate_limit_client="100/60")
    failed = [client.get("/v1/private") for _ in range(3)]
    barred = client.get("/v1/private")
    with_identity = client.get("/v1/things", headers=as_principal("alice", "acme"))
    public = client.get("/open")
    neighbour = client.get("/v1/private", headers={"x-test-client": "192.0.2.8"})

    assert [a.status_code for a in failed] == [401, 401, 401]
    assert [a.headers["ratelimit"] for a in failed] == [
        '"auth_failures";r=2;t=20',
        '"auth_failures";r=1;t=40',
        '"auth_failures";r=0;t=20',
    ]
    assert failed[0].headers["ratelimit-policy"] == '"auth_failures";q=3;w=60'
    assert failed[0].headers["content-type"] == "application/problem+json"
    assert barred.status_code == 429
    assert barred.headers["retry-after"] == "20"
    body = barred.json()
    assert body["type"].endswith("/too-many-requests")
    assert (
        "the auth_failures rate limit of 3 failed authentications per 60 s is used up; retry in 20 s" in body["detail"]
    )
    assert (with_identity.status_code, public.status_code) == (429, 429)  # the address is barred, whatever it sends
    assert neighbour.status_code == 401

    clock.now += 20
    assert client.get("/v1/things", headers=as_principal("alice", "acme")).status_code == 200
    assert client.get("/v1/private").status_code == 401  # the token it got back, spent again
    assert client.get("/v1/private").status_code == 429


def test_successful_requests_cost_no_failure_token(make_client: ClientFactory) -> None:
    client = make_client(rate_limit_auth_failures="1/60")
    answers = [client.get("/v1/things", headers=as_principal("alice", "acme")) for _ in range(5)]
    assert {a.status_code for a in answers} == {200}
    assert client.get("/v1/private").status_code == 401


def test_rate_limits_switched_off_send_no_ratelimit_headers(make_client: ClientFactory) -> None:
    off = {f"rate_limit_{name}": "off" for name in ("principal", "tenant", "client", "auth_failures")}
    client = make_client(**off)
    answers = [client.get(path, headers=as_principal("alice", "acme")) for path in ("/open", "/v1/things") * 3]
    assert {a.status_code for a in answers} == {200}
    assert not any("ratelimit" in a.headers for a in answers)
    failed = [client.get("/v1/private") for _ in range(20)]
    assert {a.status_code for a in failed} == {401}
    assert "ratelimit" not in failed[0].headers


# Request ids


def test_a_valid_request_id_is_echoed_and_kept_in_the_scope_state(make_client: ClientFactory) -> None:
    client = make_client()
    answer = client.get("/v1/things", headers={"X-Request-Id": "req-42 from the edge"})
    assert answer.headers["x-request-id"] == "req-42 from the edge"
    assert answer.json() == {"request_id": "req-42 from the edge", "state_request_id": "req-42 from the edge"}


@pytest.mark.parametrize("offered", [None, b"", b"x" * 129, b"caf\xe9", b"tab\there"])
def test_a_missing_or_bad_request_id_is_replaced_by_a_uuid4(make_client: ClientFactory, offered: bytes | None) -> None:
    client = make_client()
    headers = {} if offered is None else {b"X-Request-Id": offered}
    answer = client.get("/v1/things", headers=headers)
    generated = answer.headers["x-request-id"]
    assert uuid.UUID(generated).version == 4
    assert answer.json()["request_id"] == generated


def test_a_request_id_of_128_characters_is_accepted(make_client: ClientFactory) -> None:
    offered = "r" * 128
    assert make_client().get("/health", headers={"X-Request-Id": offered}).headers["x-request-id"] == offered


# Security headers


def test_api_responses_carry_the_security_headers(make_client: ClientFactory) -> None:
    answer = make_client().get("/v1/things")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["content-security-policy"] == CSP_API
    assert answer.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in answer.headers


def test_hsts_only_over_https_and_no_store_only_on_the_api(make_client: ClientFactory) -> None:
    answer = make_client(base_url="https://testserver.local").get("/health")
    assert answer.headers["strict-transport-security"] == "max-age=31536000"
    assert "cache-control" not in answer.headers


def test_a_handlers_own_cache_control_wins(make_client: ClientFactory) -> None:
    assert make_client().get("/v1/cached").headers["cache-control"] == "max-age=60"


def test_responses_no_route_middleware_saw_still_carry_the_headers(make_client: ClientFactory) -> None:
    client = make_client()
    not_found = client.get("/v1/nothing-here", headers={"X-Request-Id": "lost-1"})
    unauthenticated = client.get("/v1/private")  # raised by the authentication middleware

    for answer in (not_found, unauthenticated):
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["content-security-policy"] == CSP_API
        assert answer.headers["cache-control"] == "no-store"
    assert (not_found.status_code, unauthenticated.status_code) == (404, 401)
    assert not_found.headers["x-request-id"] == "lost-1"
    assert uuid.UUID(unauthenticated.headers["x-request-id"]).version == 4


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger", "/schema/redoc", "/schema/rapidoc", "/schema/elements"])
def test_the_openapi_pages_get_a_csp_that_lets_them_load(make_client: ClientFactory, page: str) -> None:
    answer = make_client().get(page)
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == CSP_SCHEMA
    directives = dict(d.strip().split(" ", 1) for d in CSP_SCHEMA.split(";"))
    for tag, attribute, directive in (("script", "src", "script-src"), ("link", "href", "style-src")):
        for url in re.findall(rf'<{tag}[^>]*\s{attribute}="([^"]+)"', answer.text):
            origin = re.match(r"https?://[^/]+", url)
            assert origin, url
            assert origin.group(0) in directives[directive].split(), f"{url} not allowed by {directive}"
    if "<script>" in answer.text or "<script type" in answer.text:
        assert "'unsafe-inline'" in directives["script-src"].split()


# CORS


def test_cors_is_off_by_default(make_client: ClientFactory) -> None:
    client = make_client()
    assert cors_config(Settings().http) is None
    preflight = client.options(
        "/v1/things", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    )
    simple = client.get("/v1/things", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


def test_cors_allows_only_the_configured_origins(make_client: ClientFactory) -> None:
    client = make_client(cors_origins="https://app.example, https://admin.example:8443")
    preflight = client.options(
        "/v1/things",
        headers={
            "Origin": "https://admin.example:8443",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, idempotency-key, content-type",
        },
    )
    simple = client.get("/v1/things", headers={"Origin": "https://app.example"})
    stranger = client.get("/v1/things", headers={"Origin": "https://evil.example"})

    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == "https://admin.example:8443"
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in stranger.headers


@pytest.mark.parametrize("origins", ["app.example", "https://app.example/path", "ftp://app.example"])
def test_cors_refuses_what_is_not_an_origin(origins: str) -> None:
    with pytest.raises(SettingsError, match="PLATFORM_CORS_ORIGINS"):
        cors_config(Settings.from_env({"PLATFORM_CORS_ORIGINS": origins}).http)


# Body-size limits


def test_route_body_limit_gives_ingestion_routes_the_ingest_limit() -> None:
    settings = Settings(max_body_bytes=10, max_ingest_bytes=99)
    assert route_body_limit("/v1/tenants/t-1/batches", settings.limits) == 99
    assert route_body_limit("/v1/tenants/t-1/batches/", settings.limits) == 99
    assert route_body_limit("/v1/tenants/t-1/batches/b-1", settings.limits) == 10
    assert route_body_limit("/v1/tenants", settings.limits) == 10


def test_an_oversized_body_is_413_on_a_normal_route(make_client: ClientFactory) -> None:
    client = make_client()
    answer = client.post("/v1/things", content=b"x" * 2000, headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == "the body of 2000 bytes is over this route's limit of 1024 bytes"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert client.post("/v1/things", json={"name": "small"}).json() == {"fields": 1}


def test_an_ingestion_route_takes_the_larger_body_up_to_its_own_limit(make_client: ClientFactory) -> None:
    client = make_client()
    accepted = client.post("/v1/tenants/acme/batches", content=b"r" * 4000)
    refused = client.post("/v1/tenants/acme/batches", content=b"r" * 9000)
    assert (accepted.status_code, accepted.json()) == (201, {"bytes": 4000})
    assert refused.status_code == 413


def chunks(total: int, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, total, size):
        yield b"c" * min(size, total - start)


def test_a_streamed_body_is_counted_as_it_arrives(make_client: ClientFactory) -> None:
    client = make_client()
    accepted = client.post("/v1/tenants/acme/batches", content=chunks(5000))
    refused = client.post("/v1/tenants/acme/batches", content=chunks(9000))
    assert (accepted.status_code, accepted.json()) == (201, {"bytes": 5000})
    assert refused.status_code == 413
    assert refused.headers["content-type"] == "application/problem+json"
    assert "limit of 8192 bytes" in refused.json()["detail"]
