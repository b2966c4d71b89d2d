"""Errors of the data contract registry; the ones about a document list each offending place in it."""

from __future__ import annotations

from collections.abc import Sequence

from domain.contracts.model import Change
from domain.errors import ConflictError, InvalidValueError, NotFoundError

Issue = tuple[str, str]
"""(RFC 6901 JSON pointer into the document, or a field path for changes; what is wrong there)."""


class ContractInvalidError(InvalidValueError):
    """The contract document breaks a rule of the standard or of the registry; ``issues`` names each place."""

    def __init__(self, issues: Sequence[Issue], summary: str | None = None) -> None:
        self.issues = list(issues)
        super().__init__(summary or "; ".join(f"{where or '/'}: {what}" for where, what in self.issues))


class ContractTooLargeError(InvalidValueError):
    """The normalized document is over the size limit of a contract version (PLATFORM_MAX_CONTRACT_BYTES)."""


class BreakingChangeError(ContractInvalidError):
    """The new version breaks the active one without raising the major version; ``changes`` lists each break."""

    def __init__(self, changes: Sequence[Change], active: str) -> None:
        self.changes = list(changes)
        listed = "; ".join(f"{c['path']}: {c['kind']} ({c['detail']})" for c in self.changes)
        summary = f"{len(self.changes)} breaking change(s) against the active version {active} need a major bump: "
        super().__init__([(c["path"], c["detail"]) for c in self.changes], summary + listed)


class VersionExistsError(ConflictError):
    """The contract already has a version with this number (versions are never replaced)."""


class VersionNotFoundError(NotFoundError):
    """The contract has no version with this number."""


class LifecycleError(ConflictError):
    """The version is not in a status this command applies to."""


class FourEyesError(ConflictError):
    """The author of a version may not approve it: another data steward has to."""
