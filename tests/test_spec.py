"""openapi.yaml itself: valid OpenAPI 3.0.3, wired to handlers, with complete error responses."""

import importlib
import inspect

import pytest
from openapi_spec_validator import validate

from pizza_api.spec import iter_operations, load_spec, published_spec

SPEC = load_spec()
OPERATIONS = list(iter_operations(SPEC))


def operation_id(entry) -> str:
    return entry[2]["operationId"]


def test_spec_is_valid_openapi():
    assert SPEC["openapi"] == "3.0.3"
    validate(SPEC)
    validate(published_spec(SPEC))


def test_every_contract_route_is_documented():
    documented = {(method.upper(), path) for path, method, _ in OPERATIONS}
    assert documented >= {
        ("GET", "/health"),
        ("GET", "/api/v1/public/pizzas"),
        ("GET", "/api/v1/public/pizzas/{id}"),
        ("POST", "/api/v1/oauth/token"),
        ("POST", "/api/v1/pizzas"),
        ("PUT", "/api/v1/pizzas/{id}"),
        ("DELETE", "/api/v1/pizzas/{id}"),
        ("POST", "/api/v1/clients"),
        ("GET", "/api/v1/clients"),
        ("DELETE", "/api/v1/clients/{id}"),
    }


@pytest.mark.parametrize("entry", OPERATIONS, ids=operation_id)
def test_operation_resolves_to_handler(entry):
    _, _, operation = entry
    module = importlib.import_module(operation["x-openapi-router-controller"])
    handler = getattr(module, operation["operationId"])
    assert inspect.isfunction(handler)
    assert operation["x-openapi-router-controller"] == f"handlers.{operation['tags'][0]}"


@pytest.mark.parametrize("entry", OPERATIONS, ids=operation_id)
def test_operation_declares_its_errors(entry):
    _, _, operation = entry
    statuses = set(operation["responses"])
    if operation.get("security", SPEC.get("security")):
        assert {"401", "429"} <= statuses
    if "requestBody" in operation:
        assert {"400", "413"} <= statuses
    if "application/json" in operation.get("requestBody", {}).get("content", {}):
        assert "415" in statuses
    for status, response in operation["responses"].items():
        if "$ref" in response:
            response = SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        if int(status) >= 400 and "content" in response:
            reference = response["content"]["application/json"]["schema"]["$ref"]
            schema = SPEC["components"]["schemas"][reference.rsplit("/", 1)[1]]
            assert "error" in schema["required"], status
