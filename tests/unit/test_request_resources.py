"""What a request acts on, for the guard and the handlers (interfaces/http/auth.py ``Resources``): the platform, or
the tenant its path names, as its events say now (commands) or as the read model shows it (queries, remembered for a
second, and only from a fresh read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest

from application.authorization import Authorization, Decision, Identity, PermitAll, Resource, TenantHidden
from interfaces.http.auth import Resources

T = "6f1d2c7e-5b8a-4c1e-9a55-0c3e2f7b9d10"


@dataclass
class Tenant:
    status: str
    features: list[str]


@dataclass
class World:
    """Fakes of the ports: the tenants' state now (events) and the tenant directory (read model), counting reads."""

    now: dict[str, Tenant] = field(default_factory=dict)
    directory: dict[str, Tenant] = field(default_factory=dict)
    directory_reads: int = 0

    def current_tenant(self, tenant_id: UUID) -> Tenant | None:
        return self.now.get(str(tenant_id))

    def tenant(self, tenant_id: str) -> Tenant | None:
        self.directory_reads += 1
        return self.directory.get(tenant_id)

    def record(self, identity: Identity, action: str, resource: Resource, decision: Decision) -> None:
        pass

    def record_denial(self, *args: Any) -> None:
        pass


def resources_in(world: World) -> Resources:
    return Resources(Authorization(PermitAll(), world, world, world), world)  # type: ignore[arg-type]


def test_a_path_without_a_tenant_is_about_the_platform() -> None:
    assert resources_in(World()).find({}, command=False) == Resource.platform()


def test_commands_see_the_tenant_as_its_events_say_and_queries_as_the_directory_shows_it() -> None:
    world = World(now={T: Tenant("suspended", [])}, directory={T: Tenant("active", ["exports"])})
    resources = resources_in(world)
    assert resources.find({"tenant_id": T}, command=True) == Resource.tenant(T, "suspended", [])
    assert resources.find({"tenant_id": T}, command=False) == Resource.tenant(T, "active", ["exports"])
    assert resources.find({"tenant_id": "4b0a1c7e-0000-4000-8000-000000000000"}, command=False) is None


def test_queries_remember_a_fresh_read_only() -> None:
    world = World(directory={T: Tenant("active", [])})
    resources = resources_in(world)
    first = resources.seen_by_queries(T)
    world.directory[T] = Tenant("suspended", [])
    assert resources.seen_by_queries(T) == first
    assert world.directory_reads == 1
    expiry = resources.recent._found[T][0]
    resources.seen_by_queries(T)
    assert resources.recent._found[T][0] == expiry  # a remembered tenant is not remembered longer for being asked


def test_a_tenant_queries_cannot_find_is_hidden() -> None:
    with pytest.raises(TenantHidden):
        resources_in(World()).seen_by_queries(T)
