"""Hostile bearer tokens on every protected operation, and wrong-secret bursts on a server."""

import asyncio
import base64
import hashlib
import hmac
import json
import statistics
import threading
import time

import httpx
import jwt
import pytest

from tests.conftest import BACKENDS, TEST_JWT_SECRET
from tests.conftest import token_claims as claims
from tests.hostile.conftest import ADMIN_FORM, assert_error, server_env, table_counts

PROTECTED = {
    "create_pizza": ("POST", "/api/v1/pizzas", {"name": "Forged", "price": 1}),
    "update_pizza": ("PUT", "/api/v1/pizzas/1", {"name": "Forged"}),
    "delete_pizza": ("DELETE", "/api/v1/pizzas/1", None),
    "create_client": ("POST", "/api/v1/clients", {"name": "Forged"}),
    "list_clients": ("GET", "/api/v1/clients", None),
    "delete_client": ("DELETE", "/api/v1/clients/user-client", None),
}


def segment(data) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign(payload: dict, key: str = TEST_JWT_SECRET, algorithm: str = "HS512", **kwargs) -> str:
    return jwt.encode(payload, key, algorithm=algorithm, **kwargs)


def sign_by_hand(payload: dict, key: bytes) -> str:
    """Sign as HS512 without PyJWT, which refuses an empty key."""
    signing_input = segment({"alg": "HS512", "typ": "JWT"}) + "." + segment(payload)
    digest = hmac.new(key, signing_input.encode(), hashlib.sha512).digest()
    return signing_input + "." + segment(digest)


def edited(token: str, **changes) -> str:
    """Return `token` with claims changed but the original signature kept."""
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return ".".join([header, segment({**decoded, **changes}), signature])


GOOD = sign(claims())
USER_GOOD = sign(claims(aud="user-client", uid="2", role="user"))
NOW = int(time.time())

# case -> (Authorization header value or None, expected `error`)
TOKEN_CASES = {
    "missing-header": (None, "authorization_required"),
    "empty-header": ("", "authorization_required"),
    "no-scheme": (GOOD, "invalid_request"),
    "basic-scheme": (
        "Basic " + base64.b64encode(b"dev-client:dev-secret-123").decode(),
        "invalid_request",
    ),
    "token-scheme": ("Token " + GOOD, "invalid_request"),
    "bearer-only": ("Bearer", "invalid_token"),
    "bearer-two-tokens": (f"Bearer {GOOD} {GOOD}", "invalid_token"),
    "bearer-comma": (f"Bearer {GOOD},", "invalid_token"),
    "unsigned-alg-none": (
        "Bearer " + segment({"alg": "none", "typ": "JWT"}) + "." + segment(claims()) + ".",
        "invalid_token",
    ),
    "alg-none-with-signature": (
        "Bearer " + ".".join([segment({"alg": "none"}), segment(claims()), GOOD.split(".")[2]]),
        "invalid_token",
    ),
    "hs256-same-key": ("Bearer " + sign(claims(), algorithm="HS256"), "invalid_token"),
    "hs384-same-key": ("Bearer " + sign(claims(), algorithm="HS384"), "invalid_token"),
    "hs512-other-key": ("Bearer " + sign(claims(), key="k" * 64), "invalid_token"),
    "hs512-empty-key": ("Bearer " + sign_by_hand(claims(), b""), "invalid_token"),
    "header-says-rs256": (
        "Bearer " + ".".join([segment({"alg": "RS256"}), *GOOD.split(".")[1:]]),
        "invalid_token",
    ),
    "edited-role": ("Bearer " + edited(USER_GOOD, role="admin"), "invalid_token"),
    "edited-uid": ("Bearer " + edited(GOOD, uid="2"), "invalid_token"),
    "edited-exp": ("Bearer " + edited(GOOD, exp=NOW + 10**6), "invalid_token"),
    "truncated-signature": ("Bearer " + GOOD[:-4], "invalid_token"),
    "missing-exp": ("Bearer " + sign(claims(exp=None)), "invalid_token"),
    "string-exp": ("Bearer " + sign(claims(exp=str(NOW + 600))), "invalid_token"),
    "float-exp": ("Bearer " + sign(claims(exp=NOW + 600.5)), "invalid_token"),
    # PyJWT reads true as 1, a time long past.
    "boolean-exp": ("Bearer " + sign(claims(exp=True)), "expired_token"),
    "null-exp": ("Bearer " + sign({**claims(), "exp": None}), "invalid_token"),
    "expired": ("Bearer " + sign(claims(exp=NOW - 10, iat=NOW - 700)), "expired_token"),
    "expired-long-ago": ("Bearer " + sign(claims(exp=1, iat=0)), "expired_token"),
    "iat-in-future": ("Bearer " + sign(claims(iat=NOW + 3600)), "invalid_token"),
    "string-iat": ("Bearer " + sign(claims(iat=str(NOW))), "invalid_token"),
    "missing-iss": ("Bearer " + sign(claims(iss=None)), "invalid_token"),
    "other-iss": ("Bearer " + sign(claims(iss="evil")), "invalid_token"),
    "missing-aud": ("Bearer " + sign(claims(aud=None)), "invalid_token"),
    "unknown-aud": ("Bearer " + sign(claims(aud="no-such-client")), "invalid_token"),
    "list-aud": ("Bearer " + sign(claims(aud=["dev-client"])), "invalid_token"),
    "aud-other-owner": ("Bearer " + sign(claims(aud="user-client")), "invalid_token"),
    "uid-not-digits": ("Bearer " + sign(claims(uid="1 OR 1=1")), "invalid_token"),
    "uid-integer": ("Bearer " + sign(claims(uid=1)), "invalid_token"),
    "uid-zero": ("Bearer " + sign(claims(uid="0")), "invalid_token"),
    "uid-beyond-64-bits": ("Bearer " + sign(claims(uid="9" * 30)), "invalid_token"),
    "uid-arabic-digit": ("Bearer " + sign(claims(uid="\u0661")), "invalid_token"),
    "role-root": ("Bearer " + sign(claims(role="root")), "invalid_token"),
    "nul-in-aud": ("Bearer " + sign(claims(aud="dev-client\x00")), "invalid_token"),
    "not-a-jwt": ("Bearer not.a.jwt", "invalid_token"),
    "base64-garbage": ("Bearer " + "A" * 200, "invalid_token"),
    "5000-chars": ("Bearer " + GOOD + "A" * 5000, "invalid_token"),
}


