"""Alembic migrations on every backend: concurrent upgrades, round trips, model drift."""

import os
import subprocess
import sys

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from pizza_api import migrate
from pizza_api.db import Database
from pizza_api.models import Base
from tests.conftest import BACKENDS, make_settings

UPGRADERS = 6
APP_TABLES = {"app_meta", "users", "oauth_clients", "pizzas"}


def user_tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names())


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_concurrent_upgrades_migrate_once(database_url, tmp_path):
    env = {**os.environ, "APP_ENV": "development", "DATABASE_URL": database_url}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pizza_api.cli", "db", "upgrade"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(UPGRADERS)
    ]
    results = [(process.wait(timeout=120), *process.communicate()) for process in processes]

    for returncode, _, stderr in results:
        assert returncode == 0, stderr
    head = migrate.head_revision()
    outputs = sorted(stdout.strip() for _, stdout, _ in results)
    assert outputs.count(f"schema revision: none -> {head}") == 1, outputs
    assert outputs.count(f"schema revision: {head} -> {head}") == UPGRADERS - 1, outputs

    db = Database(make_settings(database_url))
    try:
        assert migrate.current_revision(db) == head
        with db.engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert versions == [(head,)]
        assert APP_TABLES <= user_tables(db)
    finally:
        db.dispose()


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_upgrade_waits_for_lock(database_url):
    db = Database(make_settings(database_url))
    try:
        with db.engine.connect() as holder, migrate.migration_lock(holder, 5):
            # SQLite's lock is the upgrade transaction itself, so the holder writes.
            if holder.dialect.name == "sqlite":
                holder.begin()
                holder.execute(text("CREATE TABLE lock_probe (id INTEGER)"))
            with pytest.raises(migrate.MigrationLockTimeout, match="migration lock"):
                migrate.upgrade(db, lock_timeout=1)
            if holder.dialect.name == "sqlite":
                holder.rollback()
        assert migrate.upgrade(db) == (None, migrate.head_revision())
    finally:
        db.dispose()


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_migrations_round_trip(database_url):
    db = Database(make_settings(database_url))
    head = migrate.head_revision()
    try:
        assert migrate.upgrade(db) == (None, head)
        assert APP_TABLES <= user_tables(db)

        with db.engine.begin() as connection:
            command.downgrade(migrate.alembic_config(connection), "base")
        assert migrate.current_revision(db) is None
        assert user_tables(db) & APP_TABLES == set()

        assert migrate.upgrade(db) == (None, head)
        assert APP_TABLES <= user_tables(db)
    finally:
        db.dispose()


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_migrated_schema_matches_models(database_url):
    db = Database(make_settings(database_url))
    try:
        migrate.upgrade(db)
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
        assert differences == []
    finally:
        db.dispose()
