"""Property-based fuzzing of the bearer check and the token endpoint, in-process.

Each test draws a few thousand inputs (HOSTILE_FUZZ_EXAMPLES, default 3000) and
compares each response with an oracle written from the rules in README.md: a bearer token
passes only when it is HS512-signed with JWT_SECRET, carries every claim with the right
type, has not expired and names a live client of its uid; a token request succeeds only
with client_credentials and the right secret of a live client, sent one way.
"""

import base64
import collections
import os
import time
import warnings
from urllib.parse import quote_plus

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from pizza_api import security
from pizza_api.app import create_app
from pizza_api.db import Database
from pizza_api.startup import prepare_database
from tests.conftest import TEST_JWT_SECRET, make_settings
from tests.hostile.conftest import assert_error, table_counts, write_figures

EXAMPLES = int(os.environ.get("HOSTILE_FUZZ_EXAMPLES", "3000"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# Live clients of the seeded development database: id -> (secret, uid, role).
LIVE = {
    "dev-client": ("dev-secret-123", "1", "admin"),
    "user-client": ("user-secret-123", "2", "user"),
}
COUNTS: collections.Counter = collections.Counter()


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, request):
    # Rate limits off, so that thousands of failures from one address are all checked.
    workdir = tmp_path_factory.mktemp("fuzz")
    app_settings = make_settings(
        f"sqlite://{workdir}/fuzz.sqlite",
        rate_limit_enabled=False,
        validate_responses=False,
        log_level="critical",
    )
    db = Database(app_settings)
    prepare_database(app_settings, db)
    # Unknown client ids are checked against a dummy hash of cost 10, as slow as a real
    # check. Cost 4 keeps thousands of checks within seconds here.
    saved = security._DUMMY_HASH
    security._DUMMY_HASH = security.hash_secret("no-such-client-secret", 4)
    with TestClient(create_app(app_settings, db=db)) as client:
        client.db = db
        client.initial_counts = table_counts(db)
        yield client
    security._DUMMY_HASH = saved
    db.dispose()
    for name, count in sorted(COUNTS.items()):
        write_figures(request.config, f"auth fuzz: {name}: {count}")


# Claim values: valid ones mixed with wrong types, extremes and odd text.
ANY_JSON = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
)


def _now() -> int:
    return int(time.time())


def exp_values():
    return st.one_of(
        st.builds(lambda delta: _now() + delta, st.integers(min_value=60, max_value=10**6)),
        st.builds(lambda delta: _now() - delta, st.integers(min_value=5, max_value=10**6)),
        ANY_JSON,
    )


def past_times():
    return st.builds(lambda delta: _now() - delta, st.integers(min_value=5, max_value=10**6))


def claim_sets():
    return st.fixed_dictionaries(
        {},
        optional={
            "aud": st.one_of(st.sampled_from([*LIVE, "gone-client", "dev-client\x00"]), ANY_JSON),
            "exp": exp_values(),
            "iat": st.one_of(past_times(), ANY_JSON),
            "iss": st.one_of(st.just("pizza-api"), ANY_JSON),
            "role": st.one_of(st.sampled_from(["admin", "user", "root", "Admin"]), ANY_JSON),
            "scope": st.one_of(st.just("read write"), ANY_JSON),
            "uid": st.one_of(st.sampled_from(["1", "2", "3", "01", " 1", "1.0"]), ANY_JSON),
            "nbf": st.one_of(past_times(), ANY_JSON),
        },
    )


@st.composite
def near_valid_claims(draw) -> dict:
    """Return the claims of a live client, with at most one claim changed or removed."""
    client_id = draw(st.sampled_from(list(LIVE)))
    _, uid, role = LIVE[client_id]
    claims = {
        "aud": client_id,
        "exp": _now() + 600,
        "iat": _now() - 5,
        "iss": "pizza-api",
        "role": role,
        "scope": "read write",
        "uid": uid,
    }
    change = draw(st.sampled_from([None, None, *claims]))
    if change is not None:
        replacement = draw(st.one_of(st.none(), claim_sets().map(lambda c: c.get(change))))
        if replacement is None:
            del claims[change]
        else:
            claims[change] = replacement
    return claims


