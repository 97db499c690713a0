"""ASGI entry point for gunicorn and uvicorn: `pizza_api.asgi:create_app_from_env`."""

from pizza_api.app import create_app
from pizza_api.logs import configure_logging
from pizza_api.settings import Settings


def create_app_from_env():
    """Build the app from the environment; servers call this in each worker."""
    settings = Settings.from_env()
    configure_logging(settings)
    return create_app(settings)
