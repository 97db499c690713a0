import base64
import time
from urllib.parse import quote

import jwt
import pytest
from sqlalchemy import select

from pizza_api.models import OAuthClient
from tests.conftest import BACKENDS, TEST_JWT_SECRET

TOKEN_URL = "/api/v1/oauth/token"
DEV = {
    "grant_type": "client_credentials",
    "client_id": "dev-client",
    "client_secret": "dev-secret-123",
}


def basic(client_id: str, secret: str) -> dict:
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def decode(token: str) -> dict:
    return jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS512"], options={"verify_aud": False})


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_issue_token_with_form_fields(client, settings):
    before = int(time.time())
    response = client.post(TOKEN_URL, data=DEV)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert list(body) == ["access_token", "expires_in", "scope", "token_type"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "read write"

    header = jwt.get_unverified_header(body["access_token"])
    assert header == {"alg": "HS512", "typ": "JWT"}
    claims = decode(body["access_token"])
    assert claims["uid"] == "1"
    assert claims["role"] == "admin"
    assert claims["aud"] == "dev-client"
    assert claims["scope"] == "read write"
    assert claims["iss"] == "pizza-api"
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 3600


def test_issue_token_user_client_has_user_role(client):
    response = client.post(
        TOKEN_URL, data={**DEV, "client_id": "user-client", "client_secret": "user-secret-123"}
    )
    claims = decode(response.json()["access_token"])
    assert claims["uid"] == "2"
    assert claims["role"] == "user"


def test_issue_token_with_basic_auth(client):
    response = client.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials"},
        headers=basic("dev-client", "dev-secret-123"),
    )
    assert response.status_code == 200
    assert decode(response.json()["access_token"])["aud"] == "dev-client"


def test_issue_token_basic_auth_is_form_urlencoded(client, db, settings):
    from pizza_api import clients, security

    secret = "s3cret:with spaces+plus%"
    with db.session() as session:
        clients.create_client(
            session,
            owner_id=1,
            name="odd",
            client_id="odd:client id",
            secret_hash=security.hash_secret(secret, 4),
        )
    ok = client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, headers=basic("odd:client id", secret)
    )
    assert ok.status_code == 200, ok.text


def test_issue_token_jwt_expiration_setting(settings, db):
    from starlette.testclient import TestClient

    from pizza_api.app import create_app
    from tests.conftest import make_settings

    short = make_settings(settings.database_url, jwt_expiration=120)
    with TestClient(create_app(short, db=db)) as client:
        body = client.post(TOKEN_URL, data=DEV).json()
    assert body["expires_in"] == 120
    claims = decode(body["access_token"])
    assert claims["exp"] - claims["iat"] == 120


@pytest.mark.parametrize(
    "form, headers",
    [
        ({**DEV, "client_secret": "wrong"}, {}),
        ({**DEV, "client_id": "no-such-client"}, {}),
        ({"grant_type": "client_credentials", "client_id": "dev-client"}, {}),
        (
            {
                "grant_type": "client_credentials",
                "client_id": "dev-client",
                "client_secret": "x" * 100,
            },
            {},
        ),
        ({"grant_type": "client_credentials"}, basic("dev-client", "wrong")),
        ({"grant_type": "client_credentials"}, basic("no-such-client", "dev-secret-123")),
        ({"grant_type": "client_credentials"}, {}),
    ],
    ids=[
        "wrong-secret",
        "unknown-client",
        "no-secret",
        "long-secret",
        "basic-wrong",
        "basic-unknown",
        "no-credentials",
    ],
)
def test_issue_token_bad_credentials_return_401(client, form, headers):
    response = client.post(TOKEN_URL, data=form, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["cache-control"] == "no-store"
    if headers:
        assert response.headers["www-authenticate"] == 'Basic realm="pizza-api"'


def test_issue_token_unknown_and_wrong_answer_alike(client):
    unknown = client.post(TOKEN_URL, data={**DEV, "client_id": "nobody"}).json()
    wrong = client.post(TOKEN_URL, data={**DEV, "client_secret": "nope"}).json()
    unknown.pop("request_id")
    wrong.pop("request_id")
    assert unknown == wrong


@pytest.mark.parametrize(
    "form, headers, error",
    [
        ({k: v for k, v in DEV.items() if k != "grant_type"}, {}, "invalid_request"),
        ({**DEV, "grant_type": "password"}, {}, "unsupported_grant_type"),
        ({**DEV, "grant_type": "authorization_code"}, {}, "unsupported_grant_type"),
        ({**DEV, "scope": "read admin"}, {}, "invalid_scope"),
        (DEV, basic("dev-client", "dev-secret-123"), "invalid_request"),
        ({"grant_type": "client_credentials"}, {"Authorization": "Basic !!!"}, "invalid_request"),
        (
            {"grant_type": "client_credentials"},
            {"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()},
            "invalid_request",
        ),
        ({**DEV, "client_id": "dev\u0000client"}, {}, "invalid_request"),
    ],
    ids=["no-grant", "password", "code", "scope", "both-methods", "bad-base64", "no-colon", "nul"],
)
def test_issue_token_bad_request_returns_400(client, form, headers, error):
    response = client.post(TOKEN_URL, data=form, headers=headers)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert "error_description" in response.json()
    assert response.headers["cache-control"] == "no-store"


def test_issue_token_json_body_returns_400(client):
    response = client.post(TOKEN_URL, json=DEV)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_issue_token_scope_narrows(client):
    body = client.post(TOKEN_URL, data={**DEV, "scope": "read"}).json()
    assert body["scope"] == "read"
    assert decode(body["access_token"])["scope"] == "read"


def test_issue_token_grant_types_enforced(client, db):
    with db.session() as session:
        session.get(OAuthClient, "dev-client").grant_types = "authorization_code"
    response = client.post(TOKEN_URL, data=DEV)
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_issue_token_deleted_client_returns_401(client, db):
    from pizza_api.models import utcnow

    with db.session() as session:
        session.get(OAuthClient, "user-client").deleted_at = utcnow()
    response = client.post(
        TOKEN_URL, data={**DEV, "client_id": "user-client", "client_secret": "user-secret-123"}
    )
    assert response.status_code == 401


def test_client_secrets_stored_as_bcrypt(db):
    with db.session(read_only=True) as session:
        hashes = list(session.scalars(select(OAuthClient.secret_hash)))
    assert hashes
    assert all(h.startswith("$2b$") for h in hashes)
    assert not any("secret-123" in h for h in hashes)


def test_go_bcrypt_hash_accepted(client, db):
    import bcrypt

    go_style = bcrypt.hashpw(b"go-secret", bcrypt.gensalt(4, prefix=b"2a")).decode()
    with db.session() as session:
        session.get(OAuthClient, "dev-client").secret_hash = go_style
    response = client.post(TOKEN_URL, data={**DEV, "client_secret": "go-secret"})
    assert response.status_code == 200


def test_issue_token_get_returns_405(client):
    response = client.get(TOKEN_URL)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
