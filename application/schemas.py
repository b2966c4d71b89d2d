"""Schema Registry service: registering schema versions under subjects, compatibility modes and checks.

Other services register schemas too: the contract registry registers every contract version's schema here,
calling ``register_schema`` with the subject ``<tenant_id>.<contract name>`` and the normalized field list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from application.commands import CommandContext, CommandResult, CommandRunner, replay
from domain.errors import ConflictError, NotFoundError
from domain.schemas import Subject, check_subject, fingerprint, parse_schema, schema_dict, subject_id_for


class _SubjectExistsError(ConflictError):
    """The subject's stream has begun: the command runs as an update instead."""


@dataclass(frozen=True)
class SchemaRegistered(CommandResult):
    """A registration's result: the event position, and the version the schema has under the subject."""

    subject: str = ""
    version: int = 0


@dataclass(frozen=True)
class Compatibility:
    """Whether a candidate schema is compatible, and every reason it is not."""

    is_compatible: bool
    messages: list[str]


def _tenant_of(subject: Subject) -> str:
    return subject.tenant_id


class SchemaRegistryService:
    """Commands and checks of the Schema Registry."""

    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    def current(self, subject: str) -> Subject | None:
        """The subject as its events say now."""
        found: Subject | None = replay(self.runner.store.read_stream(subject_id_for(check_subject(subject))))
        return found

    def register_schema(self, context: CommandContext, subject: str, schema: Mapping[str, Any]) -> SchemaRegistered:
        """Registers the schema as the subject's next version if its compatibility mode allows it.

        Registering a schema identical to a registered version records nothing and answers that version.
        """

        def register(found: Subject) -> None:
            found.register(schema)

        result = self._open_or_update(context, "register_schema", subject, register)
        registered = self.current(subject)
        assert registered is not None
        version = registered.version_with(fingerprint(schema_dict(parse_schema(schema))))
        return SchemaRegistered(result.aggregate_id, result.position, result.replayed, subject, version or 0)

    def set_compatibility(self, context: CommandContext, subject: str, mode: str) -> CommandResult:
        """Sets the subject's compatibility mode (a subject with no version yet is created for it)."""

        def change(found: Subject) -> None:
            found.set_compatibility(mode)

        return self._open_or_update(context, "set_compatibility", subject, change)

    def check_compatibility(
        self, subject: str, schema: Mapping[str, Any], version: int | Literal["latest"] | None = None
    ) -> Compatibility:
        """Would registering the schema be accepted now (``version`` None)? Else: is it compatible, under the
        subject's mode, with that one version (a number, or ``latest``)? Records nothing."""
        found = self.current(subject)
        if found is None or (version is not None and not found.versions):
            if version is not None:
                raise NotFoundError(f"subject {subject} has no versions")
            parse_schema(schema)
            return Compatibility(True, [])
        messages = found.check(schema, len(found.versions) if version == "latest" else version)
        return Compatibility(not messages, messages)

    def _open_or_update(
        self, context: CommandContext, name: str, subject: str, change: Callable[[Subject], None]
    ) -> CommandResult:
        def make() -> Subject:
            opened = Subject.open(subject)
            change(opened)
            return opened

        stream_id = subject_id_for(check_subject(subject))
        try:
            return self.runner.create(
                context, name, stream_id, make=make, tenant_of=_tenant_of, exists=_SubjectExistsError
            )
        except _SubjectExistsError:
            return self.runner.update(context, name, stream_id, change, _tenant_of)
