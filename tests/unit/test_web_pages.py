"""The web apps' pure parts: where a person lands, which redirects are followed, facets, the run timeline, and
templates that keep the strict CSP (no inline script, style or event handler) and the vendored files' licences."""

from __future__ import annotations

import re

import pytest

from interfaces.web.catalog import chosen, classifications, facet_counts
from interfaces.web.runs import timeline
from interfaces.web.signin import _safe_next, landing
from projections.products import CatalogEntry
from projections.runs import RunStep
from tests.unit.test_dependency_rule import ROOT, defines_handlers, handler_violations

WEB = ROOT / "interfaces" / "web"
INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE)


def entry(name: str, owner: str | None, quality: str | None) -> CatalogEntry:
    return CatalogEntry(name, "t", None, None, owner, "c", "1.0.0", "", "", 1, 1, None, 10, quality, name, {}, {})


def step(name: str, duration_ms: int | None) -> RunStep:
    return RunStep(name, "succeeded", None, None, duration_ms, None, None, None, 1, None, None, None)


def test_admins_land_in_the_admin_app_one_tenant_straight_in_several_pick() -> None:
    assert landing(True, ["a"]) == "/admin/"
    assert landing(False, ["a"]) == "/app/t/a/catalog"
    assert landing(False, ["a", "b"]) == "/app/"
    assert landing(False, []) == "/app/"


@pytest.mark.parametrize(
    ("target", "followed"),
    [
        ("/app/t/x/runs", "/app/t/x/runs"),
        ("/admin/", "/admin/"),
        ("/app", "/app"),
        ("/application", None),
        ("https://evil.example/app/", None),
        ("//evil.example/app/", None),
        ("/app/..//evil.example", None),
        ("/app\\/evil", None),
        ("/v1/tenants", None),
        ("", None),
    ],
)
def test_after_sign_in_only_the_apps_own_paths_are_followed(target: str, followed: str | None) -> None:
    assert _safe_next(target) == followed


def test_facets_count_values_and_picks_narrow_to_every_chosen_value() -> None:
    entries = [entry("a", "sales", "passed"), entry("b", "sales", "failed"), entry("c", None, "passed")]
    counts = facet_counts(entries)
    assert counts["owner"] == [("sales", 2), ("none", 1)]
    assert counts["quality"] == [("passed", 2), ("failed", 1)]
    assert [e.product for e in chosen(entries, {"owner": "sales", "quality": "passed"})] == ["a"]
    assert [e.product for e in chosen(entries, {"owner": "none", "quality": ""})] == ["c"]
    assert [e.product for e in chosen(entries, {})] == ["a", "b", "c"]


def test_the_timeline_draws_each_step_against_the_longest() -> None:
    bars = timeline([step("ingest", 50), step("normalize", 200), step("publish", None)])
    assert [share for _, share in bars] == [25, 100, 1]
    assert timeline([]) == []


def test_templates_hold_no_inline_script_style_or_handler() -> None:
    templates = sorted((WEB / "templates").glob("*.html"))
    assert len(templates) >= 10
    offenders = [f"{t.name}: {m.group(0)}" for t in templates for m in INLINE.finditer(t.read_text())]
    assert offenders == []


def test_the_inline_check_finds_what_the_csp_would_block() -> None:
    for bad in ("<script>x()</script>", '<div style="x">', '<a onclick="x">', '<a href="javascript:x">', "<style>"):
        assert INLINE.search(bad), bad
    assert not INLINE.search('<script src="/web/static/vendor/htmx.min.js" defer></script>')


def test_vendored_browser_libraries_keep_their_licences() -> None:
    vendor = WEB / "static" / "vendor"
    assert "BSD" in (vendor / "htmx.LICENSE").read_text() or "Zero-Clause" in (vendor / "htmx.LICENSE").read_text()
    assert "Mozilla Public License" in (vendor / "axe-core.LICENSE").read_text()
    assert (vendor / "VERSIONS").read_text().split() == ["htmx.org", "2.0.4", "axe-core", "4.10.2"]


def test_web_handlers_import_no_adapter() -> None:
    sources = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in sorted(WEB.glob("*.py"))}
    assert sum(defines_handlers(source) for source in sources.values()) >= 5, "the web controllers were not found"
    problems = [problem for path, source in sources.items() for problem in handler_violations(path, source)]
    assert problems == []


def test_classifications_are_read_from_the_contract_document() -> None:
    document = {
        "schema": [
            {"name": "a", "properties": [{"name": "email", "classification": "pii"}, {"name": "amount"}]},
            {"name": "b", "properties": [{"name": "note", "classification": "internal"}]},
        ]
    }
    assert classifications(document) == {"email": "pii", "note": "internal"}
    assert classifications({}) == {}
