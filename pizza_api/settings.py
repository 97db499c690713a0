"""Settings read from the environment and checked for the chosen APP_ENV."""

import dataclasses
import os
from collections.abc import Mapping

ENVIRONMENTS = ("development", "staging", "production")

# Log level per environment when LOG_LEVEL is not set.
DEFAULT_LOG_LEVELS = {"development": "debug", "staging": "info", "production": "warning"}
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

MIN_JWT_SECRET_LENGTH = 32
# Used only in development so that `make run` works with no configuration at all.
DEVELOPMENT_JWT_SECRET = "development-only-jwt-secret-never-use-it-in-staging-or-production-0001"
JWT_SECRET_HINT = "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"

DEFAULT_DATABASE_URL = "sqlite://data/pizza-api.sqlite"


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the variable and the fix."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Immutable service configuration; `Settings.from_env()` builds it from variables."""

    app_env: str = "development"
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "debug"
    log_format: str = "text"
    # Secrets and URLs that may carry a password stay out of repr() and logs.
    database_url: str = dataclasses.field(default=DEFAULT_DATABASE_URL, repr=False)
    jwt_secret: str = dataclasses.field(default=DEVELOPMENT_JWT_SECRET, repr=False)
    jwt_expiration: int = 3600
    jwt_issuer: str = "pizza-api"
    bootstrap_client_id: str = "admin-client"
    bootstrap_client_secret: str = dataclasses.field(default="", repr=False)
    bcrypt_rounds: int = 10
    workers: int = 2
    db_pool_size: int = 5
    db_max_overflow: int = 20
    db_pool_recycle: int = 300
    db_connect_timeout: int = 5
    max_body_bytes: int = 65536
    validate_responses: bool = False
    auto_migrate: bool = True
    seed_demo_data: bool = True
    rate_limit_enabled: bool = True
    rate_limit_storage: str = dataclasses.field(default="memory://", repr=False)
    rate_limit_key_prefix: str = "pizza-api"
    rate_limit_token_per_client: str = "20/minute"
    rate_limit_token_per_address: str = "60/minute"
    rate_limit_api_per_client: str = "600/minute"
    bcrypt_concurrency: int = 2
    cors_allowed_origins: tuple = ()
    cors_allow_credentials: bool = False
    public_cache_max_age: int = 0
    idempotency_ttl: int = 86400
    # One access log line per request, whatever log_level is.
    log_access: bool = True
    sentry_dsn: str = dataclasses.field(default="", repr=False)

    @property
    def is_development(self) -> bool:
        return self.app_env == "development"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Read settings from `environ` (default: os.environ) and check them.

        An empty variable counts as unset, as in the original service.
        """
        env = {k: v for k, v in (os.environ if environ is None else environ).items() if v != ""}
        app_env = env.get("APP_ENV", "development").lower()
        if app_env not in ENVIRONMENTS:
            raise SettingsError(
                f"APP_ENV={app_env!r} is invalid; use one of {', '.join(ENVIRONMENTS)}"
            )
        development = app_env == "development"

        log_level = env.get("LOG_LEVEL", DEFAULT_LOG_LEVELS[app_env]).lower()
        if log_level == "warn":
            log_level = "warning"
        if log_level not in LOG_LEVELS:
            raise SettingsError(
                f"LOG_LEVEL={log_level!r} is invalid; use one of {', '.join(LOG_LEVELS)}"
            )
        log_format = env.get("LOG_FORMAT", "text" if development else "json").lower()
        if log_format not in ("text", "json"):
            raise SettingsError(f"LOG_FORMAT={log_format!r} is invalid; use text or json")

        values = dict(
            app_env=app_env,
            host=env.get("APP_HOST", "127.0.0.1"),
            port=_int(env, "APP_PORT", 8080, 1, 65535),
            log_level=log_level,
            log_format=log_format,
            database_url=database_url_from_env(env),
            jwt_secret=_jwt_secret(env, development),
            jwt_expiration=_int(env, "JWT_EXPIRATION", 3600, 60, 7 * 24 * 3600),
            jwt_issuer=env.get("JWT_ISSUER", "pizza-api"),
            bootstrap_client_id=env.get("BOOTSTRAP_CLIENT_ID", "admin-client"),
            bootstrap_client_secret=_bootstrap_secret(env),
            bcrypt_rounds=_int(env, "BCRYPT_ROUNDS", 10, 4, 16),
            workers=_int(env, "WEB_CONCURRENCY", 2, 1, 64),
            db_pool_size=_int(env, "DB_MAX_IDLE_CONNS", 5, 1, 1000),
            db_pool_recycle=_int(env, "DB_CONN_MAX_LIFETIME", 300, 1, 86400),
            db_connect_timeout=_int(env, "DB_CONNECT_TIMEOUT", 5, 1, 300),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 65536, 1024, 64 * 1024 * 1024),
            validate_responses=_bool(env, "VALIDATE_RESPONSES", False),
            auto_migrate=_bool(env, "AUTO_MIGRATE", development),
            seed_demo_data=development and _bool(env, "SEED_DEMO_DATA", True),
            log_access=_bool(env, "LOG_ACCESS", True),
            sentry_dsn=env.get("SENTRY_DSN", ""),
        )
        values.update(_http_settings(env))
        max_open = _int(env, "DB_MAX_OPEN_CONNS", 25, 1, 1000)
        if max_open < values["db_pool_size"]:
            raise SettingsError(
                f"DB_MAX_OPEN_CONNS={max_open} is below DB_MAX_IDLE_CONNS="
                f"{values['db_pool_size']}; raise DB_MAX_OPEN_CONNS"
            )
        values["db_max_overflow"] = max_open - values["db_pool_size"]
        return cls(**values)


def _http_settings(env: Mapping[str, str]) -> dict:
    """Read rate limits, CORS and caching settings."""
    values = dict(
        rate_limit_enabled=_bool(env, "RATE_LIMIT_ENABLED", True),
        rate_limit_storage=env.get("RATE_LIMIT_STORAGE", "memory://"),
        rate_limit_key_prefix=env.get("RATE_LIMIT_KEY_PREFIX", "pizza-api"),
        rate_limit_token_per_client=_rate(env, "RATE_LIMIT_TOKEN_PER_CLIENT", "20/minute"),
        rate_limit_token_per_address=_rate(env, "RATE_LIMIT_TOKEN_PER_ADDRESS", "60/minute"),
        rate_limit_api_per_client=_rate(env, "RATE_LIMIT_API_PER_CLIENT", "600/minute"),
        bcrypt_concurrency=_int(env, "BCRYPT_CONCURRENCY", 2, 1, 64),
        cors_allowed_origins=tuple(
            origin.strip()
            for origin in env.get("CORS_ALLOWED_ORIGINS", "").split(",")
            if origin.strip()
        ),
        cors_allow_credentials=_bool(env, "CORS_ALLOW_CREDENTIALS", False),
        public_cache_max_age=_int(env, "PUBLIC_CACHE_MAX_AGE", 0, 0, 86400),
        idempotency_ttl=_int(env, "IDEMPOTENCY_TTL", 86400, 60, 7 * 86400),
    )
    scheme = values["rate_limit_storage"].split("://", 1)[0]
    if scheme not in ("memory", "redis", "rediss", "redis+sentinel", "redis+cluster"):
        raise SettingsError(
            f"RATE_LIMIT_STORAGE={values['rate_limit_storage'].split('@')[-1]!r} is invalid; "
            "use memory:// or redis://host:6379/0"
        )
    if values["cors_allow_credentials"] and "*" in values["cors_allowed_origins"]:
        # Browsers reject a wildcard origin on credentialed requests (Fetch standard).
        raise SettingsError(
            "CORS_ALLOWED_ORIGINS=* cannot be combined with CORS_ALLOW_CREDENTIALS=true; "
            "list the allowed origins"
        )
    for origin in values["cors_allowed_origins"]:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise SettingsError(
                f"CORS_ALLOWED_ORIGINS entry {origin!r} is invalid; use scheme://host[:port] or *"
            )
    return values


def _rate(env: Mapping[str, str], name: str, default: str) -> str:
    from limits import parse

    raw = env.get(name, default)
    try:
        parse(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is invalid; use e.g. 20/minute or 5/second") from None
    return raw


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={value} is out of range; use {low} to {high}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is invalid; use true or false")


def _jwt_secret(env: Mapping[str, str], development: bool) -> str:
    secret = env.get("JWT_SECRET")
    if secret is None:
        if development:
            return DEVELOPMENT_JWT_SECRET
        raise SettingsError(
            f"JWT_SECRET is required outside development (at least "
            f"{MIN_JWT_SECRET_LENGTH} characters); {JWT_SECRET_HINT}"
        )
    if secret != secret.strip():
        # A Secret made with `echo ... | base64` keeps the newline in the key.
        raise SettingsError(
            "JWT_SECRET starts or ends with whitespace, often a newline from `echo`; remove it"
        )
    if len(secret) < MIN_JWT_SECRET_LENGTH:
        raise SettingsError(
            f"JWT_SECRET has {len(secret)} characters; use at least "
            f"{MIN_JWT_SECRET_LENGTH}; {JWT_SECRET_HINT}"
        )
    return secret


def _bootstrap_secret(env: Mapping[str, str]) -> str:
    secret = env.get("BOOTSTRAP_CLIENT_SECRET", "")
    if secret and not 8 <= len(secret.encode()) <= 72:
        # bcrypt uses at most 72 bytes of a secret.
        raise SettingsError("BOOTSTRAP_CLIENT_SECRET must be 8 to 72 bytes long")
    return secret


def database_url_from_env(env: Mapping[str, str]) -> str:
    """Return DATABASE_URL, or build one from the original service's DB_* variables."""
    if "DATABASE_URL" in env:
        return env["DATABASE_URL"]
    driver = env.get("DB_DRIVER", "").lower()
    if driver in ("", "sqlite"):
        path = env.get("DB_PATH")
        return f"sqlite://{path}" if path else DEFAULT_DATABASE_URL
    if driver in ("postgres", "postgresql"):
        from urllib.parse import quote

        user = quote(env.get("DB_USER", "postgres"), safe="")
        password = env.get("DB_PASSWORD")
        auth = f"{user}:{quote(password, safe='')}" if password else user
        host = env.get("DB_HOST", "localhost")
        port = env.get("DB_PORT", "5432")
        name = env.get("DB_NAME", "pizza_api")
        sslmode = env.get("DB_SSLMODE", "disable")
        return f"postgres://{auth}@{host}:{port}/{name}?sslmode={sslmode}"
    raise SettingsError(
        f"DB_DRIVER={driver!r} is invalid; use sqlite or postgres, or set DATABASE_URL"
    )
