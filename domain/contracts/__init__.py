"""Data Contract Registry: ODCS v3 contracts of a tenant, their semantic versions and each version's lifecycle.

A version is drafted, proposed, then approved (it becomes the active version, the one in force) or rejected with a
reason; an approved version is later deprecated and retired. Approving a newer version deprecates the one it
supersedes. The author of a version (the actor who drafted it) may not approve it: four eyes. A new version is
compared with the active one, and breaking changes need a major version bump.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.contracts.diff import breaking, changelog
from domain.contracts.document import MAX_DOCUMENT_BYTES, ParsedContract, canonical_json, read_contract
from domain.contracts.errors import (
    BreakingChangeError,
    ContractInvalidError,
    ContractTooLargeError,
    FourEyesError,
    LifecycleError,
    VersionExistsError,
    VersionNotFoundError,
)
from domain.contracts.model import ContractSpec
from domain.contracts.semver import SemVer
from domain.errors import InvalidValueError
from domain.values import ContractStatus, TenantId

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "BreakingChangeError",
    "ContractInvalidError",
    "ContractTooLargeError",
    "DataContract",
    "FourEyesError",
    "LifecycleError",
    "ParsedContract",
    "VersionExistsError",
    "VersionNotFoundError",
    "canonical_json",
    "changelog",
    "contract_id_for",
    "read_contract",
]

CONTRACT_NAMESPACE = UUID("3d9c2a61-8f4b-4e57-b0d2-7a1e5c6f9b83")
MAX_REASON = 1000


def contract_id_for(tenant_id: TenantId, key: str) -> UUID:
    """A contract is named by its ODCS ``id`` within its tenant: two tenants may use the same id."""
    return uuid5(CONTRACT_NAMESPACE, f"{tenant_id}|{key}")


@dataclass
class Version:
    """What the aggregate keeps of a version to decide: its status, author and typed form (not the document)."""

    semver: SemVer
    status: ContractStatus
    author: str
    spec: ContractSpec
    document: dict[str, Any]


def _reason(reason: str, required: bool) -> str:
    cleaned = reason.strip()
    if (required and not cleaned) or len(cleaned) > MAX_REASON:
        msg = f"a reason is {'1' if required else '0'}-{MAX_REASON} characters"
        raise InvalidValueError(msg)
    return cleaned


class DataContract(Aggregate):
    """A tenant's data contract: its versions, each with a status, and the version in force (``current``)."""

    class Drafted(Aggregate.Created):
        # Stored apart by content (eventstore/blobs.py): the stored event carries their SHA-256 (for the document
        # the same as ``sha256``), so the contract of a large schema keeps its events small.
        blob_fields = ("document", "spec")
        tenant_id: TenantId
        key: str
        version: str
        name: str | None
        document: dict[str, Any]
        sha256: str
        spec: ContractSpec
        by: str

    class VersionDrafted(Aggregate.Event):
        blob_fields = ("document", "spec")
        version: str
        name: str | None
        document: dict[str, Any]
        sha256: str
        spec: ContractSpec
        by: str
        base_version: str | None

    class Proposed(Aggregate.Event):
        version: str
        by: str

    class Approved(Aggregate.Event):
        version: str
        by: str
        superseded: str | None

    class Rejected(Aggregate.Event):
        version: str
        by: str
        reason: str

    class Deprecated(Aggregate.Event):
        version: str
        by: str
        reason: str

    class Retired(Aggregate.Event):
        version: str
        by: str
        reason: str

    @classmethod
    def draft(cls, tenant_id: TenantId, contract: ParsedContract, by: str) -> DataContract:
        """Registers a contract with its first version, a draft authored by ``by``."""
        return cls._create(
            cls.Drafted,
            id=contract_id_for(tenant_id, contract.key),
            tenant_id=tenant_id,
            key=contract.key,
            version=contract.version,
            name=contract.name,
            document=contract.document,
            sha256=contract.sha256,
            spec=contract.spec,
            by=by,
        )

    def __init__(
        self,
        tenant_id: TenantId,
        key: str,
        version: str,
        name: str | None,
        document: dict[str, Any],
        sha256: str,
        spec: ContractSpec,
        by: str,
    ) -> None:
        self.tenant_id = tenant_id
        self.key = key
        self.name = name
        self.current: str | None = None
        self.versions: dict[str, Version] = {
            version: Version(SemVer.parse(version), ContractStatus.DRAFT, by, spec, document)
        }

    def add_version(self, contract: ParsedContract, by: str) -> None:
        """Drafts a new version: higher than every other, and a major bump if it breaks the active version."""
        if contract.key != self.key:
            raise ContractInvalidError([("/id", f"this document is contract {contract.key!r}, not {self.key!r}")])
        semver = SemVer.parse(contract.version)
        self._check_number(semver)
        self._check_compatible(semver, contract.spec)
        c = contract
        self._version_drafted(c.version, c.name, c.document, c.sha256, c.spec, by, self.current)

    @event(VersionDrafted)
    def _version_drafted(
        self,
        version: str,
        name: str | None,
        document: dict[str, Any],
        sha256: str,
        spec: ContractSpec,
        by: str,
        base_version: str | None,
    ) -> None:
        self.name = name
        self.versions[version] = Version(SemVer.parse(version), ContractStatus.DRAFT, by, spec, document)

    def propose(self, version: str, by: str) -> None:
        """Puts a draft up for approval."""
        self._in_status(version, ContractStatus.DRAFT)
        self._proposed(version, by)

    @event(Proposed)
    def _proposed(self, version: str, by: str) -> None:
        self.versions[version].status = ContractStatus.PROPOSED

    def approve(self, version: str, by: str) -> None:
        """Makes a proposed version the active one; only someone other than its author may approve it."""
        proposed = self._in_status(version, ContractStatus.PROPOSED)
        if proposed.author == by:
            msg = f"version {version} was drafted by this principal; another data steward has to approve it"
            raise FourEyesError(msg)
        if self.current is not None and not self.versions[self.current].semver < proposed.semver:
            msg = f"version {version} is not newer than the active version {self.current}"
            raise LifecycleError(msg)
        self._check_compatible(proposed.semver, proposed.spec)
        self._approved(version, by, self.current)

    @event(Approved)
    def _approved(self, version: str, by: str, superseded: str | None) -> None:
        if superseded is not None:
            self.versions[superseded].status = ContractStatus.DEPRECATED
        self.versions[version].status = ContractStatus.ACTIVE
        self.current = version

    def reject(self, version: str, by: str, reason: str) -> None:
        """Turns a proposed version down, saying why."""
        cleaned = _reason(reason, required=True)
        self._in_status(version, ContractStatus.PROPOSED)
        self._rejected(version, by, cleaned)

    @event(Rejected)
    def _rejected(self, version: str, by: str, reason: str) -> None:
        self.versions[version].status = ContractStatus.REJECTED

    def deprecate(self, version: str, by: str, reason: str = "") -> None:
        """Marks the active version as on its way out; it stays in force until retired or superseded."""
        cleaned = _reason(reason, required=False)
        self._in_status(version, ContractStatus.ACTIVE)
        self._deprecated(version, by, cleaned)

    @event(Deprecated)
    def _deprecated(self, version: str, by: str, reason: str) -> None:
        self.versions[version].status = ContractStatus.DEPRECATED

    def retire(self, version: str, by: str, reason: str = "") -> None:
        """Ends an approved version for good; retiring the version in force leaves none in force."""
        cleaned = _reason(reason, required=False)
        self._in_status(version, ContractStatus.ACTIVE, ContractStatus.DEPRECATED)
        self._retired(version, by, cleaned)

    @event(Retired)
    def _retired(self, version: str, by: str, reason: str) -> None:
        self.versions[version].status = ContractStatus.RETIRED
        if self.current == version:
            self.current = None

    def latest(self) -> SemVer:
        return max((v.semver for v in self.versions.values()), key=SemVer.precedence)

    def _in_status(self, version: str, *statuses: ContractStatus) -> Version:
        found = self.versions.get(version)
        if found is None:
            raise VersionNotFoundError(f"contract {self.key} has no version {version}")
        if found.status not in statuses:
            msg = f"version {version} is {found.status}; this needs it {' or '.join(statuses)}"
            raise LifecycleError(msg)
        return found

    def _check_number(self, semver: SemVer) -> None:
        if any(v.semver.same_precedence(semver) for v in self.versions.values()):
            raise VersionExistsError(f"contract {self.key} already has version {semver}")
        if semver < self.latest():
            detail = f"{semver} is lower than the latest version {self.latest()}; versions only go up"
            raise ContractInvalidError([("/version", detail)])

    def _check_compatible(self, semver: SemVer, spec: ContractSpec) -> None:
        """BreakingChangeError when the version breaks the active one without raising the major version.

        The changes themselves are not recorded: ``changelog`` derives them from the two versions' typed forms.
        """
        if self.current is None:
            return
        active = self.versions[self.current]
        broken = breaking(changelog(active.spec, spec))
        if broken and not semver.is_major_bump_over(active.semver):
            raise BreakingChangeError(broken, self.current)
