import os
import socket
import subprocess
import sys

import pytest

from pizza_api import migrate
from tests.conftest import TEST_JWT_SECRET, free_port


def run(tmp_path, *args, env=None, stdin=None):
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{tmp_path}/cli.sqlite",
        "JWT_SECRET": TEST_JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "pizza_api.cli", *args],
        cwd=tmp_path,
        env={k: v for k, v in environment.items() if v is not None},
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


def error_lines(result) -> list[str]:
    return [
        line for line in result.stderr.splitlines() if not line.strip().startswith(("/", "from "))
    ]


def test_serve_without_jwt_secret_in_production(tmp_path):
    result = run(tmp_path, "serve", env={"APP_ENV": "production", "JWT_SECRET": None})
    assert result.returncode == 1
    lines = error_lines(result)
    assert len(lines) == 1
    assert lines[0].startswith("error: JWT_SECRET is required outside development")
    assert "secrets.token_urlsafe" in lines[0]
    assert "Traceback" not in result.stderr


def test_serve_with_short_jwt_secret_in_staging(tmp_path):
    result = run(tmp_path, "serve", env={"APP_ENV": "staging", "JWT_SECRET": "too-short"})
    assert result.returncode == 1
    assert error_lines(result) == [
        "error: JWT_SECRET has 9 characters; use at least 32; generate one with: "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
    ]


def test_serve_port_in_use(tmp_path):
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        result = run(tmp_path, "serve", env={"APP_PORT": str(port), "APP_HOST": "127.0.0.1"})
    assert result.returncode == 1
    lines = error_lines(result)
    assert len(lines) == 1
    assert f"port {port} on 127.0.0.1 is already in use" in lines[0]
    assert "APP_PORT" in lines[0]


def test_serve_refuses_old_schema_in_production(tmp_path):
    env = {"APP_ENV": "production", "APP_PORT": str(free_port())}
    result = run(tmp_path, "serve", env=env)
    assert result.returncode == 1
    assert "run `pizza-api db upgrade` first" in result.stderr
    assert "Traceback" not in result.stderr

    assert run(tmp_path, "db", "current", env=env).returncode == 3
    upgraded = run(tmp_path, "db", "upgrade", env=env)
    assert upgraded.returncode == 0
    head = migrate.head_revision()
    assert f"none -> {head}" in upgraded.stdout
    current = run(tmp_path, "db", "current", env=env)
    assert current.returncode == 0
    assert f"current: {head}" in current.stdout


def test_clients_and_users_commands(tmp_path):
    assert run(tmp_path, "db", "upgrade").returncode == 0

    created = run(
        tmp_path, "clients", "create", "--name", "Terraform", "--role", "user", "--client-id", "tf"
    )
    assert created.returncode == 0, created.stderr
    fields = dict(line.split(":", 1) for line in created.stdout.splitlines())
    assert fields["client_id"].strip() == "tf"
    secret = fields["client_secret"].strip()
    assert len(secret) >= 40

    again = run(
        tmp_path, "clients", "create", "--name", "Terraform", "--client-id", "tf", "--role", "user"
    )
    assert again.returncode == 1
    assert "taken" in again.stderr

    listed = run(tmp_path, "clients", "list")
    assert "tf" in listed.stdout
    assert secret not in listed.stdout

    users = run(tmp_path, "users", "list")
    assert "user@pizza.com" in users.stdout
    promoted = run(tmp_path, "users", "set-role", "user@pizza.com", "admin")
    assert promoted.returncode == 0
    assert "role user -> admin" in promoted.stdout
    mismatch = run(tmp_path, "clients", "create", "--name", "x", "--role", "user")
    assert mismatch.returncode == 1
    assert "set-role" in mismatch.stderr
    unknown = run(tmp_path, "users", "set-role", "nobody@example.com", "admin")
    assert unknown.returncode == 1

    assert run(tmp_path, "clients", "delete", "tf").returncode == 0
    assert run(tmp_path, "clients", "delete", "tf").returncode == 1
    assert "tf " not in run(tmp_path, "clients", "list").stdout


def test_token_decode(tmp_path):
    from pizza_api.security import issue_token

    class Owner:
        id, role = 7, "user"

    token = issue_token(
        secret=TEST_JWT_SECRET,
        issuer="pizza-api",
        lifetime=600,
        client_id="c",
        user=Owner,
        scope="read",
    )
    result = run(tmp_path, "token", "decode", token)
    assert result.returncode == 0
    assert '"uid": "7"' in result.stdout
    assert "signature: valid for this JWT_SECRET" in result.stdout

    other = run(
        tmp_path, "token", "decode", "-", env={"JWT_SECRET": "z" * 64}, stdin=f"Bearer {token}\n"
    )
    assert other.returncode == 1
    assert "the signature does not match this JWT_SECRET" in other.stdout

    import jwt

    hs256 = jwt.encode({"uid": "1"}, TEST_JWT_SECRET, algorithm="HS256")
    wrong_algorithm = run(tmp_path, "token", "decode", hs256)
    assert wrong_algorithm.returncode == 1
    assert "algorithm 'HS256'; only HS512 is accepted" in wrong_algorithm.stdout
    assert run(tmp_path, "token", "decode", "--no-verify", hs256).returncode == 0

    assert run(tmp_path, "token", "decode", "not-a-token").returncode == 1


@pytest.mark.parametrize("args", [[], ["db"], ["clients"]])
def test_help_without_action(tmp_path, args):
    result = run(tmp_path, *args)
    assert result.returncode == 2


def test_database_errors_are_one_line(tmp_path):
    missing_schema = run(tmp_path, "users", "list")
    assert missing_schema.returncode == 1
    assert missing_schema.stderr.startswith("error: database command failed: no such table: users")
    assert "Traceback" not in missing_schema.stderr

    unreachable = run(
        tmp_path,
        "serve",
        env={"DATABASE_URL": "postgres://nobody@127.0.0.1:1/x", "APP_PORT": str(free_port())},
    )
    assert unreachable.returncode == 1
    assert len(unreachable.stderr.strip().splitlines()) == 1
    assert "Connection refused" in unreachable.stderr
