"""Engine and sessions from DATABASE_URL, for SQLite, PostgreSQL and MySQL/MariaDB."""

import contextlib
import logging
import typing as t
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from pizza_api.settings import Settings, SettingsError

logger = logging.getLogger(__name__)

# Query parameters of Go drivers that mean nothing to the Python drivers.
_GO_ONLY_PARAMS = {"parseTime", "loc", "timeout", "readTimeout", "writeTimeout"}
SQLITE_BUSY_TIMEOUT_MS = 15000


def sqlalchemy_url(database_url: str) -> URL:
    """Translate the operations guide's URL forms into SQLAlchemy URLs.

    `sqlite://test.sqlite` is a file relative to the working directory and
    `sqlite:///var/lib/x.db` an absolute one; `postgres://` and `mysql://` URLs get
    the psycopg and PyMySQL drivers. URLs that already name a driver pass unchanged.
    """
    scheme, _, rest = database_url.partition("://")
    if not rest:
        raise SettingsError(f"DATABASE_URL {_redact(database_url)!r} is not a URL")
    scheme = scheme.lower()
    if scheme == "sqlite":
        path, _, query = rest.partition("?")
        if not path:
            raise SettingsError(
                "DATABASE_URL sqlite:// needs a file path, e.g. sqlite://data/pizza.sqlite"
            )
        return URL.create("sqlite+pysqlite", database=path, query=dict(parse_qsl(query)))
    if scheme in ("postgres", "postgresql"):
        return make_url("postgresql+psycopg://" + rest)
    if scheme in ("mysql", "mariadb"):
        parts = urlsplit("mysql://" + rest)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in _GO_ONLY_PARAMS]
        if not any(k == "charset" for k, _ in query):
            query.append(("charset", "utf8mb4"))
        rebuilt = urlunsplit(parts._replace(scheme="mysql+pymysql", query=urlencode(query)))
        return make_url(rebuilt)
    if "+" in scheme:
        # An explicit SQLAlchemy driver, e.g. postgresql+psycopg://, is passed through.
        try:
            return make_url(database_url)
        except Exception:
            raise SettingsError(f"DATABASE_URL {_redact(database_url)!r} is not a URL") from None
    raise SettingsError(
        f"DATABASE_URL scheme {scheme!r} is not supported; use sqlite://, postgres:// or mysql://"
    )


def _redact(database_url: str) -> str:
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:
        return database_url.split("@")[-1]


def driver_name(url: URL) -> str:
    """Return the database kind as /health reports it: sqlite, postgres or mysql."""
    backend = url.get_backend_name()
    return {"postgresql": "postgres", "mariadb": "mysql"}.get(backend, backend)


def create_db_engine(settings: Settings) -> Engine:
    url = sqlalchemy_url(settings.database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            try:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                # Serve anyway: readiness and every query will report the database as down.
                logger.error(
                    "sqlite_directory_unusable", extra={"path": url.database, "error": str(exc)}
                )
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_recycle=settings.db_pool_recycle,
            pool_pre_ping=False,
        )
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    connect_args: dict[str, t.Any] = {}
    if backend == "postgresql":
        connect_args["connect_timeout"] = settings.db_connect_timeout
    elif backend in ("mysql", "mariadb"):
        connect_args["connect_timeout"] = settings.db_connect_timeout
    return create_engine(
        url,
        connect_args=connect_args,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=True,
        pool_timeout=10,
    )


def _configure_sqlite(dbapi_connection, _record) -> None:
    # pysqlite's own transaction handling is disabled so that `_begin_immediate`
    # can take the write lock at BEGIN: a deferred transaction that later needs
    # to write cannot wait on busy_timeout and fails with "database is locked".
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # SQLite's own lower() folds only ASCII letters; Python's folds all of Unicode, as
    # PostgreSQL's and MariaDB's do, so the name filter matches alike everywhere.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: t.Any) -> t.Any:
    return value.lower() if isinstance(value, str) else value


def _begin_immediate(connection) -> None:
    read_only = connection.get_execution_options().get("read_only", False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class Database:
    """The engine and session factories of one process."""

    def __init__(self, settings: Settings) -> None:
        self.url = sqlalchemy_url(settings.database_url)
        self.driver = driver_name(self.url)
        self.engine = create_db_engine(settings)
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        # On SQLite a read-only transaction starts with a plain BEGIN, so readers
        # never queue for the write lock; other backends ignore the option.
        self._reader = sessionmaker(
            self.engine.execution_options(read_only=True), expire_on_commit=False
        )

    @contextlib.contextmanager
    def session(self, *, read_only: bool = False) -> t.Iterator[Session]:
        """Open a session in one transaction: committed on success, rolled back on error."""
        factory = self._reader if read_only else self._writer
        with factory.begin() as session:
            yield session

    def ping(self) -> bool:
        """Return True when the database responds to `SELECT 1`."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception as exc:  # any driver error means "not reachable"
            logger.warning("database_ping_failed", extra={"error_type": type(exc).__name__})
            return False

    def dispose(self) -> None:
        self.engine.dispose()
