"""Hostile request bodies on every operation that takes one.

Validation cases run in-process; the body size limit runs against a real server,
because Content-Length and chunked framing only exist on a real connection.
"""

import json
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from pizza_api.models import Pizza
from tests.conftest import BACKENDS
from tests.hostile.conftest import ADMIN_FORM, PIZZA, assert_error, server_env, table_counts

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

# operationId -> (method, path, a valid body, the `error` of a 400)
JSON_OPERATIONS = {
    "create_pizza": ("POST", "/api/v1/pizzas", {"name": "x", "price": 1}, "Invalid request body"),
    "update_pizza": ("PUT", "/api/v1/pizzas/1", {"name": "x", "price": 1}, "Invalid request body"),
    "create_client": ("POST", "/api/v1/clients", {"name": "x"}, "invalid_request"),
}


def _with(valid: dict, fragment: str) -> bytes:
    """Return the valid body as JSON text with `fragment` spliced in as an extra member."""
    return (json.dumps(valid)[:-1] + ", " + fragment + "}").encode()


# case id -> (Content-Type, body built from the operation's valid body, expected status)
JSON_BODY_CASES = {
    "empty": (JSON, lambda valid: b"", 400),
    "whitespace-only": (JSON, lambda valid: b"  \r\n\t ", 400),
    "text-plain": ("text/plain", lambda valid: json.dumps(valid).encode(), 415),
    "form-content-type": (FORM, lambda valid: b"name=x&price=1", 415),
    "xml-content-type": ("application/xml", lambda valid: b"<pizza/>", 415),
    "not-json": (JSON, lambda valid: b"{name: x, price: 1}", 400),
    "truncated-json": (JSON, lambda valid: json.dumps(valid).encode()[:-1], 400),
    "trailing-garbage": (JSON, lambda valid: json.dumps(valid).encode() + b"}", 400),
    "array-for-object": (JSON, lambda valid: json.dumps([valid]).encode(), 400),
    "string-for-object": (JSON, lambda valid: b'"pizza"', 400),
    "number-for-object": (JSON, lambda valid: b"12", 400),
    "null-for-object": (JSON, lambda valid: b"null", 400),
    "unknown-key": (JSON, lambda valid: _with(valid, '"topping": "pineapple"'), 400),
    "key-other-case": (JSON, lambda valid: _with(valid, '"NAME": "x"'), 400),
    "nested-40-levels": (JSON, lambda valid: _with(valid, '"a": ' + "[" * 40 + "]" * 40), 400),
    "nested-30000-levels": (
        JSON,
        lambda valid: _with(valid, '"a": ' + "[" * 30000 + "]" * 30000),
        400,
    ),
    "not-utf8": (JSON, lambda valid: json.dumps(valid).encode()[:-1] + b', "a": "\xff"}', 400),
    "utf16": (JSON, lambda valid: json.dumps(valid).encode("utf-16"), 400),
    "utf8-bom": (JSON, lambda valid: b"\xef\xbb\xbf" + json.dumps(valid).encode(), 400),
    "lone-surrogate-value": (JSON, lambda valid: _with(valid, '"name": "\\ud800"'), 400),
    "lone-surrogate-key": (JSON, lambda valid: _with(valid, '"\\udfff": 1'), 400),
    "nul-in-key": (JSON, lambda valid: _with(valid, '"a\\u0000": 1'), 400),
    "nan-literal": (JSON, lambda valid: _with(valid, '"a": NaN'), 400),
    "integer-5000-digits": (JSON, lambda valid: _with(valid, '"a": ' + "9" * 5000), 400),
}


@pytest.mark.parametrize("case", list(JSON_BODY_CASES))
@pytest.mark.parametrize("operation", list(JSON_OPERATIONS))
def test_hostile_json_body_rejected(shared_client, operation, case):
    client = shared_client
    method, path, valid, error_400 = JSON_OPERATIONS[operation]
    content_type, build, status = JSON_BODY_CASES[case]
    before = table_counts(client.db)
    pizza_before = client.get("/api/v1/public/pizzas/1").json()

    response = client.request(
        method,
        path,
        content=build(valid),
        headers={**client.admin_headers, "Content-Type": content_type},
    )

    expected_error = error_400 if status == 400 else "unsupported_media_type"
    assert_error(response, status, expected_error)
    assert table_counts(client.db) == before
    assert client.get("/api/v1/public/pizzas/1").json() == pizza_before


