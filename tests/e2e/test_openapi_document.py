"""The OpenAPI document is valid and tells the truth: security per operation, and its problem responses."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient
from openapi_spec_validator import validate

PROBLEM = "application/problem+json"
METHODS = ("get", "put", "post", "delete", "patch")
PUBLIC = {("get", "/health"), ("get", "/ready")}
"""Operations anyone may call: liveness and readiness (the document itself is not one of its operations)."""


@pytest.fixture(scope="module", params=["sqlite"])  # the document does not depend on the store
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def document(module_client: TestClient) -> dict[str, Any]:
    """One platform and one read of the document for the module: its tests only read it."""
    response = module_client.get("/schema/openapi.json", headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_it_declares_bearer_jwt_and_the_api_key(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["bearerAuth"]["description"],
    }
    assert (schemes["apiKey"]["type"], schemes["apiKey"]["in"], schemes["apiKey"]["name"]) == (
        "apiKey",
        "header",
        "X-API-Key",
    )
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}


def test_every_operation_but_the_public_ones_needs_credentials(document: dict[str, Any]) -> None:
    found = {(method, path): operation.get("security") for method, path, operation in operations(document)}
    assert set(found) >= PUBLIC
    for key, security in found.items():
        expected = None if key in PUBLIC else [{"bearerAuth": []}, {"apiKey": []}]
        assert security == expected, key


def test_every_operation_declares_its_problem_responses(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        problems = {int(s): r for s, r in operation["responses"].items() if int(s) >= 400}
        expected = {422} if (method, path) in PUBLIC else {400, 401, 403, 422, 429, 503}
        if "{" in path:
            expected.add(404)
        if method != "get":
            expected |= {409}
        if method in ("post", "put", "patch"):
            expected |= {413, 415}
        assert expected <= set(problems), (method, path, sorted(problems))
        for status, response in problems.items():
            media = response["content"][PROBLEM]
            assert media["schema"] == {"$ref": "#/components/schemas/Problem"}, (method, path, status)


def test_a_route_adds_the_problems_only_its_handler_answers(document: dict[str, Any]) -> None:
    ready = document["paths"]["/ready"]["get"]["responses"]
    health = document["paths"]["/health"]["get"]["responses"]
    assert "503" in ready
    assert sorted(health) == ["200", "422"]


ROWS_OF_A_DATASET = {("get", "/v1/tenants/{tenant_id}/exports/{export_id}/download")}
"""Answers whose JSON form is the rows of a dataset, keyed by the columns its contract names: free-form by nature."""


def resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def is_typed(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A named record with properties, a list of them, a scalar, or a choice of these (null aside)."""
    schema = resolved(document, schema)
    choices = schema.get("oneOf") or schema.get("anyOf")
    if choices:
        return all(is_typed(document, choice) for choice in choices if choice.get("type") != "null")
    if schema.get("type") == "array":
        return is_typed(document, schema.get("items", {}))
    if schema.get("type") == "object":
        return bool(schema.get("properties"))
    return schema.get("type") in ("string", "integer", "number", "boolean")


def success_contents(operation: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (media_type, content.get("schema", {}))
        for status, response in operation["responses"].items()
        if 200 <= int(status) < 300
        for media_type, content in response.get("content", {}).items()
    ]


def test_every_success_answer_has_a_declared_type(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        assert any(200 <= int(status) < 300 for status in operation["responses"]), (method, path)
        for media_type, schema in success_contents(operation):
            if not media_type.endswith("json"):
                assert resolved(document, schema).get("type") == "string", (method, path, media_type)
            elif (method, path) in ROWS_OF_A_DATASET:
                assert resolved(document, schema)["items"]["type"] == "object", (method, path)
            else:
                assert is_typed(document, schema), (method, path, media_type, schema)


def test_the_type_check_tells_a_record_from_a_free_form_object() -> None:
    document = {"components": {"schemas": {"Named": {"type": "object", "properties": {"a": {"type": "string"}}}}}}
    named = {"$ref": "#/components/schemas/Named"}
    assert is_typed(document, named)
    assert is_typed(document, {"type": "array", "items": named})
    assert is_typed(document, {"oneOf": [named, {"type": "null"}]})
    assert not is_typed(document, {"type": "object"})
    assert not is_typed(document, {"type": "object", "additionalProperties": {}})
    assert not is_typed(document, {"type": "array", "items": {"type": "object", "additionalProperties": {}}})
    assert not is_typed(document, {})
