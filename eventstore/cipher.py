"""The field-cipher port: how the codec seals an event's personal and secret fields with its tenant's data key.

Domain event classes name those fields in a plain class attribute, ``encrypted_fields = ("display_name",)``;
the codec hands each such value to the cipher before storing and back after reading. The cipher belongs to
``adapters/keys`` (envelope encryption, one data key per tenant); the event store only knows this port.
"""

from __future__ import annotations

from typing import Any, Protocol

from domain.aggregate import encrypted_fields_of

__all__ = ["PLATFORM_OWNER", "FieldCipher", "FieldDecryptionError", "KeyErasedError", "encrypted_fields_of"]

PLATFORM_OWNER = "platform"
"""Whose data key seals the fields of events that belong to no tenant (platform admins, platform settings)."""


class KeyErasedError(Exception):
    """The data key that sealed this value has been destroyed (crypto-shredding): the value is gone for good."""


class FieldDecryptionError(Exception):
    """A sealed value cannot be opened: it was altered, or it names a data key this key store never held."""


class FieldCipher(Protocol):
    """Seals and opens event field values with the data key of the tenant the event belongs to."""

    def encrypt(self, tenant_id: str | None, value: Any) -> str:
        """Seals a JSON-native value; ``tenant_id`` None means the platform's own data key.

        Raises KeyErasedError when the tenant's data key has been destroyed.
        """
        ...

    def decrypt(self, tenant_id: str | None, token: str) -> Any:
        """Opens a sealed value; KeyErasedError when its key was destroyed, FieldDecryptionError when it is bad."""
        ...
