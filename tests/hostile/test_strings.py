"""Hostile strings in bodies, query strings, paths, form fields and headers.

Stored values must come back verbatim on every backend and never be interpreted as
SQL or HTML; invalid ones get 400 before the database. Bytes that HTTP clients would
normalise are sent over raw sockets to a real server.
"""

import base64
import re

import pytest

from tests.conftest import BACKENDS
from tests.hostile.conftest import (
    ADMIN_FORM,
    PIZZA,
    assert_error,
    http_request,
    raw_request,
    server_env,
    table_counts,
)

# Values a client may store; each must be read back unchanged.
VERBATIM = {
    "sql-quote": "'; DROP TABLE pizzas; --",
    "sql-union": "x' UNION SELECT id, secret_hash FROM oauth_clients --",
    "sql-or": '" OR 1=1 --',
    "sql-comment": "/* */ DELETE FROM users; #",
    "like-wildcards": "100% _pure_ !cheese\\",
    "html-script": "<script>alert('x')</script>",
    "html-entities": "&lt;b&gt; &amp; &#0; &quot;",
    "json-like": '{"id": 1, "price": 0}',
    "rtl-hebrew": "\u05e4\u05d9\u05e6\u05d4 \u05de\u05e8\u05d2\u05e8\u05d9\u05d8\u05d4",
    "rtl-override": "abc\u202edcba\u202c end",
    "combining": "Pizze\u0301ria Cafe\u0301 a\u0300\u0301\u0302\u0303\u0304",
    "zero-width": "Mar\u200bgh\u200derita\ufeff",
    "astral-100": "\U0001f355" * 100,
    "line-separators": "a\u2028b\u2029c",
    "max-length-100": "n" * 100,
    "inner-whitespace": "  Quattro \t Stagioni  ",
    "replacement-char": "\ufffd\ufffd",
}


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_hostile_strings_stored_verbatim(client, db, admin_headers):
    before = table_counts(db)
    seed = client.get("/api/v1/public/pizzas").json()
    ids = {}
    for case, value in VERBATIM.items():
        body = {
            **PIZZA,
            "name": value,
            "description": value * 3,
            "ingredients": [value, "Cheese"],
        }
        response = client.post("/api/v1/pizzas", json=body, headers=admin_headers)
        assert response.status_code == 201, (case, response.text)
        ids[case] = response.json()["id"]

    for case, value in VERBATIM.items():
        read = client.get(f"/api/v1/public/pizzas/{ids[case]}").json()
        assert read["name"] == value, case
        assert read["description"] == value * 3, case
        assert read["ingredients"] == [value, "Cheese"], case

    counts = table_counts(db)
    assert counts["pizzas"] == before["pizzas"] + len(VERBATIM)
    assert {k: v for k, v in counts.items() if k != "pizzas"} == {
        k: v for k, v in before.items() if k != "pizzas"
    }
    listed = client.get("/api/v1/public/pizzas").json()
    assert listed[: len(seed)] == seed


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_hostile_name_filter_matches_literally(client, admin_headers):
    for value in VERBATIM.values():
        assert client.post(
            "/api/v1/pizzas", json={**PIZZA, "name": value}, headers=admin_headers
        ).is_success
    for case, value in VERBATIM.items():
        response = client.get("/api/v1/public/pizzas", params={"name": value})
        assert response.status_code == 200, (case, response.text)
        names = [pizza["name"] for pizza in response.json()]
        # Only pizzas whose name contains the value, compared case-insensitively.
        assert value in names, case
        assert all(value.lower() in name.lower() for name in names), (case, names)


