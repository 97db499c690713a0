"""`pizza-api db backup` and `db restore` on SQLite, PostgreSQL and MariaDB."""

import contextlib
import sqlite3
import subprocess
import threading

import pytest
from sqlalchemy import select

from pizza_api import backup, cli, migrate, pizzas
from pizza_api.db import Database
from pizza_api.models import Pizza, User
from pizza_api.startup import prepare_database
from tests.conftest import BACKENDS, make_settings

PIZZAS = [
    {"name": "Margherita", "price": 8.5, "ingredients": ["tomato", "mozzarella"]},
    {"name": "Funghi", "price": 9.0, "description": "Mushrooms", "ingredients": ["mushroom"]},
    {"name": "Quattro «Formaggi»", "price": 11.25, "ingredients": []},
]


def prepared_database(database_url: str) -> Database:
    settings = make_settings(database_url)
    db = Database(settings)
    prepare_database(settings, db)
    return db


def add_pizzas(db: Database) -> list[dict]:
    with db.session() as session:
        owner = session.scalars(select(User).order_by(User.id)).first()
        caller = {"uid": owner.id, "role": owner.role}
        created = [pizzas.create_pizza(session, caller, fields) for fields in PIZZAS]
        pizzas.delete_pizza(session, caller, created[1].id)
    return read_pizzas(db)


def read_pizzas(db: Database) -> list[dict]:
    with db.session(read_only=True) as session:
        rows = session.scalars(select(Pizza).order_by(Pizza.id))
        return [
            {**pizzas.to_dict(pizza), "deleted": pizza.deleted_at is not None} for pizza in rows
        ]


def run_cli(monkeypatch, database_url: str, *args: str) -> int:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("APP_ENV", "development")
    return cli.main(["db", *args])


def empty_database_url(request, backend: str, tmp_path) -> str:
    if backend == "postgres":
        return request.getfixturevalue("postgres_databases").create()
    if backend == "mysql":
        return request.getfixturevalue("mysql_databases").create()
    return f"sqlite://{tmp_path}/restored/pizza.sqlite"


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_backup_restore_into_empty(database_url, request, tmp_path, monkeypatch, capsys):
    backend = request.node.callspec.params["database_url"]
    source = prepared_database(database_url)
    seeded = len(read_pizzas(source))
    original = add_pizzas(source)
    assert len(original) == seeded + len(PIZZAS)
    backup_path = tmp_path / "backups" / "pizza.backup"

    assert run_cli(monkeypatch, database_url, "backup", str(backup_path)) == 0
    assert backup_path.stat().st_size > 0
    assert f"backup written to {backup_path}" in capsys.readouterr().out

    target_url = empty_database_url(request, backend, tmp_path)
    assert run_cli(monkeypatch, target_url, "restore", str(backup_path)) == 0
    assert f"schema revision {migrate.head_revision()}" in capsys.readouterr().out

    target = Database(make_settings(target_url))
    try:
        assert read_pizzas(target) == original
        assert [pizza["deleted"] for pizza in original[seeded:]] == [False, True, False]
    finally:
        target.dispose()
        source.dispose()


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_restore_rejects_non_empty(database_url, tmp_path, monkeypatch, capsys):
    db = prepared_database(database_url)
    original = add_pizzas(db)
    backup_path = tmp_path / "pizza.backup"
    assert run_cli(monkeypatch, database_url, "backup", str(backup_path)) == 0
    with db.session() as session:
        owner = session.scalars(select(User)).first()
        pizzas.create_pizza(session, {"uid": owner.id, "role": "admin"}, {"name": "X", "price": 1})
    capsys.readouterr()

    assert run_cli(monkeypatch, database_url, "restore", str(backup_path)) == 1
    assert "pass --force" in capsys.readouterr().err
    assert len(read_pizzas(db)) == len(original) + 1

    assert run_cli(monkeypatch, database_url, "restore", "--force", str(backup_path)) == 0
    assert read_pizzas(db) == original
    db.dispose()


def test_backup_does_not_overwrite(tmp_path, monkeypatch, capsys):
    database_url = f"sqlite://{tmp_path}/pizza.sqlite"
    prepared_database(database_url).dispose()
    backup_path = tmp_path / "pizza.backup"
    backup_path.write_text("older backup")

    assert run_cli(monkeypatch, database_url, "backup", str(backup_path)) == 1
    assert "already exists" in capsys.readouterr().err
    assert backup_path.read_text() == "older backup"
    assert run_cli(monkeypatch, database_url, "backup", "--force", str(backup_path)) == 0
    assert backup_path.read_bytes().startswith(b"SQLite format 3\x00")


def test_restore_rejects_foreign_file(tmp_path, monkeypatch, capsys):
    not_a_backup = tmp_path / "notes.sqlite"
    with contextlib.closing(sqlite3.connect(not_a_backup)) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
        connection.commit()
    target_url = f"sqlite://{tmp_path}/target.sqlite"

    assert run_cli(monkeypatch, target_url, "restore", str(not_a_backup)) == 1
    assert "not a pizza-api backup" in capsys.readouterr().err


def test_sqlite_backup_during_writes(tmp_path):
    database_url = f"sqlite://{tmp_path}/live.sqlite"
    db = prepared_database(database_url)
    stop = threading.Event()
    written = []

    def write() -> None:
        while not stop.is_set():
            with db.session() as session:
                owner = session.scalars(select(User)).first()
                caller = {"uid": owner.id, "role": "admin"}
                pizza_id = pizzas.create_pizza(session, caller, {"name": "Live", "price": 2}).id
            # Recorded only once committed, so every id listed is in the database.
            written.append(pizza_id)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(written) < 20:
            threading.Event().wait(0.01)
        backup.backup(database_url, tmp_path / "live.backup")
        copied_after = len(written)
    finally:
        stop.set()
        writer.join()
        db.dispose()

    with contextlib.closing(sqlite3.connect(tmp_path / "live.backup")) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        query = "SELECT id FROM pizzas WHERE name = 'Live' ORDER BY id"
        ids = [row[0] for row in connection.execute(query)]
    # The copy is a snapshot: a prefix of the committed ids, without gaps.
    assert 20 <= len(ids) <= copied_after
    assert ids == written[: len(ids)]


@pytest.mark.postgres
def test_postgres_plain_format_with_password(postgres_databases, tmp_path, monkeypatch):
    # The server trusts local connections, so it accepts any password and the test
    # can follow where the URL's password goes.
    database_url = postgres_databases.create().replace("postgres@", "postgres:pw-Xq7%40z@", 1)
    source = prepared_database(database_url)
    original = add_pizzas(source)
    source.dispose()
    calls = []
    real_run = subprocess.run

    def recording_run(command, **kwargs):
        calls.append((command, kwargs.get("env") or {}))
        return real_run(command, **kwargs)

    monkeypatch.setattr(subprocess, "run", recording_run)
    backup_path = tmp_path / "pg.sql"
    backup.backup(database_url, backup_path, pg_format="plain")
    target_url = postgres_databases.create().replace("postgres@", "postgres:pw-Xq7%40z@", 1)
    backup.restore(target_url, backup_path)

    assert [command[0] for command, _ in calls] == ["pg_dump", "psql"]
    for command, env in calls:
        assert not any("pw-Xq7" in part for part in command)
        assert env["PGPASSWORD"] == "pw-Xq7@z"
    assert "CREATE TABLE public.pizzas" in backup_path.read_text()
    target = Database(make_settings(target_url))
    try:
        assert read_pizzas(target) == original
    finally:
        target.dispose()
