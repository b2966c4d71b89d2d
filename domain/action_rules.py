"""Action rules: parameter schemas, connector settings, playbook conditions and their evaluation over KPI values.

Pure functions over plain data, shared by the aggregates in ``domain/actions/``, the action engine and the
backtest, so the engine and a backtest decide alike. A condition compares one KPI value for one dimension
combination with a threshold:

- ``above`` / ``below``: the value is greater / less than the threshold;
- ``crosses_above`` / ``crosses_below``: it is now, and the previous value of the same series was not (a series
  with no previous value does not cross);
- ``pct_change``: the change from the value ``periods`` periods earlier, in percent, reaches the threshold
  (a positive threshold asks for a rise of at least that much, a negative one for a fall of at least that much).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from domain.errors import InvalidValueError

KINDS = ("http", "webhook", "nats", "email")
PARAM_TYPES = {"string": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,)}
OPERATORS = ("above", "below", "crosses_above", "crosses_below", "pct_change")
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
PARAM_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
SECRET_SUFFIX = "_secret"
FORBIDDEN_SETTINGS = re.compile(r"(password|passwd|token|api_?key|credential|authorization)$", re.IGNORECASE)
CONNECTOR_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "http": ({"url"}, {"method", "headers", "timeout", "auth_secret", "auth_scheme"}),
    "webhook": ({"url", "signing_secret"}, {"timeout"}),
    "nats": ({"subject"}, {"url", "credentials_secret"}),
    "email": ({"host", "port", "sender", "to", "subject"}, {"starttls", "username", "password_secret", "timeout"}),
}
HTTP_METHODS = ("POST", "PUT", "PATCH")
MAX_BODY = 20_000
MAX_NATS_SUBJECT = 200
"""Characters of a nats action's subject (published under ``actions.<tenant id>.``, 45 more)."""
NATS_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


class Parameter(TypedDict):
    name: str
    type: str
    required: bool


class Condition(TypedDict):
    operator: str
    threshold: float
    periods: int


def check_name(name: str, what: str) -> str:
    if not NAME.match(name or ""):
        raise InvalidValueError(f"a {what} name is 1-63 lowercase letters, digits, '-' or '_', starting with a letter")
    return name


def check_parameters(raw: Sequence[Mapping[str, Any]]) -> list[Parameter]:
    """A parameter schema: unique names, each of a known type, required or not."""
    found: list[Parameter] = []
    for spec in raw:
        name, kind = str(spec.get("name", "")), str(spec.get("type", "string"))
        if not PARAM_NAME.match(name):
            raise InvalidValueError(f"parameter name {name!r} is not an identifier (lowercase, digits, '_')")
        if kind not in PARAM_TYPES:
            raise InvalidValueError(f"parameter {name}: type {kind!r} is not one of {', '.join(PARAM_TYPES)}")
        if any(p["name"] == name for p in found):
            raise InvalidValueError(f"parameter {name} is declared twice")
        found.append(Parameter(name=name, type=kind, required=bool(spec.get("required", False))))
    return found


def check_params(schema: Sequence[Parameter], params: Mapping[str, Any]) -> dict[str, Any]:
    """Step parameters against a template's schema: every required one given, none unknown, each of its type."""
    known = {p["name"]: p for p in schema}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InvalidValueError(f"unknown parameters: {', '.join(unknown)}")
    for spec in schema:
        if spec["name"] not in params:
            if spec["required"]:
                raise InvalidValueError(f"parameter {spec['name']} is required")
            continue
        value = params[spec["name"]]
        wrong_bool = isinstance(value, bool) and spec["type"] != "boolean"
        if wrong_bool or not isinstance(value, PARAM_TYPES[spec["type"]]):
            raise InvalidValueError(f"parameter {spec['name']} must be a {spec['type']}")
    return dict(params)


def check_connector(kind: str, connector: Mapping[str, Any]) -> dict[str, Any]:
    """Connector settings of a kind: the keys it needs, no others, and credentials only as secret names."""
    if kind not in KINDS:
        raise InvalidValueError(f"action kind {kind!r} is not one of {', '.join(KINDS)}")
    required, optional = CONNECTOR_KEYS[kind]
    missing, unknown = sorted(required - set(connector)), sorted(set(connector) - required - optional)
    if unknown:
        secretish = [k for k in unknown if FORBIDDEN_SETTINGS.search(k)]
        hint = f" (credentials go in a secret, named by a *{SECRET_SUFFIX} setting)" if secretish else ""
        raise InvalidValueError(f"{kind} connector settings {', '.join(unknown)} are not known{hint}")
    if missing:
        raise InvalidValueError(f"{kind} connector needs {', '.join(missing)}")
    if kind == "http" and str(connector.get("method", "POST")).upper() not in HTTP_METHODS:
        raise InvalidValueError(f"http method must be one of {', '.join(HTTP_METHODS)}")
    headers = connector.get("headers", {})
    if not isinstance(headers, dict) or any(FORBIDDEN_SETTINGS.search(str(h)) for h in headers):
        raise InvalidValueError("headers are a name -> value map without credentials (use auth_secret)")
    if kind == "email" and not (isinstance(connector["to"], list) and connector["to"]):
        raise InvalidValueError("email 'to' is a non-empty list of addresses")
    if kind == "nats":
        check_nats_subject(connector["subject"])
    return dict(connector)


