import pytest

from pizza_api.db import sqlalchemy_url
from pizza_api.settings import Settings, SettingsError

STRONG = "s" * 48


def test_development_defaults():
    settings = Settings.from_env({})
    assert settings.app_env == "development"
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.log_level == "debug"
    assert settings.jwt_expiration == 3600
    assert settings.database_url == "sqlite://data/pizza-api.sqlite"
    assert len(settings.jwt_secret) >= 64


@pytest.mark.parametrize("app_env", ["staging", "production"])
def test_jwt_secret_required_outside_development(app_env):
    with pytest.raises(SettingsError, match="JWT_SECRET is required.*secrets.token_urlsafe"):
        Settings.from_env({"APP_ENV": app_env})
    with pytest.raises(SettingsError, match="at least 32"):
        Settings.from_env({"APP_ENV": app_env, "JWT_SECRET": "short"})
    with pytest.raises(SettingsError, match="newline"):
        Settings.from_env({"APP_ENV": app_env, "JWT_SECRET": STRONG + "\n"})
    assert Settings.from_env({"APP_ENV": app_env, "JWT_SECRET": "x" * 32}).jwt_secret == "x" * 32


def test_environment_log_levels():
    assert Settings.from_env({"APP_ENV": "staging", "JWT_SECRET": STRONG}).log_level == "info"
    assert Settings.from_env({"APP_ENV": "production", "JWT_SECRET": STRONG}).log_level == "warning"
    assert Settings.from_env({"LOG_LEVEL": "WARN"}).log_level == "warning"
    assert (
        Settings.from_env(
            {"APP_ENV": "production", "JWT_SECRET": STRONG, "LOG_LEVEL": "debug"}
        ).log_level
        == "debug"
    )


@pytest.mark.parametrize(
    "env, message",
    [
        ({"APP_ENV": "prod"}, "APP_ENV"),
        ({"APP_PORT": "80a"}, "APP_PORT"),
        ({"APP_PORT": "70000"}, "APP_PORT"),
        ({"JWT_EXPIRATION": "10"}, "JWT_EXPIRATION"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"DB_MAX_OPEN_CONNS": "2", "DB_MAX_IDLE_CONNS": "5"}, "DB_MAX_OPEN_CONNS"),
        ({"BOOTSTRAP_CLIENT_SECRET": "x" * 73}, "BOOTSTRAP_CLIENT_SECRET"),
        ({"DB_DRIVER": "oracle"}, "DB_DRIVER"),
    ],
)
def test_invalid_settings_rejected(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_empty_variables_count_as_unset():
    assert Settings.from_env({"APP_PORT": "", "APP_ENV": ""}).port == 8080


def test_pool_settings():
    settings = Settings.from_env({"DB_MAX_OPEN_CONNS": "30", "DB_MAX_IDLE_CONNS": "4"})
    assert settings.db_pool_size == 4
    assert settings.db_max_overflow == 26
    assert Settings.from_env({}).db_pool_recycle == 300


@pytest.mark.parametrize(
    "url, rendered",
    [
        ("sqlite://test.sqlite", "sqlite+pysqlite:///test.sqlite"),
        ("sqlite:///var/lib/pizza.db", "sqlite+pysqlite:////var/lib/pizza.db"),
        (
            "postgres://u:p@db:5432/pizza?sslmode=require",
            "postgresql+psycopg://u:***@db:5432/pizza?sslmode=require",
        ),
        ("postgresql://u@db/pizza", "postgresql+psycopg://u@db/pizza"),
        (
            "mysql://u:p@db:3306/pizza?parseTime=true",
            "mysql+pymysql://u:***@db:3306/pizza?charset=utf8mb4",
        ),
    ],
)
def test_database_url_forms(url, rendered):
    assert sqlalchemy_url(url).render_as_string(hide_password=True) == rendered


def test_database_url_from_original_variables():
    env = {
        "DB_DRIVER": "postgres",
        "DB_HOST": "pg",
        "DB_USER": "app",
        "DB_PASSWORD": "p@ss",
        "DB_NAME": "pz",
    }
    assert Settings.from_env(env).database_url == "postgres://app:p%40ss@pg:5432/pz?sslmode=disable"
    assert Settings.from_env({"DB_PATH": "x.sqlite"}).database_url == "sqlite://x.sqlite"


def test_settings_repr_hides_secrets():
    settings = Settings.from_env({"BOOTSTRAP_CLIENT_SECRET": "bootstrap-secret-value"})
    assert "bootstrap-secret-value" not in repr(settings)
    assert settings.jwt_secret not in repr(settings)


@pytest.mark.parametrize("url", ["foo://x", "oracle://u@h/db", "not a url"])
def test_unsupported_database_url_rejected(url):
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        sqlalchemy_url(url)
