"""Back up and restore the database: `pizza-api db backup PATH` and `db restore PATH`.

SQLite uses the online backup API, so a database in use is copied consistently.
PostgreSQL uses pg_dump with pg_restore or psql, and MySQL/MariaDB mysqldump and
mysql. Credentials reach those tools through the environment (PGPASSWORD) or a
private option file, never through the command line, where `ps` would show them.
"""

import contextlib
import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
import typing as t
from pathlib import Path

from sqlalchemy import MetaData, create_engine, inspect
from sqlalchemy.engine import URL

from pizza_api.db import sqlalchemy_url

logger = logging.getLogger(__name__)

POSTGRES_FORMATS = ("custom", "plain")
# pg_dump's custom format files start with these bytes; anything else is taken as SQL.
PG_CUSTOM_MAGIC = b"PGDMP"
# libpq environment variables for query parameters of a PostgreSQL URL.
_LIBPQ_QUERY_ENV = {
    "host": "PGHOST",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
}


class BackupError(RuntimeError):
    """A backup or restore failed; the message names the cause and the fix."""


def backup(database_url: str, path: Path, *, pg_format: str = "custom", force: bool = False) -> int:
    """Write a backup of the database to `path` and return its size in bytes.

    The backup goes to a temporary file next to `path` first, so a failed run
    never leaves a truncated backup under the final name.
    """
    url = sqlalchemy_url(database_url)
    path = Path(path)
    if path.exists() and not force:
        raise BackupError(f"{path} already exists; choose another path or pass --force")
    if pg_format not in POSTGRES_FORMATS:
        raise BackupError(f"format {pg_format!r} is invalid; use one of {POSTGRES_FORMATS}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    backend = url.get_backend_name()
    try:
        if backend == "sqlite":
            _sqlite_backup(_sqlite_path(url), partial)
        elif backend == "postgresql":
            _run(
                [
                    "pg_dump",
                    f"--format={pg_format}",
                    "--no-owner",
                    "--no-privileges",
                    "--file",
                    str(partial),
                ],
                env=_postgres_env(url),
            )
        elif backend in ("mysql", "mariadb"):
            with _mysql_options(url) as options:
                _run(
                    [
                        "mysqldump",
                        f"--defaults-extra-file={options}",
                        "--single-transaction",
                        "--routines",
                        "--triggers",
                        "--no-tablespaces",
                        "--default-character-set=utf8mb4",
                        f"--result-file={partial}",
                        url.database or "",
                    ]
                )
        else:
            raise BackupError(f"backups of {backend} databases are not supported")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    size = path.stat().st_size
    logger.info("backup_written", extra={"path": str(path), "bytes": size, "backend": backend})
    return size


def restore(database_url: str, path: Path, *, force: bool = False) -> None:
    """Load the backup at `path` into the database, which must be empty unless `force`.

    With `force` every table of the target is dropped first, so the result contains
    exactly the backup's content.
    """
    url = sqlalchemy_url(database_url)
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"backup file {path} not found")
    backend = url.get_backend_name()
    if backend == "sqlite":
        _sqlite_restore(path, _sqlite_path(url), force=force)
    elif backend == "postgresql":
        _clear_or_reject(url, force)
        with open(path, "rb") as stream:
            custom = stream.read(len(PG_CUSTOM_MAGIC)) == PG_CUSTOM_MAGIC
        if custom:
            command = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error"]
            command += ["--single-transaction", "--dbname", url.database or "", str(path)]
        else:
            command = ["psql", "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1"]
            command += ["--single-transaction", "--file", str(path)]
        _run(command, env=_postgres_env(url))
    elif backend in ("mysql", "mariadb"):
        _clear_or_reject(url, force)
        with _mysql_options(url) as options, open(path, "rb") as stream:
            _run(
                [
                    "mysql",
                    f"--defaults-extra-file={options}",
                    "--default-character-set=utf8mb4",
                    url.database or "",
                ],
                stdin=stream,
            )
    else:
        raise BackupError(f"restores into {backend} databases are not supported")
    logger.info("backup_restored", extra={"path": str(path), "backend": backend})


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("DATABASE_URL names no SQLite file to back up or restore")
    return Path(url.database)


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupError(f"SQLite database {source} not found; check DATABASE_URL")
    with contextlib.closing(sqlite3.connect(source, timeout=15)) as src:
        with contextlib.closing(sqlite3.connect(target)) as dst:
            # The backup API copies a consistent snapshot while other processes keep
            # writing. The copy gets rollback-journal mode, so it is one file.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")


def _sqlite_restore(backup_path: Path, target: Path, *, force: bool) -> None:
    with contextlib.closing(sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)) as src:
        try:
            tables = _sqlite_tables(src)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{backup_path} is not an SQLite database: {exc}") from None
        if "alembic_version" not in tables:
            raise BackupError(f"{backup_path} is not a pizza-api backup: it has no schema revision")
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(target, timeout=15)) as dst:
            if _sqlite_tables(dst) and not force:
                raise BackupError(
                    f"{target} already has tables; restore into an empty database "
                    "or pass --force to replace its content"
                )
            # The backup API replaces every page of the target in one step.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")


def _sqlite_tables(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    return [name for (name,) in rows]


def _clear_or_reject(url: URL, force: bool) -> None:
    """Reject a target with tables, or drop them all when `force` is set."""
    engine = create_engine(url)
    try:
        tables = inspect(engine).get_table_names()
        if not tables:
            return
        if not force:
            raise BackupError(
                f"database {url.database} already has {len(tables)} tables; restore into an "
                "empty database or pass --force to replace its content"
            )
        metadata = MetaData()
        metadata.reflect(engine)
        metadata.drop_all(engine)
        logger.warning("restore_dropped_tables", extra={"tables": sorted(tables)})
    finally:
        engine.dispose()


def _postgres_env(url: URL) -> dict[str, str]:
    env = dict(os.environ)
    values = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    for key, name in _LIBPQ_QUERY_ENV.items():
        value = url.query.get(key)
        values[name] = value if isinstance(value, str) or value is None else value[0]
    env.update({name: value for name, value in values.items() if value})
    return env


@contextlib.contextmanager
def _mysql_options(url: URL) -> t.Iterator[str]:
    """Yield the path of a private option file with the URL's connection settings."""
    lines = ["[client]"]
    if url.host:
        lines.append(f"host={_option_value(url.host)}")
    if url.port:
        lines.append(f"port={url.port}")
    if url.username:
        lines.append(f"user={_option_value(url.username)}")
    if url.password:
        lines.append(f"password={_option_value(url.password)}")
    # mkstemp creates the file readable by this user only (mode 0600).
    handle, name = tempfile.mkstemp(prefix="pizza-api-mysql-", suffix=".cnf")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write("\n".join(lines) + "\n")
        yield name
    finally:
        os.unlink(name)


def _option_value(value: str) -> str:
    # Option files unescape backslashes and quotes inside double quotes.
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _run(command: list[str], *, env: dict | None = None, stdin: t.Any = None) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(
            f"{command[0]} not found on PATH; install the database's client tools "
            "(postgresql-client or mariadb-client) in the same major version as the server"
        )
    result = subprocess.run(command, env=env, stdin=stdin, capture_output=True)
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        message = detail[-1] if detail else f"exit status {result.returncode}"
        raise BackupError(f"{command[0]} failed: {message}")
