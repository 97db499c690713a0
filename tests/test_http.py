"""Conditional requests, idempotent creates, compression and CORS."""

import gzip

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from pizza_api.app import create_app
from pizza_api.models import IdempotencyKey, Pizza
from tests.conftest import BACKENDS, make_settings


def test_get_pizza_etag_and_304(client):
    first = client.get("/api/v1/public/pizzas/1")
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, no-cache"

    again = client.get("/api/v1/public/pizzas/1", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag

    assert (
        client.get("/api/v1/public/pizzas/1", headers={"If-None-Match": f"W/{etag}"}).status_code
        == 304
    )
    assert (
        client.get("/api/v1/public/pizzas/1", headers={"If-None-Match": '"x", ' + etag}).status_code
        == 304
    )
    assert client.get("/api/v1/public/pizzas/1", headers={"If-None-Match": "*"}).status_code == 304
    assert (
        client.get("/api/v1/public/pizzas/1", headers={"If-None-Match": '"other"'}).status_code
        == 200
    )


def test_list_etag_changes_with_content(client, admin_headers):
    etag = client.get("/api/v1/public/pizzas").headers["etag"]
    assert client.get("/api/v1/public/pizzas", headers={"If-None-Match": etag}).status_code == 304
    client.put("/api/v1/pizzas/2", json={"price": 13.99}, headers=admin_headers)
    changed = client.get("/api/v1/public/pizzas", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


def test_public_cache_max_age(settings, db):
    configured = make_settings(settings.database_url, public_cache_max_age=30)
    with TestClient(create_app(configured, db=db)) as client:
        assert client.get("/api/v1/public/pizzas").headers["cache-control"] == "public, max-age=30"


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_if_match_prevents_lost_update(client, admin_headers, user_headers):
    etag = client.get("/api/v1/public/pizzas/1").headers["etag"]

    first = client.put(
        "/api/v1/pizzas/1", json={"price": 11.5}, headers={**admin_headers, "If-Match": etag}
    )
    assert first.status_code == 200
    assert first.headers["etag"] != etag
    assert first.headers["etag"] == client.get("/api/v1/public/pizzas/1").headers["etag"]

    stale = client.put(
        "/api/v1/pizzas/1", json={"price": 99}, headers={**admin_headers, "If-Match": etag}
    )
    assert stale.status_code == 412
    assert stale.json()["error"] == "Pizza was modified"
    assert stale.json()["etag"] == first.headers["etag"]
    assert client.get("/api/v1/public/pizzas/1").json()["price"] == 11.5

    weak = client.put(
        "/api/v1/pizzas/1",
        json={"price": 1},
        headers={**admin_headers, "If-Match": "W/" + first.headers["etag"]},
    )
    assert weak.status_code == 412

    anything = client.put(
        "/api/v1/pizzas/1", json={"price": 12}, headers={**admin_headers, "If-Match": "*"}
    )
    assert anything.status_code == 200


def test_if_match_on_delete(client, admin_headers):
    etag = client.get("/api/v1/public/pizzas/3").headers["etag"]
    stale = client.delete("/api/v1/pizzas/3", headers={**admin_headers, "If-Match": '"stale"'})
    assert stale.status_code == 412
    assert client.get("/api/v1/public/pizzas/3").status_code == 200
    assert (
        client.delete("/api/v1/pizzas/3", headers={**admin_headers, "If-Match": etag}).status_code
        == 204
    )


def test_if_match_checked_after_ownership(client, user_headers):
    response = client.put(
        "/api/v1/pizzas/1", json={"price": 1}, headers={**user_headers, "If-Match": '"x"'}
    )
    assert response.status_code == 403


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_idempotent_pizza_create(client, admin_headers, user_headers, db):
    headers = {**admin_headers, "Idempotency-Key": "order-42"}
    body = {"name": "Retry", "price": 9.5}

    first = client.post("/api/v1/pizzas", json=body, headers=headers)
    retry = client.post("/api/v1/pizzas", json=body, headers=headers)

    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    assert retry.headers["etag"] == first.headers["etag"]
    with db.session(read_only=True) as session:
        assert len(list(session.scalars(select(Pizza).where(Pizza.name == "Retry")))) == 1

    other_body = client.post("/api/v1/pizzas", json={**body, "price": 10}, headers=headers)
    assert other_body.status_code == 422
    assert other_body.json()["error"] == "Idempotency key was used for another request"

    other_client = client.post(
        "/api/v1/pizzas", json=body, headers={**user_headers, "Idempotency-Key": "order-42"}
    )
    assert other_client.status_code == 201
    assert other_client.json()["id"] != first.json()["id"]


def test_idempotency_key_expires(settings, db, admin_headers):
    short = make_settings(settings.database_url, idempotency_ttl=60)
    with TestClient(create_app(short, db=db)) as client:
        headers = {**admin_headers, "Idempotency-Key": "k"}
        first = client.post(
            "/api/v1/pizzas", json={"name": "x", "price": 1}, headers=headers
        ).json()
        with db.session() as session:
            row = session.get(IdempotencyKey, ("dev-client", "k"))
            row.created_at = row.created_at.replace(year=2000)
        second = client.post("/api/v1/pizzas", json={"name": "x", "price": 1}, headers=headers)
    assert second.status_code == 201
    assert "idempotent-replayed" not in second.headers
    assert second.json()["id"] != first["id"]


def test_idempotent_client_create_replays_secret(client, admin_headers, db):
    headers = {**admin_headers, "Idempotency-Key": "tf-run-1"}
    first = client.post("/api/v1/clients", json={"name": "tf"}, headers=headers)
    retry = client.post("/api/v1/clients", json={"name": "tf"}, headers=headers)

    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    secret = first.json()["client_secret"]
    with db.session(read_only=True) as session:
        stored = session.get(IdempotencyKey, ("dev-client", "tf-run-1")).response_body
    assert secret not in stored
    assert "sealed:" in stored
    listed = client.get("/api/v1/clients", headers=admin_headers).json()
    assert [c["name"] for c in listed].count("tf") == 1
    token = client.post(
        "/api/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": first.json()["client_id"],
            "client_secret": secret,
        },
    )
    assert token.status_code == 200


def test_idempotency_key_invalid_returns_400(client, admin_headers):
    for key in ("", "has space", "x" * 256):
        response = client.post(
            "/api/v1/pizzas",
            json={"name": "x", "price": 1},
            headers={**admin_headers, "Idempotency-Key": key},
        )
        assert response.status_code == 400, key


def test_large_responses_gzip(client, admin_headers):
    for number in range(30):
        client.post(
            "/api/v1/pizzas",
            json={"name": f"Pizza {number}", "price": number},
            headers=admin_headers,
        )
    response = client.get("/api/v1/public/pizzas", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    assert len(response.json()) == 33
    small = client.get("/health/live", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers
    raw = client.get("/api/v1/public/pizzas", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert gzip.compress(raw.content)


@pytest.fixture
def cors_client(settings, db):
    configured = make_settings(settings.database_url, cors_allowed_origins=("https://app.example",))
    with TestClient(create_app(configured, db=db)) as client:
        yield client


def test_cors_preflight(cors_client):
    response = cors_client.options(
        "/api/v1/pizzas",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "idempotency-key" in response.headers["access-control-allow-headers"].lower()


def test_cors_rejected_preflight_is_json(cors_client):
    response = cors_client.options(
        "/api/v1/pizzas",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json()["error"] == "cors_rejected"
    assert "origin" in response.json()["message"]


def test_cors_on_success_and_errors(cors_client):
    ok = cors_client.get("/api/v1/public/pizzas", headers={"Origin": "https://app.example"})
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    assert "etag" in ok.headers["access-control-expose-headers"].lower()

    for response in (
        cors_client.post("/api/v1/pizzas", json={}, headers={"Origin": "https://app.example"}),
        cors_client.get("/api/v1/public/pizzas/0", headers={"Origin": "https://app.example"}),
        cors_client.get("/nowhere", headers={"Origin": "https://app.example"}),
    ):
        assert response.status_code >= 400
        assert response.headers["access-control-allow-origin"] == "https://app.example"


def test_cors_other_origin_gets_no_grant(cors_client, client):
    response = cors_client.get("/api/v1/public/pizzas", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    default = client.get("/api/v1/public/pizzas", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in default.headers


def test_cors_wildcard_with_credentials_rejected():
    from pizza_api.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="CORS_ALLOW_CREDENTIALS"):
        Settings.from_env({"CORS_ALLOWED_ORIGINS": "*", "CORS_ALLOW_CREDENTIALS": "true"})
    with pytest.raises(SettingsError, match="invalid"):
        Settings.from_env({"CORS_ALLOWED_ORIGINS": "app.example"})
