"""Reading an ODCS v3 document (already parsed and checked against the standard's schema) into a contract.

The registry's own rules on top of the standard's: apiVersion v3.x, a usable id, a semantic version, known
logical types, unique object and field names, well-formed library quality rules and KPI definitions, and a
normalized (canonical JSON) document of at most a size limit (MAX_DOCUMENT_BYTES by default), fingerprinted
with SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.contracts.errors import ContractInvalidError, ContractTooLargeError, Issue
from domain.contracts.kpis import read_kpis
from domain.contracts.model import LOGICAL_TYPES, ContractSpec, FieldSpec, ObjectSpec, QualityRule
from domain.contracts.quality import read_rules
from domain.contracts.semver import SemVer

MAX_DOCUMENT_BYTES = 1024 * 1024
"""The default largest normalized document (canonical JSON) of a contract version (PLATFORM_MAX_CONTRACT_BYTES).
The document and its typed form are stored apart from their events (``blob_fields``), which carry their SHA-256,
so the limit is no longer the event's."""
CONTRACT_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
API_VERSION = re.compile(r"^v3\.\d+\.\d+$")


@dataclass(frozen=True)
class ParsedContract:
    """One version of a contract as the registry records it."""

    key: str
    version: str
    name: str | None
    document: dict[str, Any]
    sha256: str
    spec: ContractSpec


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same document always gives the same bytes (and SHA-256)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode()


def sized_json(document: Mapping[str, Any], max_bytes: int) -> bytes:
    """The document's canonical JSON; ContractTooLargeError when it is over ``max_bytes``."""
    canonical = canonical_json(document)
    if len(canonical) > max_bytes:
        msg = f"the contract is {len(canonical)} bytes as JSON; the limit is {max_bytes}"
        raise ContractTooLargeError(msg)
    return canonical


def read_contract(document: Mapping[str, Any], max_bytes: int = MAX_DOCUMENT_BYTES) -> ParsedContract:
    """The contract in a document, or ContractInvalidError naming every offending place (JSON pointers);
    ContractTooLargeError when its canonical JSON is over ``max_bytes``."""
    canonical = sized_json(document, max_bytes)
    issues: list[Issue] = []
    _check_header(document, issues)
    reading = _Reading(issues)
    objects = reading.objects(document.get("schema") or [])
    spec = ContractSpec(objects=objects, quality=reading.rules, kpis=read_kpis(document, objects, issues))
    if issues:
        raise ContractInvalidError(issues)
    return ParsedContract(
        key=str(document["id"]),
        version=str(document["version"]),
        name=document.get("name"),
        document=json.loads(canonical),
        sha256=hashlib.sha256(canonical).hexdigest(),
        spec=spec,
    )


def _check_header(document: Mapping[str, Any], issues: list[Issue]) -> None:
    if not API_VERSION.fullmatch(str(document.get("apiVersion"))):
        issues.append(("/apiVersion", "the registry takes ODCS v3 contracts (apiVersion v3.x.y)"))
    if document.get("kind") != "DataContract":
        issues.append(("/kind", "kind must be DataContract"))
    if not CONTRACT_KEY.fullmatch(str(document.get("id"))):
        detail = "id must be 1-200 letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
        issues.append(("/id", detail))
    try:
        SemVer.parse(document.get("version"))
    except ContractInvalidError as error:
        issues += error.issues


@dataclass
class _Reading:
    """Walks the schema objects, collecting fields, quality rules and issues."""

    issues: list[Issue]
    rules: list[QualityRule] = field(default_factory=list)

    def objects(self, raw: Any) -> list[ObjectSpec]:
        found: list[ObjectSpec] = []
        for i, item in enumerate(raw if isinstance(raw, list) else []):
            here, name = f"/schema/{i}", str(item.get("name", ""))
            if any(o["name"] == name for o in found):
                self.issues.append((f"{here}/name", f"schema object {name!r} is declared twice"))
            props = item.get("properties") or []
            found.append(
                ObjectSpec(
                    name=name,
                    physical_name=item.get("physicalName"),
                    physical_type=item.get("physicalType"),
                    fields=self.fields(props, f"{here}/properties", name, ""),
                    primary_key=_primary_key(props),
                )
            )
            self.rules += read_rules(item.get("quality") or [], f"{here}/quality", name, None, self.issues)
        return found

    def fields(self, props: list[Any], pointer: str, obj: str, prefix: str) -> list[FieldSpec]:
        found: list[FieldSpec] = []
        for i, prop in enumerate(props):
            here, path = f"{pointer}/{i}", prefix + str(prop.get("name", ""))
            if any(f["name"] == path for f in found):
                self.issues.append((f"{here}/name", f"field {path!r} of {obj!r} is declared twice"))
            found.append(self.field(prop, here, obj, path))
            found += self.children(prop, here, obj, path)
        return found

    def children(self, prop: Mapping[str, Any], here: str, obj: str, path: str) -> list[FieldSpec]:
        """Nested properties (``path.child``) and array items (``path[]``), recursively."""
        found = self.fields(prop.get("properties") or [], f"{here}/properties", obj, f"{path}.")
        items = prop.get("items")
        if isinstance(items, Mapping):
            found.append(self.field(items, f"{here}/items", obj, f"{path}[]"))
            found += self.children(items, f"{here}/items", obj, f"{path}[]")
        return found

    def field(self, prop: Mapping[str, Any], here: str, obj: str, path: str) -> FieldSpec:
        logical = prop.get("logicalType")
        if logical is not None and logical not in LOGICAL_TYPES:
            detail = f"unknown logical type {logical!r}; use one of {', '.join(LOGICAL_TYPES)}"
            self.issues.append((f"{here}/logicalType", detail))
        self.rules += read_rules(prop.get("quality") or [], f"{here}/quality", obj, path, self.issues)
        return FieldSpec(
            name=path,
            logical_type=logical,
            physical_type=prop.get("physicalType"),
            required=bool(prop.get("required", False)),
            unique=bool(prop.get("unique", False)),
            primary_key=bool(prop.get("primaryKey", False)),
            classification=prop.get("classification"),
            options=dict(prop.get("logicalTypeOptions") or {}),
        )


def _primary_key(props: list[Any]) -> list[str]:
    """Top-level primary-key fields by primaryKeyPosition (unnumbered ones last, in declaration order)."""
    keyed = [(p.get("primaryKeyPosition", -1), i, p.get("name")) for i, p in enumerate(props) if p.get("primaryKey")]
    return [str(name) for _, _, name in sorted(keyed, key=lambda k: (k[0] < 1, k[0], k[1]))]
