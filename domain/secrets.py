"""Secrets: named values a tenant keeps on the platform (webhook signing keys, connector passwords).

A secret's value is declared an encrypted field of its events: the event store seals it with the tenant's data
key, so it is never stored in clear and is gone for good when the tenant is offboarded with erasure.
"""

from __future__ import annotations

import re
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import InvalidValueError, NotFoundError
from domain.values import TenantId

SECRETS_NAMESPACE = UUID("3b05fd0c-61aa-4bca-a24f-b106cac2bcf7")
SECRET_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,126}[A-Za-z0-9])?")
MAX_VALUE_CHARS = 8192


def secret_id_for(tenant_id: TenantId, name: str) -> UUID:
    """A tenant's secret is known by its name: the id is derived from both."""
    return uuid5(SECRETS_NAMESPACE, f"{tenant_id}|{name}")


def check_secret_name(name: str) -> str:
    if not SECRET_NAME.fullmatch(name):
        msg = "a secret name is 1-128 letters, digits, '_', '.' or '-', starting and ending with a letter or digit"
        raise InvalidValueError(msg)
    return name


def check_secret_value(value: str) -> str:
    """Checks a value's size; the message never repeats the value."""
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE_CHARS:
        msg = f"a secret value is 1-{MAX_VALUE_CHARS} characters"
        raise InvalidValueError(msg)
    return value


class Secret(Aggregate):
    """A named secret value of one tenant; every new value is a new version."""

    class Stored(Aggregate.Created):
        encrypted_fields = ("value",)
        tenant_id: TenantId
        name: str
        value: str
        fingerprint: str

    class Rotated(Aggregate.Event):
        encrypted_fields = ("value",)
        value: str
        fingerprint: str

    class Deleted(Aggregate.Event):
        pass

    @staticmethod
    def create_id(tenant_id: TenantId, name: str, value: str, fingerprint: str) -> UUID:
        return secret_id_for(tenant_id, name)

    @classmethod
    def store(cls, tenant_id: TenantId, name: str, value: str, fingerprint: str) -> Secret:
        return cls(tenant_id, check_secret_name(name), check_secret_value(value), fingerprint)

    @event(Stored)
    def __init__(self, tenant_id: TenantId, name: str, value: str, fingerprint: str) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.value = value
        self.fingerprint = fingerprint
        self.deleted = False

    @property
    def revision(self) -> int:
        """The secret's version as callers see it: 1 when stored, one more with every change."""
        return int(self.version) + 1

    def replace(self, value: str, fingerprint: str) -> None:
        """Gives the secret a new value (bringing a deleted secret back); the same value again changes nothing."""
        check_secret_value(value)
        if not self.deleted and value == self.value:
            return
        self._rotated(value, fingerprint)

    def rotate(self, value: str, fingerprint: str) -> None:
        """Gives a live secret a new value."""
        self._require_live()
        self.replace(value, fingerprint)

    @event(Rotated)
    def _rotated(self, value: str, fingerprint: str) -> None:
        self.value = value
        self.fingerprint = fingerprint
        self.deleted = False

    def delete(self) -> None:
        self._require_live()
        self._deleted()

    @event(Deleted)
    def _deleted(self) -> None:
        self.value = ""
        self.deleted = True

    def _require_live(self) -> None:
        if self.deleted:
            msg = f"no such secret: {self.name}"
            raise NotFoundError(msg)
