"""Every route x every role x own tenant / other tenant, generated from the application's route table.

A route added later is covered without touching this file: it must declare a Cedar action, refuse callers
without credentials, hide other tenants behind 404, and answer 403 exactly when the policies deny.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from application.authorization import Identity, Resource
from domain.access import PLATFORM_ADMIN, ROLES, principal_id_for
from interfaces.bootstrap import Platform, bootstrap
from interfaces.credentials import dev_token
from interfaces.http.app import create_app
from interfaces.settings import Settings

PUBLIC = ("/health", "/schema", "/ready")
WEB_APPS = ("/web", "/app", "/admin")
"""The web apps' pages answer people (redirects to sign-in, HTML, CSRF on forms): their own matrix is in
tests/e2e/test_web_session.py."""
PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


def routes(app: Litestar) -> Iterator[tuple[str, str, dict]]:
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(PUBLIC + WEB_APPS):
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                yield method, route.path, handler.opt


def url(path: str, tenant_id: str) -> str:
    def value(match: re.Match[str]) -> str:
        if match.group(1) == "tenant_id":
            return tenant_id
        return "1" if match.group(2) == "int" else str(uuid.uuid4())

    return PARAM.sub(value, path)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, TestClient, dict]]:
    tmp = tmp_path_factory.mktemp("matrix")
    settings = Settings(
        event_store_url=str(tmp / "events.db"),
        read_model_url=f"sqlite:///{tmp}/rm.db",
        keys_dir=str(tmp / "keys"),
        datasets=str(tmp / "datasets"),
        scratch_dir=str(tmp / "scratch"),
        rate_limit_auth_failures=None,  # one client address fails authentication on every route, on purpose
    )
    platform = bootstrap(replace(settings, consistency_timeout=2.0))
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        admin = {"Authorization": f"Bearer {dev_token(platform, PLATFORM_ADMIN, None)}"}
        platform.worker.catch_up()
        tenants = {}
        for slug in ("own", "other"):
            created = client.post("/v1/tenants", json={"slug": slug, "display_name": slug}, headers=admin).json()
            tenants[slug] = created["tenant_id"]
        tokens = {PLATFORM_ADMIN: admin}
        for role in ROLES[1:]:
            tokens[role] = {"Authorization": f"Bearer {dev_token(platform, role, tenants['own'])}"}
        platform.worker.catch_up()
        yield platform, client, {"tenants": tenants, "tokens": tokens}
    platform.close()


def call(client: TestClient, method: str, path: str, headers: dict) -> int:
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return client.request(method, path, headers=headers, **body).status_code


def test_every_route_declares_a_cedar_action(world) -> None:
    _, client, _ = world
    missing = [f"{m} {p}" for m, p, opt in routes(client.app) if not opt.get("action")]
    assert missing == []


def test_no_route_answers_without_credentials(world) -> None:
    _, client, data = world
    for method, path, _ in routes(client.app):
        bad = {"Authorization": "Bearer not-a-token"}
        for headers in ({}, bad, {"X-API-Key": "gdp_aaaaaaaaaaaa_wrong"}):
            assert call(client, method, url(path, data["tenants"]["own"]), headers) == 401, (method, path, headers)


@pytest.mark.parametrize("role", ROLES[1:])
def test_other_tenants_are_invisible(world, role: str) -> None:
    _, client, data = world
    for method, path, _ in routes(client.app):
        if "{tenant_id" not in path:
            continue
        status = call(client, method, url(path, data["tenants"]["other"]), data["tokens"][role])
        assert status == 404, (role, method, path, status)


@pytest.mark.parametrize("role", ROLES)
def test_own_tenant_answers_403_exactly_when_the_policies_deny(world, role: str) -> None:
    platform, client, data = world
    own = data["tenants"]["own"]
    tenant = None if role == PLATFORM_ADMIN else own
    subject = f"dev-{role}" + (f"-{own}" if tenant else "")
    kind = "service" if role == "service" else "person"
    identity = Identity(str(principal_id_for("platform-local", subject, tenant)), kind, tenant, (role,), "jwt")
    for method, path, opt in routes(client.app):
        resource = Resource.tenant(own, "active", []) if "{tenant_id" in path else Resource.platform()
        allowed = platform.policies.authorize(identity, opt["action"], resource).allowed
        status = call(client, method, url(path, own), data["tokens"][role])
        assert status not in (401, 500), (role, method, path, status)
        assert (status == 403) == (not allowed), (role, method, path, status, allowed)
