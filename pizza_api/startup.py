"""Prepare the database before serving: schema, demo data, bootstrap client."""

import logging

from pizza_api import migrate, seed
from pizza_api.db import Database
from pizza_api.settings import Settings

logger = logging.getLogger(__name__)


def prepare_database(settings: Settings, db: Database) -> None:
    """Bring the schema to head (or check it), then insert start-up data.

    Outside development AUTO_MIGRATE defaults to false: the schema is changed only by
    `pizza-api db upgrade`, and serving an older schema is refused.
    """
    if settings.auto_migrate:
        migrate.upgrade(db)
    else:
        migrate.check_current(db)
    if settings.seed_demo_data:
        seed.seed_demo_data(db, settings)
    seed.bootstrap_client(db, settings)