# (stored name, query, matches): Unicode case folding, but accents and symbols count.
NAME_FILTER_CASES = [
    ("ÉCOLE", "école", True),
    ("Café", "CAFÉ", True),
    ("ǅ Titlecase", "ǆ", True),
    ("Café", "cafe", False),
    ("Straße", "strasse", False),
    ("\U0001f355 Pizza", "\U0001f354", False),
    ("\U0001f355 Pizza", "\ufffd", False),
    ("\U0001f355 Pizza", "\U0001f355", True),
]


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_name_filter_same_on_every_backend(client, admin_headers):
    for stored in dict.fromkeys(name for name, _, _ in NAME_FILTER_CASES):
        body = {**PIZZA, "name": stored}
        assert client.post("/api/v1/pizzas", json=body, headers=admin_headers).is_success
    for stored, query, matches in NAME_FILTER_CASES:
        listed = client.get("/api/v1/public/pizzas", params={"name": query}).json()
        names = [pizza["name"] for pizza in listed]
        assert (stored in names) == matches, (stored, query, names)


# Client ids that equal "dev-client" only under a case- or accent-insensitive collation.
CLIENT_ID_VARIANTS = ["DEV-CLIENT", "Dev-Client", "dev-client ", "dév-client", "dev-clienť"]


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
@pytest.mark.parametrize("variant", CLIENT_ID_VARIANTS)
def test_client_id_compared_exactly(client, admin_headers, variant):
    form = {**ADMIN_FORM, "client_id": variant}
    assert_error(client.post("/api/v1/oauth/token", data=form), 401, "invalid_client")
    basic = _basic(f"{variant}:dev-secret-123".encode())
    response = client.post(
        "/api/v1/oauth/token", data={"grant_type": "client_credentials"}, headers=basic
    )
    assert_error(response, 401, "invalid_client")

    deleted = client.delete(f"/api/v1/clients/{variant}", headers=admin_headers)
    assert_error(deleted, 404, "client_not_found")
    assert client.get("/api/v1/clients", headers=admin_headers).status_code == 200


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_idempotency_keys_compared_exactly(client, admin_headers):
    first = client.post(
        "/api/v1/pizzas",
        json={**PIZZA, "name": "First"},
        headers={**admin_headers, "Idempotency-Key": "key-a"},
    )
    second = client.post(
        "/api/v1/pizzas",
        json={**PIZZA, "name": "Second"},
        headers={**admin_headers, "Idempotency-Key": "KEY-A"},
    )
    assert first.status_code == 201
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first.json()["id"]


FIELDS = {
    "pizza-name": ("/api/v1/pizzas", "Invalid request body", lambda v: {**PIZZA, "name": v}),
    "pizza-description": (
        "/api/v1/pizzas",
        "Invalid request body",
        lambda v: {**PIZZA, "description": v},
    ),
    "pizza-ingredient": (
        "/api/v1/pizzas",
        "Invalid request body",
        lambda v: {**PIZZA, "ingredients": ["Cheese", v]},
    ),
    "client-name": ("/api/v1/clients", "invalid_request", lambda v: {"name": v}),
    "client-domain": ("/api/v1/clients", "invalid_request", lambda v: {"name": "c", "domain": v}),
}

# case -> (value, fields that reject it with 400)
REJECTED = {
    "empty": ("", {"pizza-name", "pizza-ingredient", "client-name"}),
    "spaces-only": ("   ", {"pizza-name", "pizza-ingredient", "client-name"}),
    "whitespace-only": ("\t\n\r\u00a0\u3000", {"pizza-name", "pizza-ingredient", "client-name"}),
    "nul": ("a\x00b", set(FIELDS)),
    "nul-only": ("\x00", set(FIELDS)),
    "101-chars": ("x" * 101, {"pizza-name", "pizza-ingredient", "client-name"}),
    "256-chars": ("x" * 256, {"pizza-name", "pizza-ingredient", "client-name", "client-domain"}),
    "1001-chars": ("x" * 1001, set(FIELDS)),
    "60000-chars": ("x" * 60000, set(FIELDS)),
}