@pytest.mark.parametrize("case", list(TOKEN_CASES))
@pytest.mark.parametrize("operation", list(PROTECTED))
def test_hostile_bearer_rejected(shared_client, operation, case):
    method, path, body = PROTECTED[operation]
    authorization, error = TOKEN_CASES[case]
    headers = {} if authorization is None else {"Authorization": authorization}
    before = table_counts(shared_client.db)

    response = shared_client.request(method, path, json=body, headers=headers)

    assert_error(response, 401, error)
    assert response.headers["www-authenticate"].startswith('Bearer realm="pizza-api"')
    assert table_counts(shared_client.db) == before


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_hostile_bearer_same_on_every_backend(client, db):
    # Tokens with a valid signature reach the database to look up their client.
    before = table_counts(db)
    for case, (authorization, error) in TOKEN_CASES.items():
        headers = {} if authorization is None else {"Authorization": authorization}
        response = client.post("/api/v1/clients", json={"name": "Forged"}, headers=headers)
        assert response.status_code == 401, case
        assert response.json()["error"] == error, case
    assert table_counts(db) == before


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_any_case(shared_client, scheme):
    response = shared_client.get("/api/v1/clients", headers={"Authorization": f"{scheme} {GOOD}"})
    assert response.status_code == 200


@pytest.mark.parametrize("operation", list(PROTECTED))
def test_several_authorization_headers_rejected(shared_client, operation):
    method, path, body = PROTECTED[operation]
    before = table_counts(shared_client.db)
    headers = [("Authorization", f"Bearer {GOOD}"), ("Authorization", f"Bearer {GOOD}")]
    response = shared_client.request(method, path, json=body, headers=headers)
    assert_error(response, 401, "invalid_request")
    assert table_counts(shared_client.db) == before


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_token_of_deleted_client_rejected(client, db, admin_headers):
    created = client.post("/api/v1/clients", json={"name": "doomed"}, headers=admin_headers)
    assert created.status_code == 201
    form = {
        "grant_type": "client_credentials",
        "client_id": created.json()["client_id"],
        "client_secret": created.json()["client_secret"],
    }
    token = client.post("/api/v1/oauth/token", data=form).json()["access_token"]
    doomed = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/clients", headers=doomed).status_code == 200

    deleted = client.delete(f"/api/v1/clients/{form['client_id']}", headers=admin_headers)
    assert deleted.status_code == 204
    before = table_counts(db)
    for method, path, body in PROTECTED.values():
        response = client.request(method, path, json=body, headers=doomed)
        assert_error(response, 401, "invalid_token")
    assert table_counts(db) == before
    assert_error(client.post("/api/v1/oauth/token", data=form), 401, "invalid_client")


