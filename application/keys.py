"""Key management service: rotating and retiring key-encryption keys (KEKs), each recorded as an event.

The keyring and key database are adapters (``adapters/keys``), reached through the ``Keyring`` port. The KEK
changes first, then its event is recorded (no key material in it: ids and counts; who and when are metadata).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from application.commands import CommandContext, CommandResult, CommandRunner
from domain.errors import ConflictError
from domain.keys import KEY_ENCRYPTION_KEYS_ID, KeyEncryptionKeys

ERASURE_NOTE = (
    "the tenant's data key is destroyed; a wrapped copy of it can survive in dead database rows, WAL segments or "
    "backups of the key database while the key-encryption key that wrapped it lives: complete the erasure with "
    "`platform keys rotate`, then `platform keys retire KEK_ID` for each key-encryption key it names"
)
"""What an erasure answers: how it is completed."""


class Keyring(Protocol):
    """The KEKs and the data keys they wrap."""

    def rotate(self) -> tuple[str, str, int]:
        """Makes a new KEK current and re-wraps every data key: (new KEK id, previous KEK id, re-wrapped)."""
        ...

    def retire(self, kek_id: str) -> int:
        """Removes an old KEK once no data key needs it; returns how many stragglers it re-wrapped first."""
        ...

    def retirable(self) -> list[str]:
        """The KEKs in the keyring other than the current one."""
        ...


@dataclass(frozen=True)
class KekRotated:
    kek_id: str
    previous: str
    rewrapped: int
    retirable: list[str]
    result: CommandResult


@dataclass(frozen=True)
class KekRetired:
    kek_id: str
    rewrapped: int
    result: CommandResult


class KeyService:
    """Rotates and retires KEKs and records each as an event in the platform's own stream."""

    def __init__(self, runner: CommandRunner, keyring: Keyring) -> None:
        self.runner = runner
        self.keyring = keyring

    def rotate_kek(self, context: CommandContext) -> KekRotated:
        """Makes a new KEK current, re-wraps every data key with it, and records the rotation."""
        kek_id, previous, rewrapped = self.keyring.rotate()
        result = self._record(context, "rotate_kek", lambda k: k.record_rotation(kek_id, previous, rewrapped))
        return KekRotated(kek_id, previous, rewrapped, self.keyring.retirable(), result)

    def retire_kek(self, context: CommandContext, kek_id: str) -> KekRetired:
        """Removes an old KEK from the keyring (refused while a data key still needs it) and records it."""
        rewrapped = self.keyring.retire(kek_id)
        result = self._record(context, "retire_kek", lambda k: k.record_retirement(kek_id, rewrapped))
        return KekRetired(kek_id, rewrapped, result)

    def _record(self, context: CommandContext, name: str, change: Callable[[KeyEncryptionKeys], None]) -> CommandResult:
        try:
            return self.runner.create(
                context,
                name,
                KEY_ENCRYPTION_KEYS_ID,
                make=lambda: _tracked(change),
                tenant_of=_no_tenant,
                exists=_StreamStarted,
            )
        except _StreamStarted:
            return self.runner.update(context, name, KEY_ENCRYPTION_KEYS_ID, change, _no_tenant)


class _StreamStarted(ConflictError):
    """The stream of KEKs exists already: the event is recorded as an update of it."""


def _tracked(change: Callable[[KeyEncryptionKeys], None]) -> KeyEncryptionKeys:
    keys = KeyEncryptionKeys.track()
    change(keys)
    return keys


def _no_tenant(_: KeyEncryptionKeys) -> None:
    return None
