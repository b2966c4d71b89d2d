"""The platform's own keys as the settings give them: each from the shared file its setting names (read at start,
never made: a missing or malformed file stops the start with one line naming the setting), else from
PLATFORM_KEYS_DIR, where it is made on first start (the embedded default)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.auth.tokens import LOCAL_ISSUER, SIGNING_KEY_FILE, local_signing_key, signing_key_from
from adapters.keys import EnvelopeCipher, KeyRing, KeyRingError, open_envelope_cipher
from adapters.keys.keyring import KEYRING_FILE
from adapters.keys.local import local_secret, read_secret
from adapters.keys.shared import BOOTSTRAP_ADMIN_FILE, FINGERPRINT_FILE, LINK_FILE, MASKING_FILE
from application.access import split_token
from interfaces.settings import SettingsError
from interfaces.settings.groups import KeySettings

T = TypeVar("T")
SHARED_KEY_SETTINGS = {
    "kek_file": KEYRING_FILE,
    "masking_key_file": MASKING_FILE,
    "fingerprint_key_file": FINGERPRINT_FILE,
    "link_key_file": LINK_FILE,
    "jwt_signing_key_file": SIGNING_KEY_FILE,
    "bootstrap_admin_key_file": BOOTSTRAP_ADMIN_FILE,
}
"""Each setting naming a shared key file, and the name `platform keys init` gives that file."""
SECRETS = {"masking_key_file": MASKING_FILE, "fingerprint_key_file": FINGERPRINT_FILE, "link_key_file": LINK_FILE}


def variable(setting: str) -> str:
    return f"PLATFORM_{setting.upper()}"


def from_named_file(keys: KeySettings, setting: str, read: Callable[[Path], T]) -> T:
    """``read`` of the file the setting names; a file missing, unreadable or malformed is the setting's error."""
    path = getattr(keys, setting)
    try:
        return read(Path(path))
    except FileNotFoundError:
        reason = "names no file"
    except OSError as error:
        reason = f"cannot be read ({error.strerror})"
    except ValueError as error:
        reason = str(error)
    raise SettingsError(f"{variable(setting)}={path!r} {reason}")


def platform_secret(keys: KeySettings, setting: str) -> bytes:
    """The 32-byte secret of ``setting`` (masking, fingerprint or link key)."""
    if getattr(keys, setting):
        return from_named_file(keys, setting, read_secret)
    return local_secret(Path(keys.keys_dir), SECRETS[setting])


def jwt_signing_key(keys: KeySettings) -> Ed25519PrivateKey:
    """The platform-local issuer's signing key."""
    if keys.jwt_signing_key_file:
        return from_named_file(keys, "jwt_signing_key_file", signing_key_from)
    return local_signing_key(Path(keys.keys_dir))


def local_issuer_key(keys: KeySettings) -> Ed25519PrivateKey | None:
    """The signing key whose tokens are accepted besides the issuer's JWKS: only the platform-local issuer's."""
    return jwt_signing_key(keys) if keys.jwt_issuer == LOCAL_ISSUER else None


def shared_bootstrap_key(keys: KeySettings) -> str | None:
    """The platform-admin API key PLATFORM_BOOTSTRAP_ADMIN_KEY_FILE holds, or None when it names no file."""
    if not keys.bootstrap_admin_key_file:
        return None
    return from_named_file(keys, "bootstrap_admin_key_file", _api_key)


def check_shared_key_files(keys: KeySettings) -> None:
    """Reads every shared key file the settings name, so a missing or malformed one stops the start before
    anything is made."""
    readers: dict[str, Callable[[Path], object]] = {
        "kek_file": _keyring_file,
        **dict.fromkeys(SECRETS, read_secret),
        "jwt_signing_key_file": signing_key_from,
        "bootstrap_admin_key_file": _api_key,
    }
    for setting, read in readers.items():
        if getattr(keys, setting):
            from_named_file(keys, setting, read)


def field_cipher(keys: KeySettings) -> EnvelopeCipher:
    """The envelope cipher over the keyring (PLATFORM_KEK_FILE, never made by a process; else made under
    PLATFORM_KEYS_DIR) and the data-key database (PLATFORM_KEYS_URL, else a file under PLATFORM_KEYS_DIR)."""
    if keys.kek_file:
        from_named_file(keys, "kek_file", _keyring_file)
    return open_envelope_cipher(keys.keys_dir, keys.kek_file, keys.keys_url)


def _api_key(path: Path) -> str:
    token = path.read_bytes().decode(errors="replace").strip()
    if split_token(token) is None:
        raise ValueError("does not hold an API key (gdp_<prefix>_<secret>; `platform keys init` makes one)")
    return token


def _keyring_file(path: Path) -> None:
    path.stat()  # FileNotFoundError when missing
    try:
        KeyRing(path)
    except (KeyRingError, UnicodeDecodeError):
        raise ValueError("is not a keyring file (`platform keys init` makes one)") from None