@pytest.mark.parametrize("case", list(REJECTED))
@pytest.mark.parametrize("field", list(FIELDS))
def test_hostile_string_field(shared_client, field, case):
    client, db, admin_headers = shared_client, shared_client.db, shared_client.admin_headers
    path, error, build = FIELDS[field]
    value, rejected_by = REJECTED[case]
    before = table_counts(db)

    response = client.post(path, json=build(value), headers=admin_headers)

    if field in rejected_by:
        assert_error(response, 400, error)
        assert table_counts(db) == before
    else:
        assert response.status_code == 201, response.text
        # A client's domain is not returned on create; the pizza's field is.
        if field.startswith("pizza"):
            key = field.removeprefix("pizza-")
            read = client.get(f"/api/v1/public/pizzas/{response.json()['id']}").json()
            assert read[key] == value


QUERY_CASES = {
    "nul": ("name=a%00b", 400, "Invalid query parameter"),
    "empty": ("name=", 400, "Invalid query parameter"),
    "101-chars": ("name=" + "x" * 101, 400, "Invalid query parameter"),
    "not-utf8-percent": ("name=%ff%fe", 200, None),
    "overlong-utf8": ("name=%c0%af", 200, None),
    "surrogate-utf8": ("name=%ed%a0%80", 200, None),
    "sql": ("name=%27%20OR%201%3D1%20--", 200, None),
    "created-by-text": ("created_by=abc", 400, "Invalid query parameter"),
    "created-by-sql": ("created_by=1%20OR%201%3D1", 400, "Invalid query parameter"),
    "unknown-parameter": ("topping=ham", 200, None),
}


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
@pytest.mark.parametrize("case", list(QUERY_CASES))
def test_hostile_query_string(client, case):
    query, status, error = QUERY_CASES[case]
    response = client.get("/api/v1/public/pizzas?" + query)
    if status == 200:
        assert response.status_code == 200, response.text
        assert isinstance(response.json(), list)
        # None of these values occurs in a seeded name, except the ignored parameter.
        assert len(response.json()) == (3 if case == "unknown-parameter" else 0)
    else:
        assert_error(response, status, error)


def _basic(raw: bytes) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


# case -> (Authorization header, status, error)
BASIC_CASES = {
    "nul-in-id-percent": (_basic(b"dev%00client:dev-secret-123"), 400, "invalid_request"),
    "nul-in-id-raw": (_basic(b"dev\x00client:dev-secret-123"), 400, "invalid_request"),
    "nul-in-secret": (_basic(b"dev-client:dev-secret-123%00"), 400, "invalid_request"),
    "not-utf8": (_basic(b"\xff\xfe:\xff"), 400, "invalid_request"),
    "surrogate-percent": (_basic(b"%ed%a0%80:secret"), 401, "invalid_client"),
    "no-colon": (_basic(b"dev-client"), 400, "invalid_request"),
    "not-base64": ({"Authorization": "Basic !!!not-base64!!!"}, 400, "invalid_request"),
    "empty-id": (_basic(b":dev-secret-123"), 401, "invalid_client"),
    "id-10000-chars": (_basic(b"c" * 10000 + b":x"), 401, "invalid_client"),
    "scheme-lowercase": (
        {"Authorization": "basic " + base64.b64encode(b"a:b").decode()},
        401,
        None,
    ),
}


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
@pytest.mark.parametrize("case", list(BASIC_CASES))
def test_hostile_basic_credentials(client, db, case):
    headers, status, error = BASIC_CASES[case]
    before = table_counts(db)
    response = client.post(
        "/api/v1/oauth/token", data={"grant_type": "client_credentials"}, headers=headers
    )
    assert_error(response, status, error or "invalid_client")
    assert table_counts(db) == before


