"""Hostile numbers: prices out of range or not finite, and ids in every odd spelling."""

import pytest

from tests.conftest import BACKENDS
from tests.hostile.conftest import assert_error, table_counts

# case -> the raw JSON text of `price`; each must be rejected with 400
BAD_PRICES = {
    "negative": "-1",
    "negative-cent": "-0.01",
    "nan": "NaN",
    "infinity": "Infinity",
    "minus-infinity": "-Infinity",
    "beyond-double": "1e400",
    "minus-beyond-double": "-1e400",
    "above-maximum": "1000000.0000001",
    "integer-5000-digits": "9" * 5000,
    "string": '"12.5"',
    "boolean": "true",
    "null": "null",
    "array": "[12.5]",
    "object": '{"amount": 12.5}',
    "hex": "0x10",
    "leading-plus": "+5",
    "leading-zero": "012",
    "trailing-dot": "5.",
    "comma-decimal": '"12,5"',
}


@pytest.mark.parametrize("case", list(BAD_PRICES))
@pytest.mark.parametrize(
    "method, path",
    [("POST", "/api/v1/pizzas"), ("PUT", "/api/v1/pizzas/1")],
    ids=["create", "update"],
)
def test_bad_price_rejected(shared_client, method, path, case):
    client, db, admin_headers = shared_client, shared_client.db, shared_client.admin_headers
    before = table_counts(db)
    pizza_before = client.get("/api/v1/public/pizzas/1").json()
    body = '{"name": "Priced", "price": ' + BAD_PRICES[case] + "}"

    response = client.request(
        method, path, content=body, headers={**admin_headers, "Content-Type": "application/json"}
    )

    assert_error(response, 400, "Invalid request body")
    assert table_counts(db) == before
    assert client.get("/api/v1/public/pizzas/1").json() == pizza_before


# Prices that are valid and must read back as the same double.
EXACT_PRICES = [
    0,
    -0.0,
    0.01,
    0.1 + 0.2,
    12.345678901234567,
    13.5,
    24.99,
    1 / 3,
    999999.9999999999,
    1000000,
    1e-300,
    2.2250738585072014e-308,
    5e-324,
]


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_prices_read_back_exactly(client, admin_headers):
    for price in EXACT_PRICES:
        created = client.post(
            "/api/v1/pizzas", json={"name": "Exact", "price": price}, headers=admin_headers
        )
        assert created.status_code == 201, (price, created.text)
        pizza_id = created.json()["id"]
        assert created.json()["price"] == price
        assert client.get(f"/api/v1/public/pizzas/{pizza_id}").json()["price"] == price

        updated = client.put(
            f"/api/v1/pizzas/{pizza_id}", json={"price": price / 2}, headers=admin_headers
        )
        assert updated.status_code == 200
        assert client.get(f"/api/v1/public/pizzas/{pizza_id}").json()["price"] == price / 2


# Spellings of an id that are not a plain positive decimal int64.
BAD_IDS = {
    "zero": "0",
    "negative": "-1",
    "plus-sign": "+5",
    "leading-zero": "007",
    "leading-space": "%205",
    "trailing-space": "5%20",
    "tab": "5%09",
    "underscore": "1_000",
    "decimal": "5.0",
    "exponent": "1e3",
    "hex": "0x10",
    "int64-max-plus-one": "9223372036854775808",
    "uint64-max": "18446744073709551615",
    "beyond-64-bits": "99999999999999999999999",
    "4300-digits": "9" * 4300,
    "10000-digits": "1" * 10000,
    "arabic-digit": "%D9%A5",
    "fullwidth-digit": "%EF%BC%95",
    "superscript-digit": "%C2%B9",
    "letters": "abc",
    "nul": "5%00",
}


@pytest.mark.parametrize("case", list(BAD_IDS))
@pytest.mark.parametrize(
    "method, prefix",
    [
        ("GET", "/api/v1/public/pizzas/"),
        ("PUT", "/api/v1/pizzas/"),
        ("DELETE", "/api/v1/pizzas/"),
    ],
    ids=["get", "update", "delete"],
)
def test_bad_pizza_id_rejected(shared_client, method, prefix, case):
    client, db, admin_headers = shared_client, shared_client.db, shared_client.admin_headers
    before = table_counts(db)
    response = client.request(
        method,
        prefix + BAD_IDS[case],
        json={"name": "x"} if method == "PUT" else None,
        headers=admin_headers,
    )
    assert_error(response, 400, "Invalid pizza ID format")
    assert table_counts(db) == before


# offset=0 is valid; every other spelling is rejected for each integer parameter.
QUERY_CASES = [
    (parameter, case)
    for parameter in ("created_by", "limit", "offset")
    for case in BAD_IDS
    if (parameter, case) != ("offset", "zero")
]


@pytest.mark.parametrize("parameter, case", QUERY_CASES)
def test_bad_integer_query_rejected(shared_client, parameter, case):
    response = shared_client.get(f"/api/v1/public/pizzas?{parameter}={BAD_IDS[case]}")
    assert_error(response, 400, "Invalid query parameter")


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_largest_ids_reach_database(client, admin_headers):
    largest = "9223372036854775807"
    assert_error(client.get(f"/api/v1/public/pizzas/{largest}"), 404, "Pizza not found")
    assert_error(
        client.put(f"/api/v1/pizzas/{largest}", json={"name": "x"}, headers=admin_headers),
        404,
        "Pizza not found",
    )
    assert_error(
        client.delete(f"/api/v1/pizzas/{largest}", headers=admin_headers), 404, "Pizza not found"
    )
    listed = client.get(f"/api/v1/public/pizzas?created_by={largest}&offset=1000000000")
    assert listed.status_code == 200
    assert listed.json() == []
