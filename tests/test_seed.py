import threading

import pytest
from sqlalchemy import func, select

from pizza_api import seed
from pizza_api.db import Database
from pizza_api.models import OAuthClient, Pizza, User
from pizza_api.security import verify_secret
from pizza_api.startup import prepare_database
from tests.conftest import BACKENDS, make_settings


def count(db, model, *where):
    with db.session(read_only=True) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_demo_data_seeded_once(db, settings):
    assert count(db, Pizza) == 3
    assert count(db, User) == 2
    assert count(db, OAuthClient) == 2

    with db.session() as session:
        for pizza in session.scalars(select(Pizza)):
            session.delete(pizza)
    prepare_database(settings, db)
    assert count(db, Pizza) == 0
    assert seed.seed_demo_data(db, settings) is False


@pytest.mark.parametrize("app_env", ["staging", "production"])
def test_no_demo_data_outside_development(tmp_path, app_env):
    settings = make_settings(f"sqlite://{tmp_path}/p.sqlite", app_env=app_env, seed_demo_data=False)
    db = Database(settings)
    prepare_database(settings, db)
    assert count(db, Pizza) == 0
    assert count(db, OAuthClient) == 0


def test_settings_disable_demo_data_outside_development():
    from pizza_api.settings import Settings

    env = {"APP_ENV": "production", "JWT_SECRET": "p" * 64, "SEED_DEMO_DATA": "true"}
    assert Settings.from_env(env).seed_demo_data is False
    assert Settings.from_env({"APP_ENV": "development"}).seed_demo_data is True


def test_bootstrap_client_lifecycle(tmp_path):
    settings = make_settings(
        f"sqlite://{tmp_path}/p.sqlite",
        app_env="production",
        seed_demo_data=False,
        bootstrap_client_secret="first-bootstrap-secret",
    )
    db = Database(settings)
    prepare_database(settings, db)
    assert seed.bootstrap_client(db, settings) == "unchanged"
    with db.session(read_only=True) as session:
        client = session.get(OAuthClient, "admin-client")
        owner = session.get(User, client.user_id)
    assert owner.email == "system@pizza.com"
    assert owner.role == "admin"
    assert verify_secret("first-bootstrap-secret", client.secret_hash)

    rotated = make_settings(
        settings.database_url,
        app_env="production",
        seed_demo_data=False,
        bootstrap_client_secret="second-bootstrap-secret",
    )
    assert seed.bootstrap_client(db, rotated) == "rotated"
    with db.session(read_only=True) as session:
        assert verify_secret(
            "second-bootstrap-secret", session.get(OAuthClient, "admin-client").secret_hash
        )

    from pizza_api import clients

    with db.session() as session:
        clients.delete_client(session, "admin-client", owner_id=None)
    assert seed.bootstrap_client(db, rotated) == "deleted"


def test_bootstrap_skipped_without_secret(db, settings):
    assert seed.bootstrap_client(db, settings) is None
    assert count(db, OAuthClient, OAuthClient.id == "admin-client") == 0


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_concurrent_startups_create_one_of_each(database_url):
    settings = make_settings(database_url, bootstrap_client_secret="concurrent-bootstrap")
    databases = [Database(settings) for _ in range(4)]
    from pizza_api import migrate

    migrate.upgrade(databases[0])
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(databases))

    def start(db):
        try:
            barrier.wait()
            seed.seed_demo_data(db, settings)
            seed.bootstrap_client(db, settings)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(db,)) for db in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    db = databases[0]
    assert count(db, Pizza) == 3
    assert count(db, User) == 2
    assert count(db, OAuthClient) == 3
    for database in databases:
        database.dispose()
