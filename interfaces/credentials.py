"""Credentials the edges hand out: the first-start admin key and local development tokens."""

from __future__ import annotations

import uuid
from pathlib import Path

from adapters.auth.tokens import LOCAL_ISSUER, mint_token, private_file
from adapters.keys.shared import BOOTSTRAP_ADMIN_FILE
from application.access import bootstrap_admin
from application.commands import CommandContext
from domain.access import PLATFORM_ADMIN
from domain.errors import InvalidValueError, NotFoundError
from domain.values import tenant_id_or_none
from interfaces.bootstrap import Platform
from interfaces.platform_keys import jwt_signing_key, shared_bootstrap_key


def ensure_bootstrap_credential(platform: Platform) -> Path | None:
    """Registers the platform-admin API key on first start: the one PLATFORM_BOOTSTRAP_ADMIN_KEY_FILE holds, else a
    new one written to a file under PLATFORM_KEYS_DIR only its owner can read. Returns the file holding the key.

    The read models are brought up to date before, so the key works as soon as the start is announced."""
    shared = shared_bootstrap_key(platform.settings.keys)
    command_id = f"bootstrap-admin|key|{shared.split('_')[1]}" if shared else str(uuid.uuid4())
    issued = bootstrap_admin(platform.access, command_id, shared)
    if issued is None or not issued.token:
        return None
    platform.worker.catch_up()
    if shared:
        return Path(platform.settings.bootstrap_admin_key_file)
    path = Path(platform.settings.keys_dir) / BOOTSTRAP_ADMIN_FILE
    private_file(path, (issued.token + "\n").encode())
    return path


def dev_token(platform: Platform, role: str, tenant_id: str | None) -> str:
    """Registers (once) a local development principal holding ``role`` and signs a bearer token for it.

    The read models are brought up to date here (feeders never apply an event twice), so the token is accepted at
    once, even by a server whose own worker has not seen the registration yet."""
    if platform.settings.jwt_issuer != LOCAL_ISSUER:
        msg = f"development tokens need PLATFORM_JWT_ISSUER={LOCAL_ISSUER}"
        raise InvalidValueError(msg)
    if (role == PLATFORM_ADMIN) == (tenant_id is not None):
        msg = "platform-admin takes no --tenant; every other role needs one"
        raise InvalidValueError(msg)
    if tenant_id is not None and not platform.store.read_stream(_uuid(tenant_id)):
        raise NotFoundError(f"no such tenant: {tenant_id}")
    subject = f"dev-{role}" + (f"-{tenant_id}" if tenant_id else "")
    principal_id = platform.access.membership_id(LOCAL_ISSUER, subject, tenant_id_or_none(tenant_id))
    context = CommandContext("platform-cli", f"dev-token|{subject}|register", "dev-token")
    if not platform.store.read_stream(principal_id):
        kind = "service" if role == "service" else "person"
        platform.access.register_principal(
            context, kind, LOCAL_ISSUER, subject, f"Development {role}", tenant_id_or_none(tenant_id)
        )
    grant = CommandContext("platform-cli", f"dev-token|{subject}|grant|{role}", "dev-token")
    platform.access.grant_role(grant, principal_id, role)
    platform.worker.catch_up()
    return mint_token(jwt_signing_key(platform.settings.keys), subject, platform.settings.jwt_audience)


def _uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFoundError(f"no such tenant: {raw}") from None
