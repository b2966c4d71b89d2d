"""The policy engine: Cedar policies (text in the repo) evaluated with cedarpy, deny by default.

The policy set and schema are parsed once and parsed again only when the files change.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cedarpy

from adapters.auth.identity import Identity

POLICY_DIR = Path(__file__).parent / "policies"


class PolicyError(ValueError):
    """The Cedar policies do not parse or do not validate against the schema."""


@dataclass(frozen=True)
class Resource:
    """What an action is on: the platform itself, or one tenant (with the attributes policies read)."""

    type: str
    id: str
    attrs: dict[str, Any]

    @classmethod
    def platform(cls) -> Resource:
        return cls("Platform", "platform", {})

    @classmethod
    def tenant(cls, tenant_id: str, status: str, features: list[str]) -> Resource:
        return cls("Tenant", tenant_id, {"status": status, "features": features})

    @property
    def label(self) -> str:
        return f'{self.type}::"{self.id}"'


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy_ids: tuple[str, ...]
    errors: tuple[str, ...]


class PolicyEngine:
    def __init__(self, directory: Path = POLICY_DIR) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._fingerprint = ""
        self._policies: cedarpy.PolicySet | None = None
        self._schema: cedarpy.Schema | None = None
        self.reload()

    def _read(self) -> tuple[str, str]:
        policies = "\n".join(p.read_text() for p in sorted(self.directory.glob("*.cedar")))
        return policies, (self.directory / "schema.cedarschema").read_text()

    def reload(self) -> bool:
        """Parses and validates the policies when their text changed; True when it did."""
        policies, schema = self._read()
        fingerprint = hashlib.sha256((policies + schema).encode()).hexdigest()
        if fingerprint == self._fingerprint:
            return False
        validation = cedarpy.validate_policies(policies, schema)
        if not validation.validation_passed:
            raise PolicyError("; ".join(str(e) for e in validation.errors))
        with self._lock:
            self._policies = cedarpy.PolicySet.from_str(policies)
            self._schema, self._fingerprint = cedarpy.Schema.from_str(schema), fingerprint
        return True

    def authorize(self, identity: Identity, action: str, resource: Resource) -> Decision:
        request = {
            "principal": {"type": "Principal", "id": identity.principal_id},
            "action": {"type": "Action", "id": action},
            "resource": {"type": resource.type, "id": resource.id},
            "context": {},
        }
        with self._lock:
            policies, schema = self._policies, self._schema
        assert policies is not None
        result = cedarpy.is_authorized(request, policies, json.dumps(_entities(identity, resource)), schema=schema)
        names = result.diagnostics.id_annotations_by_reason
        policy_ids = tuple(names.get(reason, reason) for reason in result.diagnostics.reasons)
        return Decision(result.allowed, policy_ids, tuple(result.diagnostics.errors))


def _entities(identity: Identity, resource: Resource) -> list[dict[str, Any]]:
    principal_attrs: dict[str, Any] = {
        "platform_admin": identity.platform_admin,
        "roles": [r for r in identity.roles if r != "platform-admin"],
        "kind": identity.kind,
    }
    entities = [{"uid": {"type": resource.type, "id": resource.id}, "attrs": resource.attrs, "parents": []}]
    if identity.tenant_id:
        principal_attrs["tenant"] = {"__entity": {"type": "Tenant", "id": identity.tenant_id}}
        if not (resource.type == "Tenant" and resource.id == identity.tenant_id):
            entities.append(
                {
                    "uid": {"type": "Tenant", "id": identity.tenant_id},
                    "attrs": {"status": "active", "features": []},
                    "parents": [],
                }
            )
    entities.append(
        {"uid": {"type": "Principal", "id": identity.principal_id}, "attrs": principal_attrs, "parents": []}
    )
    return entities
