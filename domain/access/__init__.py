"""The access context: principals (people and services) and their roles, their API keys, and recorded denials.

A ``Principal`` is one identity's membership of one tenant (or of the platform, for platform admins) with its
roles; an ``ApiKey`` is a service credential kept as a public prefix and a salted hash; a ``Denial`` is a refused
attempt, kept for the audit trail.

One aggregate per module: ``principals``, ``api_keys``, ``denials``; the context's names are imported from here.
Their classes were in ``domain/access.py`` until issue 14; events stored under those topics still decode
(``eventstore/moved_topics.py``).
"""

from __future__ import annotations

from domain.access.api_keys import KEY_PREFIX, ApiKey, api_key_id_for
from domain.access.denials import Denial, denial_id_for
from domain.access.principals import (
    ACCESS_NAMESPACE,
    KINDS,
    PLATFORM_ADMIN,
    ROLES,
    TENANT_ROLES,
    Principal,
    principal_id_for,
)

__all__ = [
    "ACCESS_NAMESPACE",
    "KEY_PREFIX",
    "KINDS",
    "PLATFORM_ADMIN",
    "ROLES",
    "TENANT_ROLES",
    "ApiKey",
    "Denial",
    "Principal",
    "api_key_id_for",
    "denial_id_for",
    "principal_id_for",
]
