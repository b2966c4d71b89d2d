"""Dependency injection for the handlers: each service of the composition root is a Litestar dependency named
after its field of ``Platform`` (``pipeline``, ``contracts``, ``read_models``, ...), so a handler names what it
uses as a parameter, ``def read_run(self, runs: NamedDependency[RunQueries], ...)``, instead of fetching the
platform from app state.

New services become injectable by being a field of ``Platform`` (``interfaces/bootstrap.py``); nothing here
changes."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from litestar.di import Provide

from interfaces.bootstrap import Platform


def _provider(value: Any) -> Provide:
    def provide() -> Any:
        return value

    return Provide(provide, use_cache=True, sync_to_thread=False)


def dependencies(platform: Platform) -> dict[str, Provide]:
    """One dependency per field of the platform, providing the object the composition root built."""
    return {field.name: _provider(getattr(platform, field.name)) for field in fields(platform)}
