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


def retire_kek(keys: DataKeyStore, kek_id: str) -> None:
    """Removes an old KEK from the keyring once no live data key needs it (re-wrapping stragglers first).

    Retiring the KEKs that wrapped a destroyed data key also makes any copy of it left in backups useless.
    """
    if kek_id == keys.keyring.current_id:
        msg = f"{kek_id} is the current key-encryption key; rotate before retiring it"
        raise KeyRingError(msg)
    keys.rewrap()
    still = keys.count_wrapped_by(kek_id)
    if still:
        msg = f"{still} data keys are still wrapped by {kek_id}; run the rotation again before retiring it"
        raise KeyRingError(msg)
    keys.keyring.remove(kek_id)
