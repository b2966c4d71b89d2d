"""`platform keys` (make the shared keys, rotate or retire the key-encryption key, seal plaintext datasets) and
`platform token`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from domain.access import ROLES
from interfaces.cli.common import CliError, Command, operator_context
from interfaces.settings import Settings


def token(settings: Settings, args: argparse.Namespace) -> int:
    from interfaces.bootstrap import bootstrap
    from interfaces.credentials import dev_token

    platform = bootstrap(settings)
    try:
        print(dev_token(platform, args.role, args.tenant))
    finally:
        platform.close()
    return 0


def keys(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.keys.rotation import KeyringRotation
    from application.commands import CommandRunner
    from application.keys import KeyService
    from interfaces.bootstrap import open_field_cipher, open_store, utc_now

    if args.action == "retire" and not args.kek_id:
        raise CliError("retire needs the KEK id to retire")
    if (args.action == "init") != bool(args.dir):
        raise CliError("init needs --dir DIR, and only init takes it")
    if args.action == "init":
        return _init(Path(args.dir))
    if args.action == "encrypt-datasets":
        return _encrypt_datasets(settings)
    cipher = open_field_cipher(settings.keys)
    store = open_store(settings.stores, cipher)
    try:
        store.last_position()  # the log answers before the keyring changes: no rotation goes unrecorded for want of it
        service = KeyService(CommandRunner(store, utc_now), KeyringRotation(cipher.keys))
        context = operator_context(f"{args.action}-kek")
        if args.action == "rotate":
            rotated = service.rotate_kek(context)
            print(f"key-encryption key {rotated.kek_id} is current (was {rotated.previous});", end=" ")
            print(f"{rotated.rewrapped} data keys re-wrapped; recorded at position {rotated.result.position}")
            if rotated.retirable:
                print(f"retire next: {' '.join(rotated.retirable)}")
        else:
            retired = service.retire_kek(context, args.kek_id)
            print(f"key-encryption key {retired.kek_id} retired;", end=" ")
            print(f"{retired.rewrapped} data keys re-wrapped first; recorded at position {retired.result.position}")
    finally:
        store.close()
        cipher.close()
    return 0


def _init(directory: Path) -> int:
    """Makes the shared key files once and prints the settings that name them (for every process to share)."""
    from adapters.keys.shared import make_shared_keys
    from interfaces.platform_keys import SHARED_KEY_SETTINGS, variable

    made = {path.name: path.resolve() for path in make_shared_keys(directory)}
    print(f"shared keys written to {directory.resolve()}; give every platform process these settings:", file=sys.stderr)
    for setting, name in SHARED_KEY_SETTINGS.items():
        print(f"{variable(setting)}={made[name]}")
    return 0


def _encrypt_datasets(settings: Settings) -> int:
    """Seals the dataset files written in plaintext (resumable: sealed files are skipped)."""
    from adapters.datasets.migration import encrypt_datasets
    from adapters.datasets.store import DatasetError
    from interfaces.bootstrap import open_datasets, open_field_cipher

    cipher = open_field_cipher(settings.keys)
    try:
        done = encrypt_datasets(open_datasets(settings.stores, cipher), print)
    except DatasetError as error:
        raise CliError(f"{error} (files sealed so far stay sealed; run it again once fixed)") from error
    finally:
        cipher.close()
    print(done.summary)
    return 0


def token_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--role", required=True, choices=ROLES, help="the role the token's principal holds")
    command.add_argument("--tenant", metavar="TENANT_ID", help="the tenant (every role but platform-admin)")


def keys_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("action", choices=("init", "rotate", "retire", "encrypt-datasets"), help="what to do")
    command.add_argument("kek_id", nargs="?", metavar="KEK_ID", help="the key-encryption key to retire")
    command.add_argument("--dir", metavar="DIR", help="init: the directory to write the shared key files into")


TOKEN = Command(token, "print a development bearer token for a role (signed with the local key)", token_arguments)
KEYS = Command(
    keys,
    "init --dir DIR (make the keys every process shares, once), rotate the key-encryption key (re-wrapping every"
    " data key), retire an old one, or encrypt-datasets (seal the dataset files written in plaintext)",
    keys_arguments,
)
