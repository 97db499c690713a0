"""ASGI entry point for gunicorn and uvicorn: `pizza_api.asgi:create_app_from_env`."""

import types

from pizza_api import __version__
from pizza_api.app import create_app
from pizza_api.logs import configure_logging
from pizza_api.settings import Settings, SettingsError


def create_app_from_env():
    """Build the app from the environment; servers call this in each worker."""
    settings = Settings.from_env()
    configure_logging(settings)
    if settings.sentry_dsn:
        init_sentry(settings)
    return create_app(settings)


def require_sentry_sdk() -> types.ModuleType:
    """Return the sentry_sdk module, or raise SettingsError naming the extra to install."""
    try:
        import sentry_sdk
    except ImportError:
        raise SettingsError(
            "SENTRY_DSN is set but sentry-sdk is not installed; "
            "install it with pip install 'pizza-api[sentry]' or unset SENTRY_DSN"
        ) from None
    return sentry_sdk


def init_sentry(settings: Settings) -> None:
    """Set up reporting of unhandled errors to the Sentry project of SENTRY_DSN.

    The error boundary turns unhandled exceptions into 500 replies and logs them at
    error level, and Sentry's logging integration sends those records as events.
    Personal data, request bodies and local variables, which could hold client
    secrets, stay out of the events.
    """
    sentry_sdk = require_sentry_sdk()
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.app_env,
        release=f"pizza-api@{__version__}",
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
    )
