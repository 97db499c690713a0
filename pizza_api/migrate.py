"""Schema migrations with Alembic, applied by `pizza-api db upgrade`."""

import contextlib
import hashlib
import logging
import typing as t
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from pizza_api.db import SQLITE_BUSY_TIMEOUT_MS, Database

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Seconds a replica waits for another one's migrations before giving up.
MIGRATION_LOCK_TIMEOUT = 300.0
# PostgreSQL advisory lock key: the first 8 bytes of sha256(b"pizza_api.migrate") as a signed int64.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"pizza_api.migrate").digest()[:8], "big", signed=True
)


class SchemaError(RuntimeError):
    """The database schema is not at the revision this code expects."""


class MigrationLockTimeout(SchemaError):
    """Another process held the migration lock for longer than the timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__(
            f"timed out after {timeout:g} s waiting for the migration lock held by another "
            "`pizza-api db upgrade` or server start; retry once it has finished"
        )


def alembic_config(connection: t.Any = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(
    db: Database, revision: str = "head", *, lock_timeout: float = MIGRATION_LOCK_TIMEOUT
) -> tuple[str | None, str]:
    """Apply migrations up to `revision`; return (revision before, revision after).

    A database-wide lock makes replicas that start together migrate one at a time:
    the first applies the migrations and the others find the schema current.
    """
    with db.engine.connect() as connection, migration_lock(connection, lock_timeout):
        with connection.begin():
            before = MigrationContext.configure(connection).get_current_revision()
            command.upgrade(alembic_config(connection), revision)
            after = MigrationContext.configure(connection).get_current_revision()
    if before != after:
        logger.info("schema_upgraded", extra={"from_revision": before, "to_revision": after})
    return before, after


def check_current(db: Database) -> None:
    """Raise SchemaError unless the schema is at the head revision."""
    current, head = current_revision(db), head_revision()
    if current != head:
        raise SchemaError(
            f"database schema is at revision {current or 'none (empty database)'}, "
            f"this release needs {head}; run `pizza-api db upgrade` first"
        )


@contextlib.contextmanager
def migration_lock(connection: Connection, timeout: float) -> t.Iterator[None]:
    """Hold the migration lock of the connection's database; raise MigrationLockTimeout.

    PostgreSQL uses a session advisory lock and MySQL/MariaDB a named lock, both
    released by the database if the process dies. SQLite has no named locks, so
    the caller's upgrade transaction is the lock: it starts with `BEGIN IMMEDIATE`,
    which waits up to `timeout` for another writer.
    """
    backend = connection.dialect.name
    if backend == "postgresql":
        with _postgres_lock(connection, timeout):
            yield
    elif backend in ("mysql", "mariadb"):
        with _mysql_lock(connection, timeout):
            yield
    elif backend == "sqlite":
        with _sqlite_lock(connection, timeout):
            yield
    else:
        yield


@contextlib.contextmanager
def _postgres_lock(connection: Connection, timeout: float) -> t.Iterator[None]:
    # lock_timeout also bounds pg_advisory_lock; set_config(..., true) lasts one transaction.
    milliseconds = max(1, int(timeout * 1000))
    connection.execute(
        text("SELECT set_config('lock_timeout', :value, true)"), {"value": f"{milliseconds}ms"}
    )
    try:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    except OperationalError as exc:
        connection.rollback()
        if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
            raise MigrationLockTimeout(timeout) from None
        raise
    connection.commit()
    try:
        yield
    finally:
        connection.rollback()
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        connection.commit()


@contextlib.contextmanager
def _mysql_lock(connection: Connection, timeout: float) -> t.Iterator[None]:
    # GET_LOCK names are server-wide, so the name includes the database.
    database = connection.exec_driver_sql("SELECT DATABASE()").scalar()
    name = f"pizza_api_migrate.{database}"[:64]
    acquired = connection.execute(
        text("SELECT GET_LOCK(:name, :timeout)"), {"name": name, "timeout": max(0, int(timeout))}
    ).scalar()
    connection.commit()
    if acquired != 1:
        raise MigrationLockTimeout(timeout)
    try:
        yield
    finally:
        connection.rollback()
        connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})
        connection.commit()


@contextlib.contextmanager
def _sqlite_lock(connection: Connection, timeout: float) -> t.Iterator[None]:
    # The engine starts writing transactions with BEGIN IMMEDIATE (see pizza_api.db),
    # so the caller's transaction holds the write lock from BEGIN to COMMIT. The busy
    # timeout of this connection is raised meanwhile, so BEGIN waits up to `timeout`.
    raw = connection.connection.dbapi_connection
    raw.execute(f"PRAGMA busy_timeout={max(1, int(timeout * 1000))}")
    try:
        yield
    except OperationalError as exc:
        if "database is locked" in str(exc.orig):
            raise MigrationLockTimeout(timeout) from None
        raise
    finally:
        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
