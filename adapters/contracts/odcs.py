"""Parsing ODCS documents (YAML or JSON) and validating them against the standard's own JSON schema.

The schema is the ``schema.json`` shipped inside the ``open-data-contract-standard`` package, loaded as it is.
YAML is read with the safe loader, minus two things JSON has no place for: timestamps stay strings
(``2022-10-03`` is text, as in JSON) and anchors/aliases are refused (they could expand a small body into a huge
document). Every violation is reported with the JSON pointer of the offending field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from application.contract_uploads import YAML_MEDIA_TYPES
from domain.contracts.document import sized_json
from domain.contracts.errors import ContractInvalidError, Issue

MAX_ISSUES = 50
MAX_MESSAGE = 300
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class DocumentSyntaxError(ValueError):
    """The body is not well-formed YAML or JSON, or is not a single mapping."""


class _JsonLikeLoader(yaml.SafeLoader):
    """The safe loader, with timestamps left as strings and aliases refused."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "YAML aliases are not accepted", mark)
        return super().compose_node(parent, index)


_JsonLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@cache
def odcs_schema() -> dict[str, Any]:
    """The ODCS JSON schema of the installed ``open-data-contract-standard`` package."""
    text = files("open_data_contract_standard").joinpath("schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Validator:
    schema = odcs_schema()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def load_document(body: bytes, media_type: str) -> dict[str, Any]:
    """The body as a JSON-native mapping; DocumentSyntaxError when it does not parse."""
    try:
        if media_type in YAML_MEDIA_TYPES:
            loaded = yaml.load(body.decode("utf-8"), Loader=_JsonLikeLoader)  # a SafeLoader: no arbitrary objects
        else:
            loaded = json.loads(body)
        if isinstance(loaded, dict):
            _check_json_native(loaded, "")
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        raise DocumentSyntaxError(f"the body is not well-formed {_format(media_type)}: {_first_line(error)}") from None
    except RecursionError:
        raise DocumentSyntaxError("the document is nested too deeply") from None
    if not isinstance(loaded, dict):
        raise DocumentSyntaxError("a data contract document is a mapping (kind: DataContract, apiVersion, id...)")
    return loaded


def validate_document(document: dict[str, Any]) -> None:
    """Checks the document against the ODCS JSON schema; ContractInvalidError lists each violation's pointer."""
    issues = _issues(_validator().iter_errors(document))
    if issues:
        summary = f"the document breaks the ODCS schema in {len(issues)} place(s)"
        raise ContractInvalidError(issues[:MAX_ISSUES], summary)


def read_odcs(body: bytes, media_type: str, max_bytes: int | None = None) -> dict[str, Any]:
    """Parses and validates an ODCS document sent as ``media_type``; with ``max_bytes``, a document larger than
    that as canonical JSON is refused (ContractTooLargeError) before the schema validation, its slowest part."""
    document = load_document(body, media_type)
    if max_bytes is not None:
        sized_json(document, max_bytes)
    validate_document(document)
    return document


def pointer(path: Any) -> str:
    """RFC 6901 JSON pointer of a path of keys and indexes."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _issues(errors: Iterable[ValidationError]) -> list[Issue]:
    """One issue per offending place, in document order. "Unevaluated properties" is only a consequence when
    something else is wrong at or below the same place (the properties of a failed branch count as unevaluated)."""
    found = sorted({_issue(error): error.validator for error in errors}.items(), key=lambda item: item[0])
    places = [where for (where, _), validator in found if validator != "unevaluatedProperties"]
    return [
        issue
        for issue, validator in found
        if validator != "unevaluatedProperties" or not any(_within(p, issue[0]) for p in places)
    ]


def _within(place: str, where: str) -> bool:
    return place == where or place.startswith(where + "/")


def _issue(error: ValidationError) -> Issue:
    """The pointer of the offending field; for an unexpected property the property itself; for a value that
    matches none of several forms, the closest form's complaint."""
    if error.validator in ("oneOf", "anyOf"):
        if error.context and "not valid under any" in error.message:
            return _issue(best_match(error.context))
        return pointer(error.absolute_path), "matches more than one of the allowed forms (e.g. two operators)"
    if error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(error.instance, dict):
        extra = [key for key in error.instance if key not in _declared_properties(error.schema)]
        if len(extra) == 1:
            return pointer([*error.absolute_path, extra[0]]), f"unknown property {extra[0]!r}"
    return pointer(error.absolute_path), _short(error)


def _short(error: ValidationError) -> str:
    shown = repr(error.instance)
    message = error.message
    if len(shown) > 60 and message.startswith(shown):
        message = "the value" + message[len(shown) :]
    return message[:MAX_MESSAGE]


def _declared_properties(schema: Any) -> set[str]:
    return set(schema.get("properties", {})) if isinstance(schema, dict) else set()


def _check_json_native(value: Any, where: str) -> None:
    """YAML can say things JSON cannot (non-string keys, binary, sets, NaN): refuse them, naming where."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ContractInvalidError([(where, f"key {key!r} is not a string")])
            _check_json_native(item, f"{where}/{pointer([key])[1:]}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json_native(item, f"{where}/{i}")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ContractInvalidError([(where, "not a finite number")])
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise ContractInvalidError([(where, f"a {type(value).__name__} is not a JSON value")])


def _format(media_type: str) -> str:
    return "YAML" if media_type in YAML_MEDIA_TYPES else "JSON"


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
