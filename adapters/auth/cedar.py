"""The policy engine: Cedar policies evaluated with cedarpy, deny by default.

The built-in policies and the schema are text in the repo; the active policy documents of the platform and of
the tenants (``domain/policy.py``) come from a source, the read model of active policies. All are parsed once,
and parsed again only when the files change or the source's version counter moves; a background thread reads
that counter every ``refresh_interval`` seconds, so no request waits on the database.

A tenant document's statements apply only to that tenant's own principals (the engine adds the condition), and
managing policy documents is decided by the built-in policies alone, so no document can lock out its own
retirement. An active document that no longer validates (the schema moved) denies, rather than being skipped:
everything for a platform document, everything its tenant's principals ask for a tenant document.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cedarpy

from adapters.auth.refusals import unmet_conditions
from application.authorization import Decision, Identity, Resource
from domain.policy import PolicyAnalysis, Statement
from domain.values import TenantStatus

log = logging.getLogger(__name__)
POLICY_DIR = Path(__file__).parent / "policies"
DECISION_CACHE_SIZE = 10_000
"""Decisions remembered per compiled policy set (a new set starts with none)."""
POLICY_ADMIN_ACTIONS = frozenset(
    {
        *(f"{verb}_tenant_policy" for verb in ("draft", "activate", "retire", "read")),
        *(f"{verb}_platform_policy" for verb in ("draft", "activate", "retire", "read")),
        *("list_tenant_policies", "simulate_tenant_policies", "list_platform_policies", "simulate_platform_policies"),
    }
)
"""Decided by the built-in policies alone: an activated document can never lock its authors out of retiring it."""


class PolicyError(ValueError):
    """The Cedar policies do not parse or do not validate against the schema."""


class Document(Protocol):
    """An active (or proposed) version of a policy document; ``tenant_id`` None for the platform's."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def tenant_id(self) -> str | None: ...
    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class PolicyDocument:
    name: str
    version: int
    tenant_id: str | None
    text: str


class PolicySource(Protocol):
    """Where the active documents come from, with a counter that moves whenever the active set changes."""

    def version(self) -> int: ...
    def documents(self) -> Sequence[Document]: ...


@dataclass(frozen=True)
class _Compiled:
    policies: cedarpy.PolicySet
    broken: dict[str | None, tuple[str, ...]] = field(default_factory=dict)
    """Owner (tenant id, None for the platform) -> why its active documents no longer validate."""
    decisions: dict[tuple[object, ...], Decision] = field(default_factory=dict)
    """Decisions already taken under exactly these policies: the same question gets the same answer."""


Decide = Callable[[Identity, str, "Resource"], Decision]


