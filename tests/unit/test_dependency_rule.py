"""The dependency rule of ARCHITECTURE.md, checked by walking every import of every layer.

domain -> domain only (plus the standard library and eventsourcing.domain / eventsourcing.utils);
application -> domain, eventstore; projections -> domain; eventstore -> domain;
adapters -> domain, application, projections, eventstore; interfaces -> anything; nothing imports interfaces.
Imports anywhere in a file count (inside functions and ``if TYPE_CHECKING:`` blocks too).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "application", "projections", "eventstore", "adapters", "interfaces")
MAY_IMPORT: dict[str, frozenset[str]] = {
    "domain": frozenset({"domain"}),
    "application": frozenset({"application", "domain", "eventstore"}),
    "projections": frozenset({"projections", "domain"}),
    "eventstore": frozenset({"eventstore", "domain"}),
    "adapters": frozenset({"adapters", "domain", "application", "projections", "eventstore"}),
    "interfaces": frozenset(LAYERS),
}
DOMAIN_THIRD_PARTY = ("eventsourcing.domain", "eventsourcing.utils")


@dataclass(frozen=True)
class Import:
    module: str
    """The absolute module imported (``from a import b`` gives ``a.b`` when ``b`` may be a module)."""
    line: int
    text: str


def package_of(relative_path: str) -> str:
    """The package relative imports start from: ``adapters/http/app.py`` and ``adapters/http/__init__.py``
    both give ``adapters.http``."""
    return ".".join(Path(relative_path).parts[:-1])


def imports_of(source: str, relative_path: str) -> list[Import]:
    """Every import in the source, relative ones resolved against the file's package."""
    package = package_of(relative_path)
    found: list[Import] = []
    for node in ast.walk(ast.parse(source, filename=relative_path)):
        if isinstance(node, ast.Import):
            text = ast.get_source_segment(source, node) or ""
            found += [Import(alias.name, node.lineno, text) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            text = ast.get_source_segment(source, node) or ""
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                if node.level - 1 >= len(anchor):
                    found.append(Import(f"<beyond the top-level package>.{base}", node.lineno, text))
                    continue
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found += [
                Import(f"{base}.{alias.name}" if alias.name != "*" else base, node.lineno, text) for alias in node.names
            ]
    return found


def _is_third_party_allowed_in_domain(module: str) -> bool:
    return any(module == allowed or module.startswith(f"{allowed}.") for allowed in DOMAIN_THIRD_PARTY)


def violations(relative_path: str, source: str) -> list[str]:
    """What in this file breaks the dependency rule, one message per offending import."""
    layer = Path(relative_path).parts[0]
    problems: list[str] = []
    for imported in imports_of(source, relative_path):
        top = imported.module.split(".", 1)[0]
        if imported.module.startswith("<beyond"):
            reason = "a relative import climbs out of its layer"
        elif top in LAYERS and top not in MAY_IMPORT[layer]:
            reason = f"{layer} may import only {', '.join(sorted(MAY_IMPORT[layer]))}"
        elif layer == "domain" and top not in LAYERS and top not in sys.stdlib_module_names:
            if _is_third_party_allowed_in_domain(imported.module) or _is_from_allowed(imported):
                continue
            reason = "domain may use only the standard library and eventsourcing.domain / eventsourcing.utils"
        else:
            continue
        problems.append(f"{relative_path}:{imported.line}: `{imported.text}` imports {imported.module} ({reason})")
    return problems


def _is_from_allowed(imported: Import) -> bool:
    """``from eventsourcing.domain import event`` names ``eventsourcing.domain.event``: allowed through its parent."""
    parent = imported.module.rsplit(".", 1)[0]
    return _is_third_party_allowed_in_domain(parent)


def layer_files() -> list[Path]:
    return sorted(path for layer in LAYERS for path in (ROOT / layer).rglob("*.py"))


def test_every_layer_exists_and_has_python_files() -> None:
    for layer in ("domain", "application", "projections", "eventstore", "adapters", "interfaces"):
        assert list((ROOT / layer).rglob("*.py")), f"{layer}/ has no Python files: is ROOT ({ROOT}) right?"


def test_no_layer_imports_a_layer_it_may_not() -> None:
    problems = [
        problem
        for path in layer_files()
        for problem in violations(path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8"))
    ]
    assert not problems, "dependency rule broken:\n" + "\n".join(problems)


# --- the checker itself ----------------------------------------------------------------------------------

CAUGHT = [
    ("domain/tenants.py", "from application.tenants import TenantService\n", "application.tenants"),
    ("domain/tenants.py", "import eventstore.codec\n", "eventstore.codec"),
    ("domain/tenants.py", "import sqlalchemy\n", "sqlalchemy"),
    ("domain/tenants.py", "from eventsourcing.persistence import StoredEvent\n", "eventsourcing.persistence"),
    ("domain/tenants.py", "import eventsourcing\n", "eventsourcing"),
    ("domain/tenants.py", "from eventsourcing import application\n", "eventsourcing.application"),
    ("domain/tenants.py", "from .. import adapters\n", "<beyond the top-level package>"),
    ("domain/tenants.py", "def f():\n    import interfaces.settings\n", "interfaces.settings"),
    (
        "domain/tenants.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from projections import base\n",
        "projections.base",
    ),
    ("projections/tenant_directory.py", "from eventstore.envelope import RecordedEvent\n", "eventstore.envelope"),
    ("projections/tenant_directory.py", "from application import commands\n", "application.commands"),
    ("eventstore/codec.py", "from application.commands import CommandRunner\n", "application.commands"),
    ("eventstore/codec.py", "import projections\n", "projections"),
    ("application/tenants.py", "from adapters.readmodels import ReadModelStore\n", "adapters.readmodels"),
    ("application/tenants.py", "from projections.base import Upsert\n", "projections.base"),
    ("adapters/readmodels.py", "from interfaces.bootstrap import bootstrap\n", "interfaces.bootstrap"),
    ("adapters/nats/relay.py", "from ...interfaces import settings\n", "<beyond the top-level package>"),
]


@pytest.mark.parametrize(("path", "source", "module"), CAUGHT, ids=[f"{p}: {m}" for p, _, m in CAUGHT])
def test_the_checker_names_the_file_and_the_offending_import(path: str, source: str, module: str) -> None:
    [problem] = violations(path, source)
    assert problem.startswith(f"{path}:")
    assert module in problem


ALLOWED = [
    ("domain/tenants.py", "from __future__ import annotations\nimport re\nfrom uuid import UUID\n"),
    ("domain/tenants.py", "from eventsourcing.domain import Aggregate, event\n"),
    ("domain/tenants.py", "from eventsourcing.utils import get_topic\nimport eventsourcing.domain\n"),
    ("domain/tenants.py", "from eventsourcing import domain\n"),
    ("domain/tenants.py", "from domain.errors import ConflictError\nfrom .aggregate import Aggregate\n"),
    ("application/tenants.py", "from domain.tenants import Tenant\nfrom eventstore.port import EventStore\n"),
    ("application/commands.py", "from opentelemetry import trace\n"),
    ("projections/tenant_directory.py", "from sqlalchemy import Table\nfrom domain.tenants import Tenant\n"),
    ("adapters/readmodels.py", "from projections.base import Upsert\nfrom application.commands import replay\n"),
    ("adapters/nats/relay.py", "from ..readmodels import ReadModelStore\nfrom . import codec\n"),
    ("interfaces/bootstrap.py", "from adapters.readmodels import ReadModelStore\nfrom interfaces.settings import S\n"),
]


@pytest.mark.parametrize(("path", "source"), ALLOWED, ids=[f"{p}: {s.splitlines()[0]}" for p, s in ALLOWED])
def test_the_checker_lets_allowed_imports_pass(path: str, source: str) -> None:
    assert violations(path, source) == []


def test_relative_imports_resolve_against_the_files_package() -> None:
    imports = imports_of("from ..readmodels import ReadModelStore\nfrom . import codec\n", "adapters/nats/relay.py")
    assert [i.module for i in imports] == ["adapters.readmodels.ReadModelStore", "adapters.nats.codec"]
    assert [i.module for i in imports_of("from .errors import X\n", "domain/__init__.py")] == ["domain.errors.X"]


# --- handlers hold no business rules: they reach adapters only through the composition root -----------------------

ROUTE_DECORATORS = frozenset({"get", "post", "put", "patch", "delete", "route"})


def defines_handlers(source: str) -> bool:
    """Whether a module of interfaces/http defines route handlers (a Controller, or a function under @get/@post...)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and any(getattr(b, "id", "") == "Controller" for b in node.bases):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if getattr(target, "id", "") in ROUTE_DECORATORS:
                    return True
    return False


def handler_violations(relative_path: str, source: str) -> list[str]:
    """Adapter imports in a module of route handlers: what a handler needs of an adapter, the composition root
    (interfaces/bootstrap.py) builds, injects and names."""
    if not defines_handlers(source):
        return []
    return [
        f"{relative_path}:{i.line}: `{i.text}` (a handler module imports an adapter; inject it through "
        "interfaces/bootstrap.py instead)"
        for i in imports_of(source, relative_path)
        if i.module.split(".", 1)[0] == "adapters"
    ]


def test_handlers_import_no_adapter_but_through_the_composition_root() -> None:
    handler_files = sorted((ROOT / "interfaces" / "http").rglob("*.py"))
    sources = {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8") for path in handler_files}
    assert sum(defines_handlers(source) for source in sources.values()) >= 15, "the handler modules were not found"
    problems = [problem for path, source in sources.items() for problem in handler_violations(path, source)]
    assert not problems, "handlers reach adapters directly:\n" + "\n".join(problems)


def test_the_handler_check_names_an_adapter_import_in_a_controller_module() -> None:
    source = "from litestar import Controller\nfrom adapters.ledger import Ledger\nclass C(Controller):\n    pass\n"
    [problem] = handler_violations("interfaces/http/x.py", source)
    assert problem.startswith("interfaces/http/x.py:2:")
    helper = "from adapters.ledger import Ledger\ndef f() -> None:\n    pass\n"
    assert handler_violations("interfaces/http/y.py", helper) == []
    routed = "from litestar import get\nimport adapters.telemetry\n@get('/x')\nasync def x() -> None:\n    pass\n"
    assert len(handler_violations("interfaces/http/z.py", routed)) == 1