@pytest.fixture(scope="module")
def limited_token_server(module_server, tmp_path_factory):
    """A server with the default token rate limits, counted in memory per worker."""
    workdir = tmp_path_factory.mktemp("ratelimit")
    env = server_env(f"sqlite://{workdir}/limits.sqlite", RATE_LIMIT_ENABLED="true")
    return module_server(env, workdir)


@pytest.mark.server
def test_wrong_secret_burst_gets_429(limited_token_server, report):
    form = {**ADMIN_FORM, "client_secret": "wrong"}
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=limited_token_server.base_url, timeout=30) as http:
        # 20 failures per client id per minute, per worker: two workers allow 40 at most.
        for _ in range(60):
            response = http.post("/api/v1/oauth/token", data=form)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code == 429:
                body = assert_error(response, 429, "rate_limit_exceeded")
                assert "retry after" in body["error_description"]
                assert int(response.headers["retry-after"]) >= 1
                assert response.headers["cache-control"] == "no-store"
            else:
                assert_error(response, 401, "invalid_client")
        # The lockout holds even for the right secret until the window passes.
        locked = http.post("/api/v1/oauth/token", data=ADMIN_FORM)
    report(f"wrong-secret burst: {statuses}")
    assert statuses.get(401, 0) <= 40
    assert statuses.get(429, 0) >= 20
    assert_error(locked, 429, "rate_limit_exceeded")


BURST_CONCURRENCY = 100
BURST_SECONDS = 5.0


async def _wrong_secret_burst(base_url: str, deadline: float, statuses: dict) -> None:
    form = {**ADMIN_FORM, "client_secret": "wrong-secret"}
    limits = httpx.Limits(max_connections=BURST_CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:

        async def attacker() -> None:
            while time.monotonic() < deadline:
                response = await http.post("/api/v1/oauth/token", data=form)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code == 503:
                    # No bcrypt slot within 5 s: shed with the OAuth error and Retry-After.
                    assert_error(response, 503, "temporarily_unavailable")
                    assert response.headers["retry-after"] == "1"
                else:
                    assert_error(response, 401, "invalid_client")

        await asyncio.gather(*(attacker() for _ in range(BURST_CONCURRENCY)))


@pytest.mark.server
def test_bcrypt_burst_leaves_reads_fast(module_server, tmp_path_factory, report):
    # bcrypt cost 10 (the default) and no rate limit: every request pays for a hash check.
    workdir = tmp_path_factory.mktemp("bcrypt")
    env = server_env(
        f"sqlite://{workdir}/bcrypt.sqlite",
        BCRYPT_ROUNDS="10",
        LOG_LEVEL="warning",
        VALIDATE_RESPONSES="false",
    )
    server = module_server(env, workdir)
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + BURST_SECONDS
    errors: list[BaseException] = []

    def run_burst() -> None:
        try:
            asyncio.run(_wrong_secret_burst(server.base_url, deadline, statuses))
        except BaseException as exc:  # re-raised in the test's thread below
            errors.append(exc)

    burst = threading.Thread(target=run_burst)
    burst.start()
    time.sleep(0.5)
    latencies = []
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        while time.monotonic() < deadline - 0.5:
            started = time.perf_counter()
            response = http.get("/api/v1/public/pizzas")
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
            time.sleep(0.05)
    burst.join()
    if errors:
        raise errors[0]

    latencies.sort()
    median = statistics.median(latencies)
    p95 = latencies[int(len(latencies) * 0.95)]
    report(
        f"bcrypt burst: {BURST_CONCURRENCY} concurrent wrong-secret requests for "
        f"{BURST_SECONDS} s, answers {statuses}; {len(latencies)} public reads: "
        f"median {median * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
    )
    assert set(statuses) <= {401, 503}
    assert statuses.get(401, 0) >= 20
    # When token requests waited for a bcrypt slot inside a pool thread, this burst held
    # every thread and reads took 1 to 2 s at the median (2 cores, 2 workers).
    assert median < 0.25
    assert p95 < 1.0
    assert len(latencies) >= 20