class PolicyEngine:
    def __init__(
        self, directory: Path = POLICY_DIR, source: PolicySource | None = None, refresh_interval: float = 0.5
    ) -> None:
        self.directory = directory
        self.refresh_interval = refresh_interval
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._fingerprint = ""
        self._builtin: cedarpy.PolicySet | None = None
        self._builtin_statements: dict[str, Any] = {}
        self._schema: cedarpy.Schema | None = None
        self._schema_text = ""
        self._source, self._source_version = source, -1
        self._documents: tuple[Document, ...] = ()
        self._compiled: _Compiled | None = None
        self._checked: dict[str, tuple[str, ...]] = {}
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.reload()
        self.refresh()

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
            self._builtin = cedarpy.PolicySet.from_str(policies)
            self._builtin_statements = json.loads(cedarpy.policies_to_json_str(policies))["staticPolicies"]
            self._schema, self._schema_text, self._fingerprint = cedarpy.Schema.from_str(schema), schema, fingerprint
            self._checked = {}
        with self._refreshing:  # the active documents again, judged by the (maybe new) schema
            compiled = self._compile(self._documents)
            with self._lock:
                self._compiled = compiled
        return True

    def refresh(self) -> bool:
        """Reparses the active documents when the source's version counter moved; True when it did."""
        if self._source is None:
            return False
        with self._refreshing:
            version = self._source.version()
            if version == self._source_version:
                return False
            documents = tuple(self._source.documents())
            compiled = self._compile(documents)
            with self._lock:
                self._documents, self._compiled, self._source_version = documents, compiled, version
        return True

    def authorize(
        self, identity: Identity, action: str, resource: Resource, context: dict[str, Any] | None = None
    ) -> Decision:
        """Cedar's decision; ``context`` carries what a data policy needs beyond the entities (e.g. a contract's
        status for ``land_batch``)."""
        self._watch()
        with self._lock:
            compiled = self._compiled
        assert compiled is not None
        attrs = json.dumps([resource.attrs, context or {}], sort_keys=True)
        key = (identity, action, resource.type, resource.id, attrs)
        decision = compiled.decisions.get(key)
        if decision is None:
            decision = self._decide(compiled, identity, action, resource, context)
            if len(compiled.decisions) >= DECISION_CACHE_SIZE:
                compiled.decisions.clear()
            compiled.decisions[key] = decision
        return decision

    def explain(self, decision: Decision, resource: Resource, context: Mapping[str, Any] | None = None) -> list[str]:
        """The conditions of the built-in policies the refused ``decision`` did not meet, as sentences."""
        return unmet_conditions(decision, resource, context)

    def proposing(self, documents: Sequence[Document]) -> Decide:
        """Decides as the engine would with these documents active too (each replacing its own policy's version)."""
        replaced = {(d.tenant_id, d.name) for d in documents}
        with self._lock:
            kept = [d for d in self._documents if (d.tenant_id, d.name) not in replaced]
        compiled = self._compile([*kept, *documents])
        return lambda identity, action, resource: self._decide(compiled, identity, action, resource)

    def analyse(self, cedar: str) -> PolicyAnalysis:
        """Cedar's validation of the text against the platform schema, and each statement's effect and scope."""
        errors = tuple(str(e) for e in cedarpy.validate_policies(cedar, self._schema_text).errors)
        try:
            parsed = json.loads(cedarpy.policies_to_json_str(cedar))
        except ValueError as error:
            return PolicyAnalysis(errors or (str(error),), ())
        statements = tuple(_statement(s) for s in parsed["staticPolicies"].values())
        return PolicyAnalysis(errors, statements, len(parsed["templates"]))

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)

    def _decide(
        self,
        compiled: _Compiled,
        identity: Identity,
        action: str,
        resource: Resource,
        context: dict[str, Any] | None = None,
    ) -> Decision:
        policies = self._builtin if action in POLICY_ADMIN_ACTIONS else compiled.policies
        broken = (
            *compiled.broken.get(None, ()),
            *(compiled.broken.get(identity.tenant_id, ()) if identity.tenant_id else ()),
        )
        if broken and action not in POLICY_ADMIN_ACTIONS:
            return Decision(False, (), broken)
        request = {
            "principal": {"type": "Principal", "id": identity.principal_id},
            "action": {"type": "Action", "id": action},
            "resource": {"type": resource.type, "id": resource.id},
            "context": context or {},
        }
        assert policies is not None
        entities = json.dumps(_entities(identity, resource))
        result = cedarpy.is_authorized(request, policies, entities, schema=self._schema)
        names = result.diagnostics.id_annotations_by_reason
        policy_ids = tuple(names.get(reason, reason) for reason in result.diagnostics.reasons)
        return Decision(result.allowed, policy_ids, tuple(result.diagnostics.errors))

    def _compile(self, documents: Sequence[Document]) -> _Compiled:
        statements: dict[str, Any] = dict(self._builtin_statements)
        broken: dict[str | None, tuple[str, ...]] = {}
        for document in documents:
            errors = self._check(document.text)
            if errors:
                label = _label(document)
                broken[document.tenant_id] = (*broken.get(document.tenant_id, ()), *(f"{label}: {e}" for e in errors))
                continue
            statements |= _document_statements(document)
        text = json.dumps({"staticPolicies": statements, "templates": {}, "templateLinks": []})
        return _Compiled(cedarpy.PolicySet.from_json_str(text), broken)

    def _check(self, cedar: str) -> tuple[str, ...]:
        key = hashlib.sha256(cedar.encode()).hexdigest()
        if key not in self._checked:
            self._checked[key] = tuple(str(e) for e in cedarpy.validate_policies(cedar, self._schema_text).errors)
        return self._checked[key]

    def _watch(self) -> None:
        """Starts the thread that follows the source's version counter (on the first decision, not before)."""
        if self._source is None or self._watcher is not None:
            return
        with self._refreshing:
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._follow, daemon=True, name="policy-documents")
                self._watcher.start()

    def _follow(self) -> None:
        while not self._stop.wait(self.refresh_interval):
            try:
                self.refresh()
            except Exception:
                log.exception("reading the active policy documents failed; the last set stays in force")


def _label(document: Document) -> str:
    owner = f"tenant:{document.tenant_id}" if document.tenant_id else "platform"
    return f"{owner}/{document.name}@{document.version}"


def _document_statements(document: Document) -> dict[str, Any]:
    """The document's statements in Cedar's JSON form, named after it; a tenant's bound to its own principals."""
    label = _label(document)
    parsed = json.loads(cedarpy.policies_to_json_str(document.text))["staticPolicies"]
    statements = {}
    for index, statement in enumerate(parsed.values()):
        annotations = statement.setdefault("annotations", {})
        annotations["id"] = f"{label}/{annotations.get('id') or index}"
        if document.tenant_id:
            statement["conditions"] = [_own_principals(document.tenant_id), *statement["conditions"]]
        statements[f"{label}/{index}"] = statement
    return statements


def _own_principals(tenant_id: str) -> dict[str, Any]:
    """``when { principal has tenant && principal.tenant == Tenant::"<tenant_id>" }`` in Cedar's JSON form."""
    principal = {"Var": "principal"}
    has_tenant = {"has": {"left": principal, "attr": "tenant"}}
    same = {
        "==": {
            "left": {".": {"left": principal, "attr": "tenant"}},
            "right": {"Value": {"__entity": {"type": "Tenant", "id": tenant_id}}},
        }
    }
    return {"kind": "when", "body": {"&&": {"left": has_tenant, "right": same}}}


def _statement(parsed: dict[str, Any]) -> Statement:
    scope = parsed["resource"]
    entity = scope.get("entity") if scope.get("op") == "==" else None
    return Statement(parsed["effect"], entity["type"], entity["id"]) if entity else Statement(parsed["effect"])


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
                    "attrs": {"status": TenantStatus.ACTIVE, "features": []},
                    "parents": [],
                }
            )
    entities.append(
        {"uid": {"type": "Principal", "id": identity.principal_id}, "attrs": principal_attrs, "parents": []}
    )
    return entities
