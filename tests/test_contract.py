"""Schemathesis over every operation of the served spec, against a real server process.

Positive and negative cases run with an admin and a user token. The checks cover
server errors, status codes, content types, response headers and schemas, and that
invalid requests are rejected.
"""

import collections
import os

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config._checks import PositiveDataAcceptanceConfig

from pizza_api import clients, security
from pizza_api.db import Database
from pizza_api.seed import SYSTEM_EMAIL, get_or_create_user
from pizza_api.spec import load_spec, published_spec
from tests.conftest import TEST_JWT_SECRET, ServerProcess, make_settings

pytestmark = pytest.mark.server

# Examples per operation, mode and role. Raise it for a longer run, e.g. 200.
MAX_EXAMPLES = int(os.environ.get("PIZZA_CONTRACT_EXAMPLES", "40"))
CASES: collections.Counter = collections.Counter()


@pytest.fixture(scope="module")
def contract_server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("contract")
    database_url = f"sqlite://{workdir}/contract.sqlite"
    server = ServerProcess(
        {
            "APP_ENV": "development",
            "DATABASE_URL": database_url,
            "JWT_SECRET": TEST_JWT_SECRET,
            "BCRYPT_ROUNDS": "4",
            "VALIDATE_RESPONSES": "true",
            "LOG_LEVEL": "warning",
            "WEB_CONCURRENCY": "2",
        },
        workdir,
        ("--no-reload",),
    ).start()
    server.database_url = database_url
    yield server
    server.stop()
    errors = [
        line for line in server.log().splitlines() if " ERROR " in line or "Traceback" in line
    ]
    assert errors == [], "\n".join(errors[:20])


class TokenSource:
    """A token for one role, renewed when a test case deleted the client behind it."""

    def __init__(self, server: ServerProcess, role: str) -> None:
        self.server = server
        self.role = role
        self.renewals = 0
        self.client_id, self.secret = (
            ("dev-client", "dev-secret-123")
            if role == "admin"
            else ("user-client", "user-secret-123")
        )
        self.token = self._fetch()

    def _fetch(self) -> str:
        response = httpx.post(
            f"{self.server.base_url}/api/v1/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.secret,
            },
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def renew(self) -> None:
        # Only admins can delete clients, and only their own; make a fresh admin client.
        self.renewals += 1
        db = Database(make_settings(self.server.database_url))
        self.secret = f"renewed-secret-{self.renewals:04d}"
        with db.session() as session:
            owner = get_or_create_user(session, SYSTEM_EMAIL, "System User", "admin")
            self.client_id = clients.create_client(
                session,
                owner_id=owner.id,
                name="contract",
                secret_hash=security.hash_secret(self.secret, 4),
            ).id
        db.dispose()
        self.token = self._fetch()


def token_fixture(role: str):
    @pytest.fixture(scope="module")
    def fixture(request, contract_server):
        source = TokenSource(contract_server, role)
        yield source
        counts = {op: n for (r, op), n in CASES.items() if r == role}
        # Teardown output is captured unless capturing is switched off around it.
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"schemathesis with the {role} token: {sum(counts.values())} generated cases "
                f"over {len(counts)} operations, {source.renewals} token renewals"
            )

    return fixture


admin_tokens = token_fixture("admin")
user_tokens = token_fixture("user")


# The served spec is the published spec (tests/handlers/test_health.py checks it), so
# the tests are generated from it at collection time, before any server runs.
schema = schemathesis.openapi.from_dict(published_spec(load_spec()))
schema.config.generation.update(modes=["positive", "negative"], max_examples=MAX_EXAMPLES)
# A valid request may still get 412 (its If-Match is stale) or 422 (its Idempotency-Key
# was used with another body): both depend on server state, not on the request's form.
schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
    expected_statuses=["2XX", "3XX", 401, 403, 404, 409, 412, 422, 429, "5XX"]
)


def check(case, tokens: TokenSource, base_url: str) -> None:
    CASES[(tokens.role, case.operation.label)] += 1
    response = case.call_and_validate(
        base_url=base_url, headers={"Authorization": f"Bearer {tokens.token}"}
    )
    if response.status_code == 401 and "invalid_token" in response.text:
        tokens.renew()


HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@schema.parametrize()
@HYPOTHESIS
def test_api_conforms_as_admin(case, admin_tokens, contract_server):
    check(case, admin_tokens, contract_server.base_url)


@schema.parametrize()
@HYPOTHESIS
def test_api_conforms_as_user(case, user_tokens, contract_server):
    check(case, user_tokens, contract_server.base_url)