def _segment(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@st.composite
def authorization_headers(draw) -> tuple[str | None, dict | None]:
    """Return (header, claims signed correctly with HS512 and the key, else None)."""
    kind = draw(
        st.sampled_from(["signed", "signed", "signed", "other-key", "other-alg", "none", "text"])
    )
    payload = draw(st.one_of(near_valid_claims(), claim_sets()))
    valid_signature = None
    if kind == "text":
        token = draw(st.text(max_size=300))
    elif kind == "none":
        header = _segment(b'{"alg":"none","typ":"JWT"}')
        token = header + "." + _segment(repr(payload).encode()) + "."
    else:
        key = TEST_JWT_SECRET if kind != "other-key" else draw(st.text(min_size=1, max_size=80))
        algorithm = "HS512" if kind != "other-alg" else draw(st.sampled_from(["HS256", "HS384"]))
        try:
            with warnings.catch_warnings():
                # PyJWT warns about short HMAC keys, which are the point here.
                warnings.simplefilter("ignore")
                token = jwt.encode(payload, key, algorithm=algorithm)
        except (TypeError, ValueError, OverflowError):
            token = draw(st.text(max_size=50))
        else:
            if kind == "signed":
                valid_signature = payload
            if draw(st.integers(0, 9)) == 0:
                # Flip one character: the signature no longer matches.
                position = draw(st.integers(0, len(token) - 1))
                flipped = "A" if token[position] != "A" else "B"
                token = token[:position] + flipped + token[position + 1 :]
                valid_signature = None
    scheme = draw(st.sampled_from(["Bearer ", "bearer ", "BEARER ", "Bearer  ", "", "Basic "]))
    if draw(st.integers(0, 19)) == 0:
        return None, None
    return scheme + token, valid_signature if scheme.strip().lower() == "bearer" else None


def should_pass(claims: dict | None) -> bool:
    """Return True when a correctly signed token's claims must be accepted."""
    if claims is None:
        return False
    now = _now()
    required = ("exp", "iat", "iss", "aud", "uid", "role")
    if any(name not in claims for name in required):
        return False
    exp, iat = claims["exp"], claims["iat"]
    # The service requires JSON integers for exp and iat; PyJWT checks nbf as int(nbf).
    if type(exp) is not int or type(iat) is not int or exp <= now or iat > now:
        return False
    if "nbf" in claims:
        try:
            if int(claims["nbf"]) > now:
                return False
        except (TypeError, ValueError, OverflowError):
            return False
    if claims["iss"] != "pizza-api" or claims["role"] not in ("admin", "user"):
        return False
    client = LIVE.get(claims["aud"]) if isinstance(claims["aud"], str) else None
    uid = claims["uid"]
    return (
        client is not None and isinstance(uid, str) and uid.isdigit() and int(uid) == int(client[1])
    )


def is_borderline(claims: dict | None) -> bool:
    """Return True for signed tokens whose time claims are within a second of now."""
    if not claims:
        return False
    now = _now()
    return any(
        type(claims.get(name)) is int and abs(claims[name] - now) <= 2
        for name in ("exp", "iat", "nbf")
    )


@FUZZ
@given(case=authorization_headers())
def test_bearer_check_fuzz(fuzz_app, case):
    header, signed_claims = case
    # As bytes, so that text outside ASCII reaches the app as a server would pass it.
    headers = {} if header is None else {"Authorization": header.encode("utf-8")}
    response = fuzz_app.get("/api/v1/clients", headers=headers)
    COUNTS["bearer: generated Authorization headers"] += 1
    assert response.status_code in (200, 401, 403), response.text
    accepted = response.status_code in (200, 403)
    if accepted:
        COUNTS["bearer: accepted"] += 1
        # 403 only for a live user-role client; 200 only for the admin's.
        expected = 200 if LIVE[signed_claims["aud"]][2] == "admin" else 403
        assert response.status_code == expected
    else:
        assert_error(response, 401)
        assert response.headers["www-authenticate"].startswith('Bearer realm="pizza-api"')
    if not is_borderline(signed_claims):
        assert accepted == should_pass(signed_claims), (header, signed_claims, response.text)


FIELD_TEXT = st.one_of(
    st.sampled_from(["", " ", "\x00", "client_credentials", "dev-client", "dev-secret-123"]),
    st.text(max_size=40),
)


@st.composite
def token_requests(draw) -> dict:
    """Return a token request: form fields, Basic credentials or both, valid or not."""
    # Each field is right more often than not, so that some requests earn a token.
    live = st.sampled_from(list(LIVE))
    client_id = draw(
        st.one_of(live, live, st.sampled_from(["gone-client", "DEV-CLIENT"]), FIELD_TEXT)
    )
    right_secret = LIVE.get(client_id, ("",))[0]
    secret = draw(
        st.one_of(
            st.just(right_secret), st.just(right_secret), st.just(right_secret + "x"), FIELD_TEXT
        )
    )
    grant_type = draw(
        st.one_of(st.just("client_credentials"), st.just("client_credentials"), FIELD_TEXT)
    )
    use_basic = draw(st.sampled_from(["form", "form", "basic", "both", "raw", "raw-header"]))

    form: dict = {}
    if draw(st.integers(0, 9)):
        form["grant_type"] = grant_type
    if draw(st.integers(0, 3)):
        form["scope"] = draw(
            st.one_of(st.sampled_from(["read", "read write", "admin"]), FIELD_TEXT)
        )
    headers = {}
    if use_basic in ("basic", "both"):
        pair = quote_plus(client_id) + ":" + quote_plus(secret)
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    if use_basic in ("form", "both"):
        form["client_id"] = client_id
        form["client_secret"] = secret

    if use_basic == "raw-header":
        # Any text after "Basic ", sent as UTF-8 bytes as a server would receive it.
        scheme = draw(st.sampled_from(["Basic ", "basic ", "Basic", ""]))
        headers["Authorization"] = (scheme + draw(st.text(max_size=60))).encode("utf-8")
        return {"data": form, "headers": headers, "expected": False}
    if use_basic == "raw":
        # Random bytes never spell out a client's secret, so they never get a token.
        body = draw(st.binary(max_size=200))
        content_type = {"Content-Type": "application/x-www-form-urlencoded"}
        return {"content": body, "headers": content_type, "expected": False}
    return {
        "data": form,
        "headers": headers,
        "expected": _token_oracle(form, client_id, secret, use_basic),
    }


def _token_oracle(form: dict, client_id: str, secret: str, method: str) -> bool:
    if form.get("grant_type") != "client_credentials" or method == "both":
        return False
    if any("\x00" in value for value in (client_id, secret, *form.values())):
        return False
    if LIVE.get(client_id, (None,))[0] != secret:
        return False
    scope = form.get("scope")
    return scope is None or set(scope.split()) <= {"read", "write"}


@FUZZ
@given(request=token_requests())
def test_token_endpoint_fuzz(fuzz_app, request):
    expected = request.pop("expected")
    response = fuzz_app.post("/api/v1/oauth/token", **request)
    COUNTS["token: generated requests"] += 1
    assert response.status_code in (200, 400, 401), response.text
    assert response.headers["cache-control"] == "no-store"
    if response.status_code == 200:
        COUNTS["token: tokens issued"] += 1
        claims = jwt.decode(
            response.json()["access_token"],
            TEST_JWT_SECRET,
            algorithms=["HS512"],
            options={"verify_aud": False},
        )
        assert claims["aud"] in LIVE
        assert claims["uid"] == LIVE[claims["aud"]][1]
    else:
        assert_error(response, response.status_code)
    assert (response.status_code == 200) == expected, (request, response.text)


def test_fuzzing_wrote_nothing(fuzz_app):
    assert table_counts(fuzz_app.db) == fuzz_app.initial_counts
