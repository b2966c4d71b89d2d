"""Key management as evidence: the platform's key-encryption keys (KEKs), each rotation and each retirement, and
each tenant data key destroyed.

The keys themselves live in the keyring and the key database (``adapters/keys``); these events hold no key
material, only what an auditor needs: which KEK became current and which it replaced, which was retired, and how
many tenant data keys were re-wrapped. Who and when are in every event's metadata. They are the platform's own
stream (no tenant), so they are leaves of the evidence ledger like every other event.
"""

from __future__ import annotations

import re
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import InvalidValueError

KEYS_NAMESPACE = UUID("6d0c7f2e-93b1-4e57-a0f4-2b8c1d5e7a90")
KEY_ENCRYPTION_KEYS_ID = uuid5(KEYS_NAMESPACE, "key-encryption-keys")
"""The one stream of the platform's key-encryption keys."""
KEK_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def _check_kek_id(kek_id: str) -> str:
    if not KEK_ID.fullmatch(kek_id):
        msg = "a key-encryption key id is 1-64 letters, digits, '_', '.', ':' or '-'"
        raise InvalidValueError(msg)
    return kek_id


def _check_count(count: int) -> int:
    if count < 0:
        msg = "a number of re-wrapped data keys is zero or more"
        raise InvalidValueError(msg)
    return count


class KeyEncryptionKeys(Aggregate):
    """The platform's KEKs as the log knows them: the current one and those retired."""

    class Tracked(Aggregate.Created):
        pass

    class Rotated(Aggregate.Event):
        kek_id: str
        previous: str
        rewrapped: int

    class Retired(Aggregate.Event):
        kek_id: str
        rewrapped: int

    @staticmethod
    def create_id() -> UUID:
        return KEY_ENCRYPTION_KEYS_ID

    @classmethod
    def track(cls) -> KeyEncryptionKeys:
        return cls()

    @event(Tracked)
    def __init__(self) -> None:
        self.current: str | None = None
        self.retired: list[str] = []

    def record_rotation(self, kek_id: str, previous: str, rewrapped: int) -> None:
        """``kek_id`` replaced ``previous`` as the current KEK and ``rewrapped`` data keys were re-wrapped by it."""
        if _check_kek_id(kek_id) == _check_kek_id(previous):
            msg = "a rotation makes a new key-encryption key current"
            raise InvalidValueError(msg)
        self._rotated(kek_id, previous, _check_count(rewrapped))

    @event(Rotated)
    def _rotated(self, kek_id: str, previous: str, rewrapped: int) -> None:
        self.current = kek_id

    def record_retirement(self, kek_id: str, rewrapped: int) -> None:
        """``kek_id`` left the keyring after ``rewrapped`` data keys it still wrapped were re-wrapped."""
        if _check_kek_id(kek_id) == self.current:
            msg = f"{kek_id} is the current key-encryption key; rotate before retiring it"
            raise InvalidValueError(msg)
        if kek_id in self.retired:
            return
        self._retired(kek_id, _check_count(rewrapped))

    @event(Retired)
    def _retired(self, kek_id: str, rewrapped: int) -> None:
        self.retired = [*self.retired, kek_id]
