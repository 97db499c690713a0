"""Helpers for the hostile-input suite: error-shape checks, raw HTTP, servers, table counts."""

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from pizza_api.app import create_app
from pizza_api.db import Database
from pizza_api.models import IdempotencyKey, OAuthClient, Pizza, User
from pizza_api.startup import prepare_database
from tests.conftest import TEST_JWT_SECRET, ServerProcess, fetch_token, make_settings

ERROR_CONTENT_TYPE = "application/json; charset=utf-8"
PIZZA = {"name": "Hostile", "description": "", "ingredients": ["Cheese"], "price": 9.5}
ADMIN_FORM = {
    "grant_type": "client_credentials",
    "client_id": "dev-client",
    "client_secret": "dev-secret-123",
}


def assert_error(response, status: int, error: str | None = None) -> dict:
    """Check the contract's error response: status, media type, JSON object, string `error`."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == ERROR_CONTENT_TYPE
    body = response.json()
    assert isinstance(body, dict)
    assert isinstance(body.get("error"), str)
    if error is not None:
        assert body["error"] == error, body
    return body


def write_figures(config, line: str) -> None:
    """Write a line of measured figures to the terminal, even while output is captured."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


@pytest.fixture
def report(pytestconfig):
    """Return a function that writes a line of figures to the terminal."""
    return lambda line: write_figures(pytestconfig, line)


def table_counts(db) -> dict:
    """Return row counts of every table a request could write to."""
    with db.session(read_only=True) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (Pizza, User, OAuthClient, IdempotencyKey)
        }


class RawResponse:
    """The parts of an HTTP/1.1 response read from a socket, with httpx-like accessors."""

    def __init__(self, data: bytes) -> None:
        head, _, self.content = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status_code = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.text = self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


def raw_request(port: int, request: bytes, timeout: float = 10.0) -> RawResponse:
    """Send bytes exactly as given to 127.0.0.1:port and read the response until close."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return RawResponse(b"".join(chunks))


def http_request(
    method: str, target: bytes, headers: dict | None = None, body: bytes = b""
) -> bytes:
    """Build an HTTP/1.1 request with `Connection: close` from raw bytes."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    for name, value in (headers or {}).items():
        raw = value if isinstance(value, bytes) else value.encode()
        lines.append(name.encode() + b": " + raw)
    if body:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def server_env(database_url: str, **overrides: str) -> dict:
    """Return the environment of a development server with fast bcrypt and no rate limits."""
    env = {
        "APP_ENV": "development",
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
        "LOG_LEVEL": "info",
        "WEB_CONCURRENCY": "2",
        "RATE_LIMIT_ENABLED": "false",
        "VALIDATE_RESPONSES": "true",
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="module")
def module_server(tmp_path_factory):
    """Start servers that live for one test module; all are stopped at its end."""
    servers: list[ServerProcess] = []

    def start(env: dict, workdir: Path | None = None) -> ServerProcess:
        workdir = workdir or tmp_path_factory.mktemp("server")
        server = ServerProcess(env, workdir, ("--no-reload",))
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory):
    """One seeded in-process app per module, for cases that must not change any row.

    It has `.db` and `.admin_headers`; tests that write use the per-test `client`.
    """
    workdir = tmp_path_factory.mktemp("shared")
    settings = make_settings(f"sqlite://{workdir}/shared.sqlite", log_level="critical")
    db = Database(settings)
    prepare_database(settings, db)
    with TestClient(create_app(settings, db=db)) as client:
        client.db = db
        client.admin_headers = {
            "Authorization": "Bearer " + fetch_token(client, "dev-client", "dev-secret-123")
        }
        yield client
    db.dispose()


def worker_pids(server: ServerProcess) -> list[int]:
    """Return the PIDs of the gunicorn workers: the children of the server process."""
    master = server.process.pid
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The second field may contain spaces; the parent PID follows the closing bracket.
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == master:
            children.append(int(entry.name))
    return sorted(children)


def wait_for_workers(server: ServerProcess, count: int, exclude=(), timeout: float = 30.0):
    """Wait until the server has `count` workers, none of them in `exclude`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = worker_pids(server)
        if len(pids) == count and not set(pids) & set(exclude):
            return pids
        time.sleep(0.1)
    raise AssertionError(f"workers are {worker_pids(server)}, expected {count} new ones")


def kill_process(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