@pytest.fixture(scope="module")
def raw_server(module_server, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("raw")
    server = module_server(server_env(f"sqlite://{workdir}/raw.sqlite"), workdir)
    import httpx

    token = httpx.post(f"{server.base_url}/api/v1/oauth/token", data=ADMIN_FORM).json()
    server.bearer = ("Bearer " + token["access_token"]).encode()
    return server


# case -> (method, request target, send the admin token, status, error)
RAW_TARGETS = {
    "pizza-id-percent-ff": ("GET", b"/api/v1/public/pizzas/%ff", False, 400, None),
    "pizza-id-fullwidth-digit": (
        "GET",
        b"/api/v1/public/pizzas/%ef%bc%91",
        False,
        400,
        "Invalid pizza ID format",
    ),
    "pizza-id-arabic-digit": ("GET", b"/api/v1/public/pizzas/%d9%a5", False, 400, None),
    # The path is decoded before routing, so %2f is a separator and no route matches.
    "pizza-id-encoded-slash": ("GET", b"/api/v1/public/pizzas/1%2f2", False, 404, "not_found"),
    "put-id-percent-ff": ("PUT", b"/api/v1/pizzas/%ff", True, 400, "Invalid pizza ID format"),
    "delete-id-nul": ("DELETE", b"/api/v1/pizzas/%00", True, 400, "Invalid pizza ID format"),
    "client-id-not-utf8": ("DELETE", b"/api/v1/clients/%ff%fe", True, 404, "client_not_found"),
    "client-id-nul": ("DELETE", b"/api/v1/clients/a%00b", True, 400, "invalid_request"),
    "client-id-sql": (
        "DELETE",
        b"/api/v1/clients/x%27%20OR%20%271%27%3D%271",
        True,
        404,
        "client_not_found",
    ),
    "query-not-utf8-percent": ("GET", b"/api/v1/public/pizzas?name=%ff", False, 200, None),
    "query-nul": ("GET", b"/api/v1/public/pizzas?name=%00", False, 400, None),
    "query-no-value": ("GET", b"/api/v1/public/pizzas?name", False, 400, None),
    "query-lone-percent": ("GET", b"/api/v1/public/pizzas?name=%", False, 200, None),
    "dot-segments": ("GET", b"/api/v1/public/pizzas/../../../etc/passwd", False, 404, None),
}


@pytest.mark.server
@pytest.mark.parametrize("case", list(RAW_TARGETS))
def test_hostile_request_target(raw_server, case):
    method, target, with_token, status, error = RAW_TARGETS[case]
    headers = {"Authorization": raw_server.bearer} if with_token else {}
    response = raw_request(raw_server.port, http_request(method, target, headers))
    if status == 200:
        assert response.status_code == 200, response.text
        assert response.json() == []
    else:
        assert_error(response, status, error)


# Bytes outside ASCII in a header, sent unencoded: case -> (method, target, headers,
# send the admin token, body, status, error)
FORM_BODY = b"grant_type=client_credentials"
RAW_HEADERS = {
    "authorization-latin1": (
        "GET",
        b"/api/v1/clients",
        {"Authorization": b"Bearer \xff\xfe"},
        False,
        b"",
        401,
        "invalid_token",
    ),
    "authorization-utf8": (
        "GET",
        b"/api/v1/clients",
        {"Authorization": b"Bearer \xc3\xa9"},
        False,
        b"",
        401,
        "invalid_token",
    ),
    "basic-latin1": (
        "POST",
        b"/api/v1/oauth/token",
        {"Authorization": b"Basic \xff\xfe", "Content-Type": b"application/x-www-form-urlencoded"},
        False,
        FORM_BODY,
        400,
        "invalid_request",
    ),
    "if-match-latin1": (
        "DELETE",
        b"/api/v1/pizzas/1",
        {"If-Match": b'"\xff"'},
        True,
        b"",
        412,
        "Pizza was modified",
    ),
    "idempotency-key-latin1": (
        "POST",
        b"/api/v1/pizzas",
        {"Idempotency-Key": b"\xff", "Content-Type": b"application/json"},
        True,
        b'{"name": "x", "price": 1}',
        400,
        "Invalid request body",
    ),
    "request-id-latin1": (
        "GET",
        b"/api/v1/public/pizzas/1",
        {"X-Request-ID": b"\xff\xfe"},
        False,
        b"",
        200,
        None,
    ),
}


@pytest.mark.server
@pytest.mark.parametrize("case", list(RAW_HEADERS))
def test_raw_bytes_in_headers(raw_server, case):
    method, target, headers, with_token, body, status, error = RAW_HEADERS[case]
    if with_token:
        headers = {**headers, "Authorization": raw_server.bearer}
    response = raw_request(raw_server.port, http_request(method, target, headers, body))
    if status == 200:
        assert response.status_code == 200, response.text
        # An invalid X-Request-ID is replaced by a new one, never echoed.
        assert re.fullmatch("[0-9a-f]{32}", response.headers["x-request-id"])
    else:
        assert_error(response, status, error)


# case -> (method, path, headers, status); the pizza routes name header errors
# "Invalid request body", as they have no header-specific text.
HEADER_CASES = {
    "if-match-2000-chars": ("PUT", "/api/v1/pizzas/1", {"If-Match": "x" * 2000}, 400),
    "if-none-match-2000-chars": (
        "GET",
        "/api/v1/public/pizzas/1",
        {"If-None-Match": "x" * 2000},
        400,
    ),
    "idempotency-key-space": ("POST", "/api/v1/pizzas", {"Idempotency-Key": "a b"}, 400),
    "idempotency-key-256-chars": ("POST", "/api/v1/pizzas", {"Idempotency-Key": "k" * 256}, 400),
    "idempotency-key-empty": ("POST", "/api/v1/pizzas", {"Idempotency-Key": ""}, 400),
    "client-idempotency-key-space": ("POST", "/api/v1/clients", {"Idempotency-Key": "a b"}, 400),
    "if-match-garbage": ("PUT", "/api/v1/pizzas/1", {"If-Match": '"unterminated, W/'}, 412),
    "if-none-match-star-list": ("GET", "/api/v1/public/pizzas/1", {"If-None-Match": ", , *"}, 304),
    "request-id-2000-chars": ("GET", "/api/v1/public/pizzas/1", {"X-Request-ID": "r" * 2000}, 200),
}


@pytest.mark.parametrize("case", list(HEADER_CASES))
def test_hostile_header_values(shared_client, case):
    method, path, headers, status = HEADER_CASES[case]
    before = table_counts(shared_client.db)
    body = {"name": "Header"} if method == "PUT" or "clients" in path else {**PIZZA}
    response = shared_client.request(
        method,
        path,
        json=None if method == "GET" else body,
        headers={**shared_client.admin_headers, **headers},
    )
    if status == 200:
        assert response.status_code == 200
        assert len(response.headers["x-request-id"]) == 32
    elif status == 304:
        assert response.status_code == 304
        assert response.content == b""
    elif status == 400:
        body = assert_error(response, status)
        assert next(iter(headers)) in body["message"]
    else:
        assert_error(response, status, "Pizza was modified")
    assert table_counts(shared_client.db) == before


# Requests that HTTP/1.1 parsing rejects (RFC 9112). The server's protocol rejects them
# before the app, in the contract's error shape.
MALFORMED_HTTP = {
    "path-byte-ff": http_request("GET", b"/api/v1/public/pizzas/\xff"),
    "query-bytes-ff-fe": http_request("GET", b"/api/v1/public/pizzas?name=\xff\xfe"),
    "unknown-method": http_request("FOO", b"/api/v1/public/pizzas"),
    "content-length-and-chunked": (
        b"POST /api/v1/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"
    ),
    "negative-content-length": (
        b"POST /api/v1/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"
    ),
    "two-content-lengths": (
        b"POST /api/v1/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"Content-Length: 3\r\n\r\n{}"
    ),
}


@pytest.mark.server
@pytest.mark.parametrize("case", list(MALFORMED_HTTP))
def test_malformed_http_rejected(raw_server, case):
    response = raw_request(raw_server.port, MALFORMED_HTTP[case])
    assert_error(response, 400, "invalid_request")
    assert response.json()["message"] == "Invalid HTTP request received."
    follow_up = raw_request(raw_server.port, http_request("GET", b"/api/v1/public/pizzas/1"))
    assert follow_up.status_code == 200
