"""Rate limits: per client on the API, per address and per failing client on tokens."""

import os
import uuid

import httpx
import pytest
import redis
from starlette.testclient import TestClient

from pizza_api.app import create_app
from pizza_api.ratelimit import RateLimiter
from tests.conftest import fetch_token, make_settings

REDIS_URL = os.environ.get("PIZZA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TOKEN = "/api/v1/oauth/token"
DEV = {
    "grant_type": "client_credentials",
    "client_id": "dev-client",
    "client_secret": "dev-secret-123",
}


def limited(settings, db, **limits):
    return TestClient(create_app(make_settings(settings.database_url, **limits), db=db))


def test_api_limit_per_client(settings, db):
    with limited(settings, db, rate_limit_api_per_client="3/minute") as client:
        admin = {"Authorization": "Bearer " + fetch_token(client, "dev-client", "dev-secret-123")}
        user = {"Authorization": "Bearer " + fetch_token(client, "user-client", "user-secret-123")}
        statuses = [client.get("/api/v1/clients", headers=admin).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        limited_reply = client.get("/api/v1/clients", headers=admin)
        assert limited_reply.json()["error"] == "rate_limit_exceeded"
        assert 1 <= int(limited_reply.headers["retry-after"]) <= 60
        assert (
            client.post("/api/v1/pizzas", json={"name": "x", "price": 1}, headers=user).status_code
            == 201
        )
        assert client.get("/api/v1/public/pizzas").status_code == 200


def test_token_failures_per_client(settings, db):
    with limited(settings, db, rate_limit_token_per_client="3/minute") as client:
        wrong = {**DEV, "client_secret": "guess"}
        assert [client.post(TOKEN, data=wrong).status_code for _ in range(4)] == [
            401,
            401,
            401,
            429,
        ]
        locked = client.post(TOKEN, data=DEV)
        assert locked.status_code == 429
        assert locked.json()["error"] == "rate_limit_exceeded"
        assert locked.headers["cache-control"] == "no-store"
        other = client.post(
            TOKEN, data={**DEV, "client_id": "user-client", "client_secret": "user-secret-123"}
        )
        assert other.status_code == 200


def test_token_successes_do_not_lock_client(settings, db):
    with limited(settings, db, rate_limit_token_per_client="2/minute") as client:
        assert [client.post(TOKEN, data=DEV).status_code for _ in range(5)] == [200] * 5


def test_token_limit_per_address(settings, db):
    with limited(settings, db, rate_limit_token_per_address="4/minute") as client:
        statuses = [
            client.post(TOKEN, data={**DEV, "client_id": f"guess-{n}"}).status_code
            for n in range(6)
        ]
        assert statuses == [401, 401, 401, 401, 429, 429]


def test_rate_limits_can_be_disabled(settings, db):
    with limited(
        settings, db, rate_limit_enabled=False, rate_limit_api_per_client="1/minute"
    ) as client:
        admin = {"Authorization": "Bearer " + fetch_token(client, "dev-client", "dev-secret-123")}
        assert {client.get("/api/v1/clients", headers=admin).status_code for _ in range(5)} == {200}


def test_unreachable_redis_lets_requests_through():
    limiter = RateLimiter(
        make_settings(
            "sqlite://x",
            rate_limit_storage="redis://127.0.0.1:1/0",
            rate_limit_api_per_client="1/minute",
        )
    )
    assert limiter.retry_after("api_client", "c") is None
    assert limiter.retry_after("api_client", "c") is None


@pytest.fixture
def redis_prefix():
    connection = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        connection.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis tests need a server at {REDIS_URL}: {exc}")
    prefix = f"pizza-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    keys = list(connection.scan_iter(f"{prefix}*"))
    if keys:
        connection.delete(*keys)


@pytest.mark.server
def test_limits_shared_across_servers_through_redis(start_server, redis_prefix, tmp_path):
    env = {
        "DATABASE_URL": f"sqlite://{tmp_path}/shared.sqlite",
        "RATE_LIMIT_STORAGE": REDIS_URL,
        "RATE_LIMIT_KEY_PREFIX": redis_prefix,
        "RATE_LIMIT_API_PER_CLIENT": "10/minute",
        "RATE_LIMIT_TOKEN_PER_ADDRESS": "8/minute",
    }
    first = start_server(env=env)
    second = start_server(env=env)
    bases = [first.base_url, second.base_url]

    token = httpx.post(bases[0] + TOKEN, data=DEV).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    statuses = [
        httpx.get(bases[n % 2] + "/api/v1/clients", headers=headers).status_code for n in range(14)
    ]
    assert statuses.count(200) == 10
    assert statuses[10:] == [429] * 4

    token_statuses = [httpx.post(bases[n % 2] + TOKEN, data=DEV).status_code for n in range(9)]
    # One token request was already made above; 8 per address are allowed in all.
    assert token_statuses.count(200) == 7
    assert token_statuses[7:] == [429, 429]