def test_duplicate_json_keys_last_wins(client, admin_headers):
    # json.loads keeps the last value of a repeated key, as Go's encoding/json does.
    response = client.post(
        "/api/v1/pizzas",
        content=b'{"name": "first", "price": 1, "name": "second"}',
        headers={**admin_headers, "Content-Type": JSON},
    )
    assert response.status_code == 201
    assert response.json()["name"] == "second"


# case id -> (Content-Type, body, expected status, expected error)
TOKEN_BODY_CASES = {
    "empty": (FORM, b"", 400, "invalid_request"),
    "json-content-type": (JSON, json.dumps(ADMIN_FORM).encode(), 400, "invalid_request"),
    "text-plain": ("text/plain", b"grant_type=client_credentials", 400, "invalid_request"),
    "multipart": ("multipart/form-data; boundary=x", b"--x--\r\n", 400, "invalid_request"),
    "not-a-form": (FORM, b"\x00\x01\x02\xff", 400, "invalid_request"),
    "only-separators": (FORM, b"&&&===&", 400, "invalid_request"),
    "grant-type-other": (FORM, b"grant_type=password", 400, "unsupported_grant_type"),
    "nul-in-client-id": (
        FORM,
        b"grant_type=client_credentials&client_id=dev%00client&client_secret=x",
        400,
        "invalid_request",
    ),
    "nul-in-secret": (
        FORM,
        b"grant_type=client_credentials&client_id=dev-client&client_secret=%00",
        400,
        "invalid_request",
    ),
    "not-utf8-percent-encoded": (
        FORM,
        b"grant_type=client_credentials&client_id=%ff%fe&client_secret=%ff",
        401,
        "invalid_client",
    ),
    "not-utf8-raw": (
        FORM,
        b"grant_type=client_credentials&client_id=\xff\xfe&client_secret=\xff",
        401,
        "invalid_client",
    ),
    "surrogate-utf8-bytes": (
        FORM,
        b"grant_type=client_credentials&client_id=%ed%a0%80&client_secret=x",
        401,
        "invalid_client",
    ),
    "secret-over-72-bytes": (
        FORM,
        b"grant_type=client_credentials&client_id=dev-client&client_secret=" + b"s" * 100,
        401,
        "invalid_client",
    ),
    "client-id-10000-chars": (
        FORM,
        b"grant_type=client_credentials&client_secret=x&client_id=" + b"c" * 10000,
        401,
        "invalid_client",
    ),
}


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
@pytest.mark.parametrize("case", list(TOKEN_BODY_CASES))
def test_hostile_token_body_rejected(client, db, case):
    content_type, body, status, error = TOKEN_BODY_CASES[case]
    before = table_counts(db)

    response = client.post(
        "/api/v1/oauth/token", content=body, headers={"Content-Type": content_type}
    )

    assert_error(response, status, error)
    assert response.headers["cache-control"] == "no-store"
    assert table_counts(db) == before


def test_token_body_unknown_fields_ignored(client):
    # RFC 6749 section 3.2: the server ignores request parameters it does not recognize.
    response = client.post("/api/v1/oauth/token", data={**ADMIN_FORM, "topping": "ham"})
    assert response.status_code == 200


