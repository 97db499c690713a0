"""Schema migrations with Alembic, applied by `pizza-api db upgrade`."""

import logging
import typing as t
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from pizza_api.db import Database

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class SchemaError(RuntimeError):
    """The database schema is not at the revision this code expects."""


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


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str]:
    """Apply migrations up to `revision`; return (revision before, revision after)."""
    before = current_revision(db)
    with db.engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)
    after = current_revision(db)
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