def check_nats_subject(subject: Any) -> str:
    """A literal NATS subject: dot-separated tokens of letters, digits, '-' and '_', at most MAX_NATS_SUBJECT long.

    No wildcards ('*', '>': a publish subject names one subject), no whitespace or control characters (they end a
    subject in the NATS protocol), no empty token (a leading, trailing or double dot)."""
    text = subject if isinstance(subject, str) else ""
    tokens = text.split(".")
    if not text or len(text) > MAX_NATS_SUBJECT:
        why = f"is 1-{MAX_NATS_SUBJECT} characters"
    elif "*" in text or ">" in text:
        why = "may not hold the wildcards '*' or '>'"
    elif any(char.isspace() or not char.isprintable() for char in text):
        why = "may not hold whitespace or control characters"
    elif not all(tokens):
        why = "may not have an empty token (a leading, trailing or double dot)"
    elif not all(NATS_TOKEN.fullmatch(token) for token in tokens):
        why = "is dot-separated tokens of letters, digits, '-' and '_'"
    else:
        return text
    raise InvalidValueError(f"the nats subject {why}", field="/connector/subject")


def secret_names(connector: Mapping[str, Any]) -> list[str]:
    """The secrets a connector reads at delivery time, by the settings that name them."""
    return sorted(str(v) for k, v in connector.items() if k.endswith(SECRET_SUFFIX) and v)


def check_condition(raw: Mapping[str, Any]) -> Condition:
    operator = str(raw.get("operator", ""))
    if operator not in OPERATORS:
        raise InvalidValueError(f"condition operator {operator!r} is not one of {', '.join(OPERATORS)}")
    threshold, periods = raw.get("threshold"), raw.get("periods", 1)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidValueError("condition threshold must be a number")
    if isinstance(periods, bool) or not isinstance(periods, int) or not 1 <= periods <= 366:
        raise InvalidValueError("condition periods must be a whole number from 1 to 366")
    if operator == "pct_change" and threshold == 0:
        raise InvalidValueError("a pct_change threshold is a non-zero percentage")
    return Condition(operator=operator, threshold=float(threshold), periods=periods)


def dimension_key(dimensions: Mapping[str, Any]) -> str:
    """A stable text for a dimension combination (sorted JSON), part of an action run's id."""
    return json.dumps({k: dimensions[k] for k in sorted(dimensions)}, separators=(",", ":"))


def matches(dimension_filter: Mapping[str, Any], dimensions: Mapping[str, Any]) -> bool:
    return all(str(dimensions.get(name)) == str(value) for name, value in dimension_filter.items())


@dataclass
class Series:
    """One KPI's values for one dimension combination: by period, and the last value seen (any period)."""

    by_period: dict[str, float] = field(default_factory=dict)
    last: float | None = None

    def observe(self, period: str, value: float) -> float | None:
        """Records a value (the latest for its period); returns the value seen before it, of any period."""
        previous = self.last
        self.by_period[period] = value
        self.last = value
        return previous

    def base(self, period: str, periods: int) -> float | None:
        """The value ``periods`` periods before ``period`` (in the order of the periods seen)."""
        ordered = sorted(self.by_period)
        at = ordered.index(period) if period in ordered else len(ordered)
        return self.by_period[ordered[at - periods]] if at - periods >= 0 else None


def decide(condition: Condition, value: float, previous: float | None, base: float | None) -> str | None:
    """Why the condition holds for this value (a sentence for the decision record), or None when it does not."""
    op, limit = condition["operator"], condition["threshold"]
    if op == "above" and value > limit:
        return f"value {value:g} is above {limit:g}"
    if op == "below" and value < limit:
        return f"value {value:g} is below {limit:g}"
    if op == "crosses_above" and previous is not None and previous <= limit < value:
        return f"value {value:g} crossed above {limit:g} (was {previous:g})"
    if op == "crosses_below" and previous is not None and previous >= limit > value:
        return f"value {value:g} crossed below {limit:g} (was {previous:g})"
    if op == "pct_change" and base not in (None, 0):
        assert base is not None
        change = (value - base) / abs(base) * 100
        if (limit > 0 and change >= limit) or (limit < 0 and change <= limit):
            periods = condition["periods"]
            return f"value {value:g} changed {change:+.2f}% over {periods} period(s) (from {base:g}; limit {limit:g}%)"
    return None