SERVER_OWNED = {
    "id": 987654,
    "created_by": 2,
    "created_at": "1999-01-01T00:00:00Z",
    "updated_at": "1999-01-01T00:00:00Z",
}


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_server_owned_fields_never_stored(client, db, admin_headers):
    created = client.post("/api/v1/pizzas", json={**PIZZA, **SERVER_OWNED}, headers=admin_headers)
    assert created.status_code == 201
    pizza_id = created.json()["id"]
    updated = client.put(
        f"/api/v1/pizzas/{pizza_id}",
        json={"name": "Renamed", **SERVER_OWNED},
        headers=admin_headers,
    )
    assert updated.status_code == 200

    read = client.get(f"/api/v1/public/pizzas/{pizza_id}").json()
    assert read["id"] == pizza_id != SERVER_OWNED["id"]
    assert read["name"] == "Renamed"
    assert read["created_by"] == 1
    assert not read["created_at"].startswith("1999")
    assert not read["updated_at"].startswith("1999")
    assert client.get(f"/api/v1/public/pizzas/{SERVER_OWNED['id']}").status_code == 404
    with db.session(read_only=True) as session:
        row = session.scalars(select(Pizza).where(Pizza.id == pizza_id)).one()
        assert row.created_by == 1
        assert row.created_at.year != 1999
        assert session.get(Pizza, SERVER_OWNED["id"]) is None


# A small limit keeps the oversized bodies small; the checks do not depend on its value.
BODY_LIMIT = 4096


@pytest.fixture(scope="module")
def limited_server(module_server, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("limited")
    env = server_env(f"sqlite://{workdir}/limited.sqlite", MAX_BODY_BYTES=str(BODY_LIMIT))
    server = module_server(env, workdir)
    token = httpx.post(f"{server.base_url}/api/v1/oauth/token", data=ADMIN_FORM).json()
    server.admin_headers = {"Authorization": "Bearer " + token["access_token"]}
    return server


# operationId -> (method, path, Content-Type, a body over the limit)
OVERSIZED = {
    "create_pizza": (
        "POST",
        "/api/v1/pizzas",
        JSON,
        json.dumps({**PIZZA, "description": "d" * 3 * BODY_LIMIT}).encode(),
    ),
    "update_pizza": (
        "PUT",
        "/api/v1/pizzas/1",
        JSON,
        json.dumps({"description": "d" * 3 * BODY_LIMIT}).encode(),
    ),
    "create_client": (
        "POST",
        "/api/v1/clients",
        JSON,
        json.dumps({"name": "x", "domain": "d" * 3 * BODY_LIMIT}).encode(),
    ),
    "issue_token": (
        "POST",
        "/api/v1/oauth/token",
        FORM,
        b"grant_type=client_credentials&scope=" + b"s" * 3 * BODY_LIMIT,
    ),
}


def _chunks(body: bytes, size: int = 1000):
    # A generator makes httpx send `Transfer-Encoding: chunked` without Content-Length.
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.server
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("operation", list(OVERSIZED))
def test_oversized_body_returns_413(limited_server, operation, framing):
    method, path, content_type, body = OVERSIZED[operation]
    content = body if framing == "content-length" else _chunks(body)
    before = httpx.get(f"{limited_server.base_url}/api/v1/public/pizzas").json()

    response = httpx.request(
        method,
        limited_server.base_url + path,
        content=content,
        headers={**limited_server.admin_headers, "Content-Type": content_type},
    )

    body = assert_error(response, 413, "payload_too_large")
    assert str(BODY_LIMIT) in body["message"]
    assert httpx.get(f"{limited_server.base_url}/api/v1/public/pizzas").json() == before


@pytest.mark.server
def test_chunked_body_within_limit_accepted(limited_server):
    body = json.dumps({**PIZZA, "name": "Chunked"}).encode()
    response = httpx.post(
        f"{limited_server.base_url}/api/v1/pizzas",
        content=_chunks(body, 7),
        headers={**limited_server.admin_headers, "Content-Type": JSON},
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Chunked"

    token = httpx.post(
        f"{limited_server.base_url}/api/v1/oauth/token",
        content=_chunks(urlencode(ADMIN_FORM).encode(), 5),
        headers={"Content-Type": FORM},
    )
    assert token.status_code == 200, token.text


@pytest.mark.server
def test_body_at_limit_accepted(limited_server):
    body = json.dumps({**PIZZA, "name": "At limit"}).encode()
    body += b" " * (BODY_LIMIT - len(body))
    response = httpx.post(
        f"{limited_server.base_url}/api/v1/pizzas",
        content=body,
        headers={**limited_server.admin_headers, "Content-Type": JSON},
    )
    assert response.status_code == 201, response.text
