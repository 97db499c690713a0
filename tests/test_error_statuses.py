"""Every error status that an operation declares in openapi.yaml, produced for real."""

import time

import jwt
import pytest
from starlette.testclient import TestClient

from pizza_api.app import create_app
from pizza_api.db import Database
from pizza_api.spec import iter_operations, load_spec, published_spec
from tests.conftest import TEST_JWT_SECRET, make_settings

BIG = "x" * 70000
ADMIN_ONLY_USER = "user"


def token(role: str = "admin") -> dict:
    now = int(time.time())
    client_id, uid = ("dev-client", "1") if role == "admin" else ("user-client", "2")
    claims = {
        "aud": client_id,
        "exp": now + 600,
        "iat": now,
        "iss": "pizza-api",
        "role": role,
        "scope": "",
        "uid": uid,
    }
    return {"Authorization": "Bearer " + jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS512")}


FORM = {
    "grant_type": "client_credentials",
    "client_id": "dev-client",
    "client_secret": "dev-secret-123",
}

# (operationId, status) -> (method, path, request keyword arguments)
CASES = {
    ("list_pizzas", 400): ("GET", "/api/v1/public/pizzas?limit=0", {}),
    ("list_pizzas", 503): ("GET", "/api/v1/public/pizzas", {}),
    ("get_pizza", 400): ("GET", "/api/v1/public/pizzas/x", {}),
    ("get_pizza", 404): ("GET", "/api/v1/public/pizzas/404", {}),
    ("get_pizza", 503): ("GET", "/api/v1/public/pizzas/1", {}),
    ("get_readiness", 503): ("GET", "/health/ready", {}),
    ("issue_token", 400): ("POST", "/api/v1/oauth/token", {"data": {"grant_type": "password"}}),
    ("issue_token", 401): (
        "POST",
        "/api/v1/oauth/token",
        {"data": {**FORM, "client_secret": "no"}},
    ),
    ("issue_token", 413): ("POST", "/api/v1/oauth/token", {"data": {**FORM, "scope": BIG}}),
    ("issue_token", 503): ("POST", "/api/v1/oauth/token", {"data": FORM}),
    ("create_pizza", 400): ("POST", "/api/v1/pizzas", {"json": {}, "headers": token()}),
    ("create_pizza", 401): ("POST", "/api/v1/pizzas", {"json": {}}),
    ("create_pizza", 413): ("POST", "/api/v1/pizzas", {"json": {"name": BIG}, "headers": token()}),
    ("create_pizza", 415): (
        "POST",
        "/api/v1/pizzas",
        {"content": b"{}", "headers": {**token(), "Content-Type": "text/plain"}},
    ),
    ("create_pizza", 503): (
        "POST",
        "/api/v1/pizzas",
        {"json": {"name": "x", "price": 1}, "headers": token()},
    ),
    ("update_pizza", 400): ("PUT", "/api/v1/pizzas/1", {"json": {"price": -1}, "headers": token()}),
    ("update_pizza", 401): ("PUT", "/api/v1/pizzas/1", {"json": {}}),
    ("update_pizza", 403): (
        "PUT",
        "/api/v1/pizzas/1",
        {"json": {"price": 1}, "headers": token("user")},
    ),
    ("update_pizza", 404): (
        "PUT",
        "/api/v1/pizzas/404",
        {"json": {"price": 1}, "headers": token()},
    ),
    ("update_pizza", 413): ("PUT", "/api/v1/pizzas/1", {"json": {"name": BIG}, "headers": token()}),
    ("update_pizza", 415): (
        "PUT",
        "/api/v1/pizzas/1",
        {"content": b"{}", "headers": {**token(), "Content-Type": "text/csv"}},
    ),
    ("update_pizza", 503): ("PUT", "/api/v1/pizzas/1", {"json": {"price": 1}, "headers": token()}),
    ("delete_pizza", 400): ("DELETE", "/api/v1/pizzas/0", {"headers": token()}),
    ("delete_pizza", 401): (
        "DELETE",
        "/api/v1/pizzas/1",
        {"headers": {"Authorization": "Bearer x.y.z"}},
    ),
    ("delete_pizza", 403): ("DELETE", "/api/v1/pizzas/1", {"headers": token("user")}),
    ("delete_pizza", 404): ("DELETE", "/api/v1/pizzas/404", {"headers": token()}),
    ("delete_pizza", 503): ("DELETE", "/api/v1/pizzas/1", {"headers": token()}),
    ("create_client", 400): ("POST", "/api/v1/clients", {"json": {"name": ""}, "headers": token()}),
    ("create_client", 401): ("POST", "/api/v1/clients", {"json": {"name": "x"}}),
    ("create_client", 403): (
        "POST",
        "/api/v1/clients",
        {"json": {"name": "x"}, "headers": token("user")},
    ),
    ("create_client", 413): (
        "POST",
        "/api/v1/clients",
        {"json": {"name": BIG}, "headers": token()},
    ),
    ("create_client", 415): (
        "POST",
        "/api/v1/clients",
        {"data": {"name": "x"}, "headers": token()},
    ),
    ("create_client", 503): (
        "POST",
        "/api/v1/clients",
        {"json": {"name": "x"}, "headers": token()},
    ),
    ("list_clients", 401): ("GET", "/api/v1/clients", {"headers": {"Authorization": "Basic eDp5"}}),
    ("list_clients", 403): ("GET", "/api/v1/clients", {"headers": token("user")}),
    ("list_clients", 503): ("GET", "/api/v1/clients", {"headers": token()}),
    ("delete_client", 400): ("DELETE", "/api/v1/clients/a%00", {"headers": token()}),
    ("delete_client", 401): ("DELETE", "/api/v1/clients/x", {}),
    ("delete_client", 403): ("DELETE", "/api/v1/clients/x", {"headers": token("user")}),
    ("delete_client", 404): ("DELETE", "/api/v1/clients/x", {"headers": token()}),
    ("delete_client", 503): ("DELETE", "/api/v1/clients/x", {"headers": token()}),
    ("update_pizza", 412): (
        "PUT",
        "/api/v1/pizzas/1",
        {"json": {"price": 1}, "headers": {**token(), "If-Match": '"old"'}},
    ),
    ("delete_pizza", 412): (
        "DELETE",
        "/api/v1/pizzas/1",
        {"headers": {**token(), "If-Match": '"old"'}},
    ),
    ("create_pizza", 422): (
        "POST",
        "/api/v1/pizzas",
        {"json": {"name": "b", "price": 2}, "headers": {**token(), "Idempotency-Key": "k1"}},
    ),
    ("create_client", 422): (
        "POST",
        "/api/v1/clients",
        {"json": {"name": "b"}, "headers": {**token(), "Idempotency-Key": "k1"}},
    ),
    ("issue_token", 429): ("POST", "/api/v1/oauth/token", {"data": FORM}),
    ("create_pizza", 429): (
        "POST",
        "/api/v1/pizzas",
        {"json": {"name": "x", "price": 1}, "headers": token()},
    ),
    ("update_pizza", 429): ("PUT", "/api/v1/pizzas/1", {"json": {"price": 1}, "headers": token()}),
    ("delete_pizza", 429): ("DELETE", "/api/v1/pizzas/404", {"headers": token()}),
    ("create_client", 429): (
        "POST",
        "/api/v1/clients",
        {"json": {"name": "x"}, "headers": token()},
    ),
    ("list_clients", 429): ("GET", "/api/v1/clients", {"headers": token()}),
    ("delete_client", 429): ("DELETE", "/api/v1/clients/x", {"headers": token()}),
}

# Requests sent before the case itself, to set up its state.
SETUP = {
    ("create_pizza", 422): (
        "POST",
        "/api/v1/pizzas",
        {"json": {"name": "a", "price": 1}, "headers": {**token(), "Idempotency-Key": "k1"}},
    ),
    ("create_client", 422): (
        "POST",
        "/api/v1/clients",
        {"json": {"name": "a"}, "headers": {**token(), "Idempotency-Key": "k1"}},
    ),
}


def declared_errors() -> set:
    spec = published_spec(load_spec())
    return {
        (operation["operationId"], int(status))
        for _, _, operation in iter_operations(spec)
        for status in operation["responses"]
        if int(status) >= 400
    }


def test_every_declared_error_status_has_a_case():
    assert set(CASES) == declared_errors()


@pytest.fixture
def down_client(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = make_settings(f"sqlite://{blocker}/db.sqlite")
    with TestClient(create_app(settings, db=Database(settings))) as client:
        yield client


@pytest.fixture
def limited_client(db):
    settings = make_settings(
        db.url.render_as_string(hide_password=False).replace("sqlite+pysqlite:///", "sqlite://"),
        rate_limit_api_per_client="1/minute",
        rate_limit_token_per_address="1/minute",
    )
    with TestClient(create_app(settings, db=db)) as client:
        yield client


@pytest.mark.parametrize("operation, status", sorted(CASES))
def test_declared_error_status(operation, status, client, down_client, limited_client):
    method, path, kwargs = CASES[(operation, status)]
    target = {503: down_client, 429: limited_client}.get(status, client)
    if (operation, status) in SETUP:
        setup_method, setup_path, setup_kwargs = SETUP[(operation, status)]
        assert target.request(setup_method, setup_path, **setup_kwargs).status_code < 300
    if status == 429:
        target.request(method, path, **kwargs)

    response = target.request(method, path, **kwargs)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert isinstance(response.json()["error"], str)
    if operation != "get_readiness":
        assert response.json()["request_id"] == response.headers["x-request-id"]
    if status == 429:
        assert int(response.headers["retry-after"]) >= 1
