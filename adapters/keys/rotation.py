"""KEK rotation without downtime: add a new current KEK, re-wrap every data key, later retire the old KEK.

Reads never stop: a wrapped data key names the KEK that wrapped it, and the keyring keeps every KEK until
it is retired, and retiring refuses while any live data key still needs the KEK.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.keys.datakeys import DataKeyStore
from adapters.keys.keyring import KeyRingError


@dataclass(frozen=True)
class Rotation:
    """What a rotation did: the new current KEK, the one it replaced, and how many data keys it re-wrapped."""

    kek_id: str
    previous: str
    rewrapped: int


def rotate_kek(keys: DataKeyStore) -> Rotation:
    """Makes a new KEK current and re-wraps every live data key with it."""
    previous = keys.keyring.current_id
    kek_id = keys.keyring.add_current()
    return Rotation(kek_id, previous, keys.rewrap())


def retire_kek(keys: DataKeyStore, kek_id: str) -> int:
    """Removes an old KEK from the keyring once no live data key needs it (re-wrapping stragglers first).

    Retiring the KEKs that wrapped a destroyed data key also makes any copy of it left in backups useless.
    """
    if kek_id == keys.keyring.current_id:
        msg = f"{kek_id} is the current key-encryption key; rotate before retiring it"
        raise KeyRingError(msg)
    rewrapped = keys.rewrap()
    still = keys.count_wrapped_by(kek_id)
    if still:
        msg = f"{still} data keys are still wrapped by {kek_id}; run the rotation again before retiring it"
        raise KeyRingError(msg)
    keys.keyring.remove(kek_id)
    return rewrapped


class KeyringRotation:
    """The application's ``Keyring`` port over the keyring file and the data-key table."""

    def __init__(self, keys: DataKeyStore) -> None:
        self.keys = keys

    def rotate(self) -> tuple[str, str, int]:
        rotation = rotate_kek(self.keys)
        return rotation.kek_id, rotation.previous, rotation.rewrapped

    def retire(self, kek_id: str) -> int:
        return retire_kek(self.keys, kek_id)

    def retirable(self) -> list[str]:
        current = self.keys.keyring.current_id
        return [kek_id for kek_id in self.keys.keyring.ids() if kek_id != current]
