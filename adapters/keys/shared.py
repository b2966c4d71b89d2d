"""The platform's own keys made once, together, for every process to share (`platform keys init --dir DIR`): the
key-encryption keyring, the masking, fingerprint and link-signing secrets, the development token signing key and
the bootstrap platform-admin API key. Without them each is made under PLATFORM_KEYS_DIR on first start."""

from __future__ import annotations

from pathlib import Path

from adapters.auth.tokens import SIGNING_KEY_FILE, new_signing_key_pem
from adapters.keys.keyring import KEYRING_FILE, KeyRing
from adapters.keys.local import new_file, random_secret
from application.access import new_api_key

MASKING_FILE = "masking.key"
FINGERPRINT_FILE = "fingerprints.key"
LINK_FILE = "links.key"
BOOTSTRAP_ADMIN_FILE = "bootstrap-admin.key"
SHARED_FILES = (KEYRING_FILE, MASKING_FILE, FINGERPRINT_FILE, LINK_FILE, SIGNING_KEY_FILE, BOOTSTRAP_ADMIN_FILE)
"""Every file `make_shared_keys` writes, in the order it writes them."""


class SharedKeysExistError(ValueError):
    """The directory holds shared keys already: making them again would split the platform's keys in two."""


def make_shared_keys(directory: Path) -> list[Path]:
    """Writes every shared key file into ``directory`` (mode 0700, files 0600); refuses when one exists already."""
    taken = [name for name in SHARED_FILES if (directory / name).exists()]
    if taken:
        msg = f"{directory} holds {', '.join(taken)} already: the shared keys are made once (remove them to start over)"
        raise SharedKeysExistError(msg)
    KeyRing.open(directory / KEYRING_FILE, create=True)
    (directory / f"{KEYRING_FILE}.lock").unlink(missing_ok=True)
    contents = {
        MASKING_FILE: random_secret(),
        FINGERPRINT_FILE: random_secret(),
        LINK_FILE: random_secret(),
        SIGNING_KEY_FILE: new_signing_key_pem(),
        BOOTSTRAP_ADMIN_FILE: (new_api_key() + "\n").encode(),
    }
    for name, content in contents.items():
        if not new_file(directory / name, content):
            raise SharedKeysExistError(f"{directory / name} appeared while the shared keys were being made")
    return [directory / name for name in SHARED_FILES]
