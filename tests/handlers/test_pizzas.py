import pytest

from tests.conftest import BACKENDS

PIZZA = {
    "name": "Quattro Formaggi",
    "description": "Four cheeses",
    "ingredients": ["Mozzarella", "Gorgonzola", "Parmesan", "Fontina"],
    "price": 13.5,
}


def create(client, headers, **overrides):
    response = client.post("/api/v1/pizzas", json={**PIZZA, **overrides}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_pizza_lifecycle(client, admin_headers):
    listed = client.get("/api/v1/public/pizzas")
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json()] == ["Margherita", "Pepperoni", "Vegetarian"]

    created = create(client, admin_headers)
    assert list(created) == [
        "id",
        "name",
        "description",
        "ingredients",
        "price",
        "created_by",
        "created_at",
        "updated_at",
    ]
    assert created["id"] == 4
    assert created["created_by"] == 1
    assert created["created_at"].endswith("Z")

    fetched = client.get(f"/api/v1/public/pizzas/{created['id']}")
    assert fetched.json() == created

    updated = client.put(
        f"/api/v1/pizzas/{created['id']}",
        json={"name": "Updated", "price": 24.99},
        headers=admin_headers,
    )
    assert updated.status_code == 200
    body = updated.json()
    assert body["name"] == "Updated"
    assert body["price"] == 24.99
    assert body["description"] == PIZZA["description"]
    assert body["ingredients"] == PIZZA["ingredients"]
    assert body["created_at"] == created["created_at"]
    assert body["updated_at"] >= created["updated_at"]

    deleted = client.delete(f"/api/v1/pizzas/{created['id']}", headers=admin_headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert client.get(f"/api/v1/public/pizzas/{created['id']}").status_code == 404
    assert (
        client.delete(f"/api/v1/pizzas/{created['id']}", headers=admin_headers).status_code == 404
    )
    again = client.put(f"/api/v1/pizzas/{created['id']}", json={"price": 1}, headers=admin_headers)
    assert again.status_code == 404
    assert created["id"] not in [p["id"] for p in client.get("/api/v1/public/pizzas").json()]

    next_pizza = create(client, admin_headers)
    assert next_pizza["id"] == 5


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_ownership_rules(client, admin_headers, user_headers):
    own = create(client, user_headers, name="Mine")
    assert own["created_by"] == 2

    assert (
        client.put(
            f"/api/v1/pizzas/{own['id']}", json={"price": 17.99}, headers=user_headers
        ).status_code
        == 200
    )

    foreign = client.put("/api/v1/pizzas/1", json={"price": 1}, headers=user_headers)
    assert foreign.status_code == 403
    assert foreign.json()["error"] == "You can only update your own pizzas"
    assert foreign.json()["pizza_owner"] == 1
    assert foreign.json()["your_id"] == 2

    foreign_delete = client.delete("/api/v1/pizzas/1", headers=user_headers)
    assert foreign_delete.status_code == 403
    assert foreign_delete.json()["error"] == "You can only delete your own pizzas"
    assert client.get("/api/v1/public/pizzas/1").json()["price"] == 10.99

    admin_edit = client.put(
        f"/api/v1/pizzas/{own['id']}", json={"name": "Admin edit"}, headers=admin_headers
    )
    assert admin_edit.status_code == 200
    assert admin_edit.json()["created_by"] == 2
    assert client.delete(f"/api/v1/pizzas/{own['id']}", headers=user_headers).status_code == 204


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_list_filters(client, admin_headers, user_headers):
    create(client, user_headers, name="100%_Vegan")
    create(client, admin_headers, name="Marinara")

    def names(**query):
        response = client.get("/api/v1/public/pizzas", params=query)
        return [pizza["name"] for pizza in response.json()]

    assert names(name="mar") == ["Margherita", "Marinara"]
    assert names(name="MARG") == ["Margherita"]
    assert names(name="%_") == ["100%_Vegan"]
    assert names(name="_") == ["100%_Vegan"]
    assert names(created_by=2) == ["100%_Vegan"]
    assert names(created_by=1, name="pep") == ["Pepperoni"]
    assert names(created_by=99) == []
    assert names(limit=2) == ["Margherita", "Pepperoni"]
    assert names(limit=2, offset=2) == ["Vegetarian", "100%_Vegan"]


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_server_owned_fields_ignored(client, admin_headers):
    created = create(
        client,
        admin_headers,
        id=999,
        created_by=2,
        created_at="2000-01-01T00:00:00Z",
        updated_at="2000-01-01T00:00:00Z",
    )
    assert created["id"] != 999
    assert created["created_by"] == 1
    assert not created["created_at"].startswith("2000")

    updated = client.put(
        f"/api/v1/pizzas/{created['id']}",
        json={"id": 1, "created_by": 2, "created_at": "0001-01-01T00:00:00Z", "price": 2.5},
        headers=admin_headers,
    ).json()
    assert updated["id"] == created["id"]
    assert updated["created_by"] == 1
    assert updated["created_at"] == created["created_at"]


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_values_stored_verbatim(client, admin_headers):
    name = "Robert'); DROP TABLE pizzas;-- <b>&amp;</b> \u202eabc e\u0301"
    created = create(client, admin_headers, name=name, price=0.1 + 0.2, ingredients=["<script>"])
    fetched = client.get(f"/api/v1/public/pizzas/{created['id']}").json()
    assert fetched["name"] == name
    assert fetched["price"] == 0.1 + 0.2
    assert fetched["ingredients"] == ["<script>"]
    assert len(client.get("/api/v1/public/pizzas").json()) == 4


def test_json_is_compact_and_go_escaped(client, admin_headers):
    created = create(client, admin_headers, name="A <b> & c", price=10.0)
    raw = client.get(f"/api/v1/public/pizzas/{created['id']}").text
    assert raw.startswith('{"id":4,"name":"A \\u003cb\\u003e \\u0026 c",')
    assert '"price":10,' in raw
    assert ": " not in raw
    assert (
        client.get("/api/v1/public/pizzas").headers["content-type"]
        == "application/json; charset=utf-8"
    )


@pytest.mark.parametrize(
    "path",
    ["abc", "+5", "-1", "0", "007", "1_0", "1%20", "99999999999999999999", "9" * 5000, "%00"],
)
def test_get_pizza_invalid_id_returns_400(client, path):
    response = client.get(f"/api/v1/public/pizzas/{path}")
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid pizza ID format"


def test_get_pizza_unknown_id_returns_404(client):
    response = client.get("/api/v1/public/pizzas/9223372036854775807")
    assert response.status_code == 404
    assert response.json()["error"] == "Pizza not found"


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({}, "'name' is a required property"),
        ({"name": "x"}, "'price' is a required property"),
        ({"name": "", "price": 1}, "name"),
        ({"name": "   ", "price": 1}, "name"),
        ({"name": "x" * 101, "price": 1}, "name"),
        ({"name": "x", "price": -0.01}, "price"),
        ({"name": "x", "price": 1e7}, "price"),
        ({"name": "x", "price": "12"}, "price"),
        ({"name": "x", "price": 1, "ingredients": "cheese"}, "ingredients"),
        ({"name": "x", "price": 1, "ingredients": [""]}, "ingredients.0"),
        ({"name": "x", "price": 1, "ingredients": ["a"] * 51}, "ingredients"),
        ({"name": "x", "price": 1, "prize": 2}, "'prize' was unexpected"),
        ({"name": "x\u0000y", "price": 1}, "NUL"),
        (["name"], "is not of type 'object'"),
    ],
)
def test_create_pizza_invalid_body_returns_400(client, admin_headers, body, fragment):
    response = client.post("/api/v1/pizzas", json=body, headers=admin_headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "Invalid request body"
    assert fragment in response.json()["message"]


@pytest.mark.parametrize(
    "raw, fragment",
    [
        (b"", "required"),
        (b"{", "not valid JSON"),
        (b'{"name":"x","price":NaN}', "NaN"),
        (b'{"name":"x","price":Infinity}', "Infinity"),
        (b'{"name":"x","price":1e400}', "price"),
        (b'{"name":"\xff","price":1}', "UTF-8"),
        (b'{"name":"x","price":1,"id":' + b"[" * 40 + b"]" * 40 + b"}", "nesting"),
        (b'{"name":"x","price":1,"id":' + b"[" * 100000 + b"]" * 100000 + b"}", "exceeds"),
    ],
)
def test_create_pizza_malformed_body_returns_400(client, admin_headers, raw, fragment):
    headers = {**admin_headers, "Content-Type": "application/json"}
    response = client.post("/api/v1/pizzas", content=raw, headers=headers)
    assert response.status_code in (400, 413), response.text
    assert fragment in response.json()["message"]


def test_create_pizza_wrong_content_type_returns_415(client, admin_headers):
    response = client.post(
        "/api/v1/pizzas",
        content=b'{"name":"x","price":1}',
        headers={**admin_headers, "Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_create_pizza_without_content_type_is_json(client, admin_headers):
    response = client.post(
        "/api/v1/pizzas", content=b'{"name":"x","price":1}', headers=admin_headers
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "method, path",
    [("POST", "/api/v1/pizzas"), ("PUT", "/api/v1/pizzas/1"), ("DELETE", "/api/v1/pizzas/1")],
)
def test_pizza_writes_without_token_return_401(client, method, path):
    response = client.request(method, path, json={"name": "x", "price": 1})
    assert response.status_code == 401
    assert response.json()["error"] == "authorization_required"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_update_pizza_invalid_body_returns_400(client, admin_headers):
    response = client.put("/api/v1/pizzas/1", json={"price": -1}, headers=admin_headers)
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid request body"


def test_delete_pizza_invalid_id_returns_400(client, admin_headers):
    response = client.delete("/api/v1/pizzas/x1", headers=admin_headers)
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid pizza ID format"


def test_list_pizzas_invalid_query_returns_400(client):
    for query in (
        {"created_by": "abc"},
        {"limit": "0"},
        {"limit": "1001"},
        {"offset": "-1"},
        {"name": ""},
    ):
        response = client.get("/api/v1/public/pizzas", params=query)
        assert response.status_code == 400, query
        assert response.json()["error"] == "Invalid query parameter"
