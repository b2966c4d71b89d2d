"""What a schedule runs and when: the job kinds with their parameters, and the one spelling of a slot time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.errors import InvalidValueError
from domain.exports import EXPORT_FORMATS, MAX_FILTERS

JOB_KINDS = ("kpi_rebuild", "export", "ledger_checkpoint")
MAX_PARAM = 200


def slot_key(slot: datetime) -> str:
    """The one spelling of a slot time (ISO 8601 in UTC) that run ids and events use."""
    if slot.tzinfo is None:
        raise InvalidValueError("a slot time needs a time zone")
    return slot.astimezone(UTC).isoformat()


def _text(params: dict[str, Any], name: str, default: str | None = None) -> str:
    value = params.get(name, default)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_PARAM:
        raise InvalidValueError(f"job parameter {name!r} must be text of 1-{MAX_PARAM} characters")
    return value.strip()


def _export_params(params: dict[str, Any]) -> dict[str, Any]:
    version = params.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise InvalidValueError("job parameter 'version' must be a version number (1 or more), or absent for latest")
    fmt = _text(params, "format", "csv")
    if fmt not in EXPORT_FORMATS:
        raise InvalidValueError(f"job parameter 'format' must be one of {', '.join(EXPORT_FORMATS)}")
    filters = params.get("filters") or {}
    if not isinstance(filters, dict) or len(filters) > MAX_FILTERS:
        raise InvalidValueError(f"job parameter 'filters' is an object of up to {MAX_FILTERS} parameters")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in filters.items()):
        raise InvalidValueError("job parameter 'filters' maps parameter names to text values")
    product, dataset = _text(params, "product"), _text(params, "dataset", "kpis")
    return {"product": product, "version": version, "dataset": dataset, "format": fmt, "filters": dict(filters)}


_PARAMS: dict[str, tuple[frozenset[str], Any]] = {
    "kpi_rebuild": (frozenset({"contract"}), lambda p: {"contract": _text(p, "contract")}),
    "export": (frozenset({"product", "version", "dataset", "format", "filters"}), _export_params),
    "ledger_checkpoint": (frozenset(), lambda p: {}),
}


def check_job(job: dict[str, Any]) -> dict[str, Any]:
    """The job in its one stored form ({"kind": ..., parameters}); InvalidValueError for unknown kinds or params."""
    kind = job.get("kind")
    if kind not in _PARAMS:
        raise InvalidValueError(f"job kind must be one of {', '.join(JOB_KINDS)}, not {kind!r}")
    allowed, check = _PARAMS[kind]
    params = {k: v for k, v in job.items() if k != "kind"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidValueError(f"a {kind} job takes no parameter {', '.join(map(repr, unknown))}")
    checked: dict[str, Any] = check(params)
    return {"kind": kind, **checked}
