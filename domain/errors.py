"""Errors every bounded context raises; the HTTP edge maps each kind to one status in one table."""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a rule of the domain; nothing was recorded."""


class InvalidValueError(DomainError):
    """A value is not acceptable (wrong form, out of range, unknown name).

    ``field`` is where the value sits in the command's input, as a JSON pointer (``/quotas/max_products``), when known.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(DomainError):
    """The thing named does not exist (or is not visible to the caller)."""


class ConflictError(DomainError):
    """The command does not fit the current state (already exists, wrong lifecycle stage)."""
