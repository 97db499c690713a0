"""Shared fixtures: settings, databases on every backend, in-process apps, real servers."""

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from pizza_api.app import create_app
from pizza_api.db import Database, sqlalchemy_url
from pizza_api.settings import Settings
from pizza_api.startup import prepare_database

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEST_JWT_SECRET = "test-secret-for-pizza-api-tests-0123456789-abcdefghijklmnopqrstuvwxyz"
POSTGRES_URL = os.environ.get("PIZZA_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("PIZZA_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


def _server_reachable(url: str) -> str | None:
    """Return None when the server responds, else the reason to skip."""
    try:
        engine = create_engine(sqlalchemy_url(url), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means the server is not usable here
        return f"{url.split('@')[-1]} is not reachable: {type(exc).__name__}: {exc}"[:300]


class ScratchDatabases:
    """Create a throwaway database on a server and drop it afterwards."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def create(self) -> str:
        name = f"pizza_test_{uuid.uuid4().hex[:12]}"
        engine = create_engine(sqlalchemy_url(self.admin_url), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        engine.dispose()
        self.created.append(name)
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{name}"

    def drop_all(self) -> None:
        engine = create_engine(sqlalchemy_url(self.admin_url), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            for name in self.created:
                if engine.dialect.name == "postgresql":
                    connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                else:
                    connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_databases():
    reason = _server_reachable(POSTGRES_URL)
    if reason:
        pytest.skip(f"PostgreSQL tests need a server: {reason}")
    scratch = ScratchDatabases(POSTGRES_URL)
    yield scratch
    scratch.drop_all()


@pytest.fixture(scope="session")
def mysql_databases():
    reason = _server_reachable(MYSQL_URL)
    if reason:
        pytest.skip(f"MariaDB/MySQL tests need a server: {reason}")
    scratch = ScratchDatabases(MYSQL_URL)
    yield scratch
    scratch.drop_all()


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]


@pytest.fixture
def database_url(request, tmp_path):
    """A fresh, empty database: SQLite by default, other backends by parametrization."""
    backend = getattr(request, "param", "sqlite")
    if backend == "postgres":
        return request.getfixturevalue("postgres_databases").create()
    if backend == "mysql":
        return request.getfixturevalue("mysql_databases").create()
    return f"sqlite://{tmp_path}/pizza.sqlite"


def make_settings(database_url: str, **overrides) -> Settings:
    values = dict(
        app_env="development",
        database_url=database_url,
        jwt_secret=TEST_JWT_SECRET,
        bcrypt_rounds=4,
        validate_responses=True,
        log_level="warning",
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(database_url) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def db(settings):
    database = Database(settings)
    prepare_database(settings, database)
    yield database
    database.dispose()


@pytest.fixture
def client(settings, db):
    """An in-process client of a freshly seeded development app."""
    with TestClient(create_app(settings, db=db), raise_server_exceptions=True) as test_client:
        yield test_client


def token_claims(**overrides) -> dict:
    """Return valid access token claims for dev-client; a None override drops the claim."""
    now = int(time.time())
    values = {
        "aud": "dev-client",
        "exp": now + 600,
        "iat": now,
        "iss": "pizza-api",
        "role": "admin",
        "scope": "read write",
        "uid": "1",
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def fetch_token(client, client_id: str, secret: str, **form) -> str:
    response = client.post(
        "/api/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            **form,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def admin_headers(client):
    return {"Authorization": "Bearer " + fetch_token(client, "dev-client", "dev-secret-123")}


@pytest.fixture
def user_headers(client):
    return {"Authorization": "Bearer " + fetch_token(client, "user-client", "user-secret-123")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """`pizza-api serve` in a child process on a free 127.0.0.1 port."""

    def __init__(self, env: dict, cwd: Path, args: tuple = ()) -> None:
        self.port = int(env.get("APP_PORT") or free_port())
        self.base_url = f"http://127.0.0.1:{self.port}"
        merged = {**os.environ, "APP_HOST": "127.0.0.1", "APP_PORT": str(self.port), **env}
        # None removes a variable, so the server uses its built-in default.
        self.env = {key: value for key, value in merged.items() if value is not None}
        self.cwd = cwd
        self.args = args
        self.log_path = cwd / f"server-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pizza_api.cli", "serve", *self.args],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.base_url + "/health/live", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def start_server(tmp_path):
    """Start servers with extra environment; all are stopped after the test."""
    servers: list[ServerProcess] = []

    def start(env: dict | None = None, args: tuple = ("--no-reload",), **kwargs) -> ServerProcess:
        base_env = {
            "APP_ENV": "development",
            "DATABASE_URL": f"sqlite://{tmp_path}/server.sqlite",
            "JWT_SECRET": TEST_JWT_SECRET,
            "LOG_LEVEL": "info",
            "WEB_CONCURRENCY": "2",
        }
        server = ServerProcess({**base_env, **(env or {})}, tmp_path, args)
        servers.append(server)
        return server.start(**kwargs)

    yield start
    for server in servers:
        server.stop()
