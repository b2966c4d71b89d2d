"""Routes that serve a tenant's data, and what they answer once that tenant was erased.

A controller whose routes read or write a tenant's data (products and their rows, exports and their downloads,
ingests and runs, lineage of its datasets) says so with ``opt = {TENANT_DATA: True}``. Once the tenant was
offboarded with erasure (its data key destroyed, its files deleted), the authorization guard answers such a route
410 Gone to a caller who may still see the tenant (a platform admin), and to everyone else the same 404 as for a
tenant that never existed.
"""

from __future__ import annotations

from adapters.keys import EnvelopeCipher
from application.authorization import Resource

TENANT_DATA = "tenant_data"
"""The route option naming a route that serves a tenant's data."""


class TenantErasedError(Exception):
    """The tenant was offboarded with erasure: its data was destroyed for good and is never served again."""


def erased(cipher: EnvelopeCipher, resource: Resource) -> bool:
    """Whether ``resource`` is a tenant whose data key was destroyed: asked of the key store itself, not of the
    tenant's (possibly cached) status, so the answer holds from the moment the key is gone."""
    return resource.type == "Tenant" and cipher.data_key_destroyed(resource.id)


def gone(tenant_id: str) -> TenantErasedError:
    return TenantErasedError(f"tenant {tenant_id} was erased: its data no longer exists")
