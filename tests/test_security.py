import base64
import json
import time

import jwt
import pytest

from pizza_api.models import OAuthClient, User, utcnow
from tests.conftest import TEST_JWT_SECRET
from tests.conftest import token_claims as claims

PROTECTED = "/api/v1/clients"


def sign(payload: dict, key: str = TEST_JWT_SECRET, algorithm: str = "HS512") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def call(client, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    return client.get(PROTECTED, headers=headers)


def test_valid_token_accepted(client):
    assert call(client, "Bearer " + sign(claims())).status_code == 200


def test_bearer_scheme_case_insensitive(client):
    token = sign(claims())
    assert call(client, "bearer " + token).status_code == 200
    assert call(client, "BEARER " + token).status_code == 200


@pytest.mark.parametrize(
    "authorization, error",
    [
        (None, "authorization_required"),
        ("", "authorization_required"),
        ("Token abc", "invalid_request"),
        ("Basic ZGV2OnNlY3JldA==", "invalid_request"),
        ("Bearer", "invalid_token"),
        ("Bearer ", "invalid_token"),
        ("Bearer a b", "invalid_token"),
        ("Bearer not.a.jwt", "invalid_token"),
        ("Bearer " + "a" * 5000, "invalid_token"),
    ],
)
def test_malformed_authorization_returns_401(client, authorization, error):
    response = call(client, authorization)
    assert response.status_code == 401
    assert response.json()["error"] == error
    assert response.headers["www-authenticate"].startswith('Bearer realm="pizza-api"')


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(sign(claims(), algorithm="HS256"), id="hs256"),
        pytest.param(sign(claims(), algorithm="HS384"), id="hs384"),
        pytest.param(sign(claims(), key="another-key-" + "k" * 64), id="wrong-key"),
        pytest.param(b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims()) + ".", id="alg-none"),
        pytest.param(
            b64({"alg": "HS512", "typ": "JWT"}) + "." + b64(claims()) + ".", id="unsigned"
        ),
        pytest.param(
            sign(claims()).split(".")[0]
            + "."
            + b64(claims(role="admin", uid="2"))
            + "."
            + sign(claims()).split(".")[2],
            id="edited-payload",
        ),
        pytest.param(sign(claims(exp=None)), id="no-exp"),
        pytest.param(sign(claims(exp="9999999999")), id="string-exp"),
        pytest.param(sign(claims(iat=None)), id="no-iat"),
        pytest.param(sign(claims(iat=int(time.time()) + 3600)), id="future-iat"),
        pytest.param(sign(claims(iss="someone-else")), id="wrong-iss"),
        pytest.param(sign(claims(uid=None)), id="no-uid"),
        pytest.param(sign(claims(uid=1)), id="numeric-uid"),
        pytest.param(sign(claims(uid="0")), id="zero-uid"),
        pytest.param(sign(claims(uid="abc")), id="text-uid"),
        pytest.param(sign(claims(uid="1" * 30)), id="huge-uid"),
        pytest.param(sign(claims(role="root")), id="bad-role"),
        pytest.param(sign(claims(aud=None)), id="no-aud"),
        pytest.param(sign(claims(aud="no-such-client")), id="unknown-client"),
        pytest.param(sign(claims(aud="dev\u0000client")), id="nul-aud"),
        pytest.param(sign(claims(uid="2")), id="uid-not-client-owner"),
    ],
)
def test_bad_tokens_return_invalid_token(client, token):
    response = call(client, "Bearer " + token)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_expired_token_returns_expired_token(client):
    past = int(time.time()) - 7200
    response = call(client, "Bearer " + sign(claims(iat=past, exp=past + 60)))
    assert response.status_code == 401
    assert response.json()["error"] == "expired_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_several_authorization_headers_rejected(client):
    token = "Bearer " + sign(claims())
    response = client.get(PROTECTED, headers=[("Authorization", token), ("Authorization", token)])
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_request"


def test_token_of_deleted_client_rejected(client, admin_headers):
    created = client.post("/api/v1/clients", json={"name": "temp"}, headers=admin_headers).json()
    token = client.post(
        "/api/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": created["client_id"],
            "client_secret": created["client_secret"],
        },
    ).json()["access_token"]
    assert call(client, "Bearer " + token).status_code == 200

    assert (
        client.delete(f"/api/v1/clients/{created['client_id']}", headers=admin_headers).status_code
        == 204
    )
    response = call(client, "Bearer " + token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_role_change_applies_to_issued_tokens(client, db, admin_headers):
    assert client.get(PROTECTED, headers=admin_headers).status_code == 200
    with db.session() as session:
        session.get(User, 1).role = "user"
    response = client.get(PROTECTED, headers=admin_headers)
    assert response.status_code == 403
    assert response.json()["user_role"] == "user"


def test_user_role_gets_insufficient_permissions(client, user_headers):
    for method, path in (
        ("GET", PROTECTED),
        ("POST", PROTECTED),
        ("DELETE", PROTECTED + "/dev-client"),
    ):
        response = client.request(method, path, headers=user_headers, json={"name": "x"})
        assert response.status_code == 403, (method, path)
        body = response.json()
        assert body["error"] == "insufficient_permissions"
        assert body["required_role"] == "admin"
        assert body["user_role"] == "user"
        assert body["user_id"] == 2


def test_role_checked_before_body(client, user_headers):
    response = client.post(PROTECTED, headers=user_headers, json={"bogus": True})
    assert response.status_code == 403


def test_soft_deleted_client_row_kept(db, client, admin_headers):
    with db.session() as session:
        session.get(OAuthClient, "user-client").deleted_at = utcnow()
    with db.session(read_only=True) as session:
        assert session.get(OAuthClient, "user-client") is not None
