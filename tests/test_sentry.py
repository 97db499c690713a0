"""Optional Sentry reporting, checked against a fake Sentry endpoint on 127.0.0.1."""

import gzip
import http.server
import logging
import os
import subprocess
import sys
import threading

import pytest

from pizza_api import asgi
from pizza_api.settings import SettingsError
from tests.conftest import PROJECT_ROOT, TEST_JWT_SECRET

sentry_sdk = pytest.importorskip("sentry_sdk")

PROBE_TOKEN = "probe-token-Hq27-never-sent"

# Runs in a child process, because sentry_sdk.init patches libraries process-wide.
REPORTING_SCRIPT = """
import os

import sentry_sdk
from starlette.testclient import TestClient

from pizza_api import asgi, pizzas
from pizza_api.db import Database
from pizza_api.settings import Settings
from pizza_api.startup import prepare_database

settings = Settings.from_env()
db = Database(settings)
prepare_database(settings, db)
db.dispose()


def broken_list(*args, **kwargs):
    raise RuntimeError("sentry-probe-failure")


pizzas.list_pizzas = broken_list
with TestClient(asgi.create_app_from_env(), raise_server_exceptions=False) as client:
    response = client.get(
        "/api/v1/public/pizzas?name=x",
        headers={"Authorization": "Bearer " + os.environ["PROBE_TOKEN"]},
    )
    assert response.status_code == 500, response.text
sentry_sdk.flush(timeout=10)
"""


class FakeSentry(http.server.ThreadingHTTPServer):
    """Accept envelopes on 127.0.0.1 and keep their decoded bodies."""

    def __init__(self) -> None:
        self.envelopes: list[bytes] = []
        super().__init__(("127.0.0.1", 0), FakeSentryHandler)


class FakeSentryHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        elif self.headers.get("Content-Encoding") == "br":
            import brotli

            body = brotli.decompress(body)
        self.server.envelopes.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_sentry():
    server = FakeSentry()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_unhandled_error_reported(fake_sentry, tmp_path):
    port = fake_sentry.server_address[1]
    env = {
        **os.environ,
        "APP_ENV": "staging",
        "JWT_SECRET": TEST_JWT_SECRET,
        "AUTO_MIGRATE": "true",
        "DATABASE_URL": f"sqlite://{tmp_path}/sentry.sqlite",
        "SENTRY_DSN": f"http://publickey@127.0.0.1:{port}/1",
        "PYTHONPATH": str(PROJECT_ROOT),
        "PROBE_TOKEN": PROBE_TOKEN,
    }
    result = subprocess.run(
        [sys.executable, "-c", REPORTING_SCRIPT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr

    sent = b"\n".join(fake_sentry.envelopes).decode(errors="replace")
    assert "sentry-probe-failure" in sent
    assert '"environment":"staging"' in sent.replace(" ", "")
    assert PROBE_TOKEN not in sent
    assert TEST_JWT_SECRET not in sent


@pytest.fixture
def app_env(monkeypatch, tmp_path):
    monkeypatch.setenv("APP_ENV", "staging")
    monkeypatch.setenv("JWT_SECRET", TEST_JWT_SECRET)
    monkeypatch.setenv("DATABASE_URL", f"sqlite://{tmp_path}/app.sqlite")
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield monkeypatch
    root.handlers[:] = handlers
    root.setLevel(level)


def test_init_options(app_env):
    calls = []
    app_env.setattr(sentry_sdk, "init", lambda **options: calls.append(options))
    app_env.setenv("SENTRY_DSN", "http://publickey@127.0.0.1:9/1")

    app = asgi.create_app_from_env()
    app.services.db.dispose()

    (options,) = calls
    assert options["dsn"] == "http://publickey@127.0.0.1:9/1"
    assert options["environment"] == "staging"
    assert options["send_default_pii"] is False
    assert options["max_request_body_size"] == "never"
    assert options["include_local_variables"] is False


def test_no_init_without_dsn(app_env):
    calls = []
    app_env.setattr(sentry_sdk, "init", lambda **options: calls.append(options))

    app = asgi.create_app_from_env()
    app.services.db.dispose()

    assert calls == []


def test_missing_extra_reported(app_env):
    app_env.setitem(sys.modules, "sentry_sdk", None)
    app_env.setenv("SENTRY_DSN", "http://publickey@127.0.0.1:9/1")

    with pytest.raises(SettingsError, match=r"pizza-api\[sentry\]"):
        asgi.create_app_from_env()
