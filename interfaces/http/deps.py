"""Dependency injection for the handlers: each service of the composition root is a Litestar dependency named
after its field of ``Platform`` (``pipeline``, ``contracts``, ``read_models``, ...), so a handler names what it
uses as a parameter, ``def read_run(self, runs: NamedDependency[RunQueries], ...)``, instead of fetching the
platform from app state.

New services become injectable by being a field of ``Platform`` (``interfaces/bootstrap.py``); nothing here
changes. The HTTP layer's own objects (what ``create_app`` builds: the guard's ``resources``, the AsyncAPI
document) are passed to ``dependencies`` by name."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from litestar.di import Provide

from interfaces.bootstrap import Platform


def provided(value: Any) -> Provide:
    """A dependency providing ``value`` itself."""

    def provide() -> Any:
        return value

    return Provide(provide, use_cache=True, sync_to_thread=False)


def dependencies(platform: Platform, **own: Provide) -> dict[str, Provide]:
    """One dependency per field of the platform, providing the object the composition root built, and the HTTP
    layer's ``own``."""
    return {field.name: provided(getattr(platform, field.name)) for field in fields(platform)} | own
