"""Structured logs: one access line per request, levels per APP_ENV, no secrets."""

import base64
import json
import logging
import re

import httpx
import pytest

from pizza_api.logs import configure_logging
from tests.conftest import make_settings

CLIENT_ID = "ops-client"
CLIENT_SECRET = "ops-secret-Zk93-never-logged"
WRONG_SECRET = "wrong-secret-Pq81-never-logged"
ACCESS_FIELDS = {
    "timestamp",
    "level",
    "message",
    "method",
    "path",
    "status",
    "latency_ms",
    "client_id",
    "request_id",
}


def server_env(app_env: str, **extra: str) -> dict:
    return {
        "APP_ENV": app_env,
        "LOG_LEVEL": None,
        "LOG_FORMAT": None,
        "AUTO_MIGRATE": "true",
        "BOOTSTRAP_CLIENT_ID": CLIENT_ID,
        "BOOTSTRAP_CLIENT_SECRET": CLIENT_SECRET,
        "BCRYPT_ROUNDS": "4",
        **extra,
    }


def token_form(secret: str = CLIENT_SECRET) -> dict:
    return {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": secret}


def json_lines(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if line.strip()]


def access_lines(records: list[dict]) -> list[dict]:
    return [record for record in records if record.get("logger") == "pizza_api.access"]


@pytest.mark.server
def test_staging_json_access_log(start_server):
    server = start_server(server_env("staging"))
    base = server.base_url

    granted = httpx.post(
        base + "/api/v1/oauth/token", data=token_form(), headers={"X-Request-ID": "grant-1"}
    )
    assert granted.status_code == 200
    token = granted.json()["access_token"]
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    basic_grant = httpx.post(
        base + "/api/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + basic, "X-Request-ID": "grant-basic"},
    )
    assert basic_grant.status_code == 200
    rejected = httpx.post(
        base + "/api/v1/oauth/token",
        data=token_form(WRONG_SECRET),
        headers={"X-Request-ID": "grant-wrong"},
    )
    assert rejected.status_code == 401
    created = httpx.post(
        base + "/api/v1/pizzas",
        json={"name": "Logged", "price": 7},
        headers={"Authorization": "Bearer " + token, "X-Request-ID": "create-1"},
    )
    assert created.status_code == 201
    public = httpx.get(base + "/api/v1/public/pizzas")
    assert public.status_code == 200
    generated_id = public.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated_id)
    server.stop()

    log = server.log()
    records = json_lines(log)  # every line of the log is JSON
    by_request = {}
    for record in access_lines(records):
        by_request.setdefault(record["request_id"], []).append(record)
    expected = {
        "grant-1": ("POST", "/api/v1/oauth/token", 200, CLIENT_ID),
        "grant-basic": ("POST", "/api/v1/oauth/token", 200, CLIENT_ID),
        "grant-wrong": ("POST", "/api/v1/oauth/token", 401, None),
        "create-1": ("POST", "/api/v1/pizzas", 201, CLIENT_ID),
        generated_id: ("GET", "/api/v1/public/pizzas", 200, None),
    }
    for request_id, (method, path, status, client_id) in expected.items():
        assert len(by_request.get(request_id, [])) == 1, request_id
        (line,) = by_request[request_id]
        assert ACCESS_FIELDS <= set(line), request_id
        assert line["level"] == "INFO"
        assert line["message"] == "request"
        assert (line["method"], line["path"], line["status"]) == (method, path, status)
        assert line["client_id"] == client_id, request_id
        assert isinstance(line["latency_ms"], float | int)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", line["timestamp"])

    for secret in (CLIENT_SECRET, WRONG_SECRET, token, basic, token.split(".")[2]):
        assert secret not in log
    assert "bearer" not in log.lower()
    assert "authorization" not in log.lower()


@pytest.mark.server
def test_production_keeps_access_lines(start_server):
    server = start_server(server_env("production"))
    granted = httpx.post(
        server.base_url + "/api/v1/oauth/token",
        data=token_form(),
        headers={"X-Request-ID": "prod-grant"},
    )
    assert granted.status_code == 200
    server.stop()

    records = json_lines(server.log())
    assert [record["request_id"] for record in access_lines(records)].count("prod-grant") == 1
    # LOG_LEVEL defaults to warning in production, so other info records are dropped;
    # only access lines and the server's start and stop lines stay.
    assert [r for r in records if r.get("message") == "token_issued"] == []
    lifecycle = [r["message"] for r in records if r.get("logger") == "pizza_api.server"]
    assert lifecycle == ["server_starting", "server_stopped"]
    kept = {"pizza_api.access", "pizza_api.server"}
    assert {r["level"] for r in records if r.get("logger") not in kept} <= {
        "WARNING",
        "ERROR",
        "CRITICAL",
    }


@pytest.mark.server
def test_log_access_false_drops_access(start_server):
    server = start_server(server_env("staging", LOG_ACCESS="false"))
    assert httpx.get(server.base_url + "/health/ready").status_code == 200
    server.stop()

    records = json_lines(server.log())
    assert access_lines(records) == []


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    access = logging.getLogger("pizza_api.access")
    access.setLevel(logging.NOTSET)
    access.disabled = False


@pytest.mark.parametrize(
    ("app_env", "root_level"),
    [("development", logging.DEBUG), ("staging", logging.INFO), ("production", logging.WARNING)],
)
def test_levels_per_environment(app_env, root_level, restore_logging, capsys, monkeypatch):
    from pizza_api.settings import Settings

    monkeypatch.delenv("LOG_LEVEL", raising=False)
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    environ = {"APP_ENV": app_env, "JWT_SECRET": "x" * 40}
    configure_logging(Settings.from_env(environ))
    assert logging.getLogger().level == root_level

    logging.getLogger("pizza_api.test").debug("debug_event")
    logging.getLogger("pizza_api.test").info("info_event")
    logging.getLogger("pizza_api.access").info("request", extra={"status": 200})
    output = capsys.readouterr().out
    assert ("debug_event" in output) is (root_level <= logging.DEBUG)
    assert ("info_event" in output) is (root_level <= logging.INFO)
    assert output.count("request") == 1
    if app_env == "development":
        assert re.search(r" INFO +pizza_api.access request status=200$", output, re.M)
    else:
        access = [json.loads(line) for line in output.splitlines() if '"request"' in line]
        assert access[0]["status"] == 200


def test_log_access_setting(restore_logging, capsys):
    configure_logging(make_settings("sqlite://unused.sqlite", log_access=False))
    logging.getLogger("pizza_api.access").info("request")
    assert capsys.readouterr().out == ""
