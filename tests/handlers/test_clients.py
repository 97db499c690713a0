import pytest
from sqlalchemy import select

from pizza_api.models import OAuthClient
from tests.conftest import BACKENDS, fetch_token


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_client_lifecycle(client, admin_headers, db):
    created = client.post(
        "/api/v1/clients",
        json={"name": "Terraform", "domain": "https://tf.example", "scopes": "read"},
        headers=admin_headers,
    )
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    assert list(body) == [
        "client_id",
        "client_secret",
        "grant_types",
        "name",
        "redirect_uri",
        "scopes",
    ]
    assert body["scopes"] == "read"
    assert body["grant_types"] == "client_credentials"
    assert len(body["client_secret"]) >= 40

    with db.session(read_only=True) as session:
        stored = session.get(OAuthClient, body["client_id"])
    assert stored.secret_hash.startswith("$2b$")
    assert body["client_secret"] not in stored.secret_hash

    listed = client.get("/api/v1/clients", headers=admin_headers)
    assert listed.status_code == 200
    ids = [c["client_id"] for c in listed.json()]
    assert ids == ["dev-client", body["client_id"]]
    assert all("secret" not in key for c in listed.json() for key in c)
    assert "client_secret" not in listed.text
    assert "$2b$" not in listed.text

    token = fetch_token(client, body["client_id"], body["client_secret"])
    assert token

    deleted = client.delete(f"/api/v1/clients/{body['client_id']}", headers=admin_headers)
    assert deleted.status_code == 204
    assert (
        client.delete(f"/api/v1/clients/{body['client_id']}", headers=admin_headers).status_code
        == 404
    )
    assert body["client_id"] not in [
        c["client_id"] for c in client.get("/api/v1/clients", headers=admin_headers).json()
    ]
    with db.session(read_only=True) as session:
        assert session.get(OAuthClient, body["client_id"]).deleted_at is not None


def test_create_client_defaults(client, admin_headers):
    body = client.post("/api/v1/clients", json={"name": "Plain"}, headers=admin_headers).json()
    assert body["scopes"] == "read write"
    assert body["redirect_uri"] == ""


@pytest.mark.parametrize(
    "payload, fragment",
    [
        ({}, "'name' is a required property"),
        ({"name": ""}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "x", "scopes": "read  write"}, "scopes"),
        ({"name": "x", "grant_types": "password"}, "grant_types"),
        ({"name": "x", "secret": "mine"}, "'secret' was unexpected"),
        ({"name": 5}, "name"),
    ],
)
def test_create_client_invalid_body_returns_400(client, admin_headers, payload, fragment):
    response = client.post("/api/v1/clients", json=payload, headers=admin_headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert fragment in response.json()["message"]


def test_create_client_without_token_returns_401(client):
    response = client.post("/api/v1/clients", json={"name": "x"})
    assert response.status_code == 401
    assert response.json()["error"] == "authorization_required"


def test_delete_client_of_other_admin_returns_404(client, admin_headers, db):
    from pizza_api import clients, security
    from pizza_api.seed import get_or_create_user

    with db.session() as session:
        other = get_or_create_user(session, "other@pizza.com", "Other", "admin")
        clients.create_client(
            session,
            owner_id=other.id,
            name="theirs",
            client_id="theirs",
            secret_hash=security.hash_secret("x" * 10, 4),
        )
    response = client.delete("/api/v1/clients/theirs", headers=admin_headers)
    assert response.status_code == 404
    assert response.json()["error"] == "client_not_found"
    assert "theirs" not in [
        c["client_id"] for c in client.get("/api/v1/clients", headers=admin_headers).json()
    ]
    with db.session(read_only=True) as session:
        assert (
            session.scalars(select(OAuthClient).where(OAuthClient.id == "theirs")).one().deleted_at
            is None
        )


def test_delete_client_unknown_returns_404(client, admin_headers):
    response = client.delete("/api/v1/clients/does-not-exist", headers=admin_headers)
    assert response.status_code == 404


def test_delete_client_nul_id_returns_400(client, admin_headers):
    response = client.delete("/api/v1/clients/a%00b", headers=admin_headers)
    assert response.status_code == 400
