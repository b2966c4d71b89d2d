"""The changelog between two versions of a contract, and which of its changes break consumers or producers.

Breaking: a removed object or field, a narrowed type (a logical type that is not a widening, a shorter sized
physical type, tighter logicalTypeOptions), a newly required or newly unique field, a changed primary key, a
tightened or new library quality rule. Everything else (added optional fields, widened types, looser rules,
descriptions, classifications, KPIs) is listed but does not break.
"""

from __future__ import annotations

import re
from typing import Any

from domain.contracts.model import Change, ContractSpec, FieldSpec, Kpi, ObjectSpec, change
from domain.contracts.quality import compare_rules

WIDENINGS = {
    "integer": {"number", "string"},
    "number": {"string"},
    "date": {"timestamp", "string"},
    "timestamp": {"string"},
    "time": {"string"},
    "boolean": {"string"},
}
"""logicalType changes every old value survives; any other change narrows the type."""
LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
EXACT_OPTIONS = ("pattern", "format")
SIZED = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 _]*?)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)\s*$")


def changelog(old: ContractSpec, new: ContractSpec) -> list[Change]:
    """Every change from ``old`` to ``new``: objects and fields, quality rules, then KPIs."""
    changes = _objects(old["objects"], new["objects"])
    changes += compare_rules(old["quality"], new["quality"])
    return changes + _kpis(old["kpis"], new["kpis"])


def breaking(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c["breaking"]]


def _objects(old: list[ObjectSpec], new: list[ObjectSpec]) -> list[Change]:
    before, after = {o["name"]: o for o in old}, {o["name"]: o for o in new}
    changes = [change("object-removed", name, "schema object removed", True) for name in before if name not in after]
    changes += [change("object-added", name, "schema object added") for name in after if name not in before]
    for name in (n for n in before if n in after):
        changes += _fields(name, before[name]["fields"], after[name]["fields"])
        if before[name]["primary_key"] != after[name]["primary_key"]:
            detail = f"primary key {before[name]['primary_key']} -> {after[name]['primary_key']}"
            changes.append(change("primary-key-changed", name, detail, True))
    return changes


def _fields(obj: str, old: list[FieldSpec], new: list[FieldSpec]) -> list[Change]:
    before, after = {f["name"]: f for f in old}, {f["name"]: f for f in new}
    changes = [change("field-removed", f"{obj}.{n}", "field removed", True) for n in before if n not in after]
    for name in (n for n in after if n not in before):
        required = after[name]["required"]
        detail = "required field added" if required else "optional field added"
        changes.append(change("field-added", f"{obj}.{name}", detail, required))
    for name in (n for n in before if n in after):
        changes += _field(f"{obj}.{name}", before[name], after[name])
    return changes


def _field(path: str, old: FieldSpec, new: FieldSpec) -> list[Change]:
    changes = _types(path, old, new)
    if old["required"] != new["required"]:
        changes.append(_flag("required", path, new["required"]))
    if old["unique"] != new["unique"]:
        changes.append(_flag("unique", path, new["unique"]))
    if old["classification"] != new["classification"]:
        detail = f"classification {old['classification']} -> {new['classification']}"
        changes.append(change("classification-changed", path, detail))
    return changes + _options(path, old["options"], new["options"])


def _flag(flag: str, path: str, now: bool) -> Change:
    """A field that becomes required or unique tightens the contract; the reverse loosens it."""
    kind = f"field-now-{flag}" if now else f"field-no-longer-{flag}"
    return change(kind, path, f"{flag}: {str(now).lower()}", now)


def _types(path: str, old: FieldSpec, new: FieldSpec) -> list[Change]:
    changes: list[Change] = []
    was, now = old["logical_type"], new["logical_type"]
    if was != now:
        widened = now is None or (was is not None and now in WIDENINGS.get(was, set()))
        kind = "type-widened" if widened else "type-narrowed"
        changes.append(change(kind, path, f"logicalType {was} -> {now}", not widened))
    if old["physical_type"] != new["physical_type"]:
        narrowed = _shorter(old["physical_type"], new["physical_type"])
        kind = "type-narrowed" if narrowed else "physical-type-changed"
        changes.append(change(kind, path, f"physicalType {old['physical_type']} -> {new['physical_type']}", narrowed))
    return changes


def _shorter(old: str | None, new: str | None) -> bool:
    """``varchar(18)`` -> ``varchar(2)`` or ``decimal(10,2)`` -> ``decimal(8,2)``: the same type, smaller."""
    was, now = SIZED.fullmatch(old or ""), SIZED.fullmatch(new or "")
    if not was or not now or was.group(1).lower() != now.group(1).lower():
        return False
    sizes = [(int(a), int(b)) for a, b in ((was.group(2), now.group(2)), (was.group(3) or 0, now.group(3) or 0))]
    return any(after < before for before, after in sizes)


def _options(path: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes: list[Change] = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) == new.get(key):
            continue
        tightened = _tightens(key, old.get(key), new.get(key))
        detail = f"logicalTypeOptions.{key} {old.get(key)!r} -> {new.get(key)!r}"
        changes.append(change("type-narrowed" if tightened else "type-options-changed", path, detail, tightened))
    return changes


def _tightens(key: str, was: Any, now: Any) -> bool:
    if key in EXACT_OPTIONS or key == "required":
        return now is not None and (key != "required" or not set(now or []) <= set(was or []))
    if key not in LOWER_BOUNDS + UPPER_BOUNDS:
        return False
    if was is None or now is None:
        return was is None
    try:
        return bool(now > was) if key in LOWER_BOUNDS else bool(now < was)
    except TypeError:  # bounds of different kinds (a number and a date): cannot tell, so assume the worst
        return True


def _kpis(old: list[Kpi], new: list[Kpi]) -> list[Change]:
    before, after = {k["name"]: k for k in old}, {k["name"]: k for k in new}
    changes = [change("kpi-removed", f"kpi:{name}", "KPI removed") for name in before if name not in after]
    changes += [change("kpi-added", f"kpi:{name}", "KPI added") for name in after if name not in before]
    changed = [name for name in before if name in after and before[name] != after[name]]
    return changes + [change("kpi-changed", f"kpi:{name}", "KPI definition changed") for name in changed]
