"""Run the service: gunicorn with uvicorn workers, or uvicorn with reload in development."""

import errno
import logging
import os
import shutil
import socket
import tempfile
import typing as t
from pathlib import Path

from gunicorn.app.base import BaseApplication
from uvicorn_worker import UvicornWorker

from pizza_api import http_protocol
from pizza_api.settings import Settings

logger = logging.getLogger(__name__)

APP_FACTORY = "pizza_api.asgi:create_app_from_env"
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


class PortInUseError(RuntimeError):
    pass


def check_port_free(host: str, port: int) -> None:
    """Raise PortInUseError with the fix when host:port cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"port {port} on {host} is already in use; stop the process using it "
                    f"(lsof -ti:{port}) or set APP_PORT to a free port"
                ) from None
            raise PortInUseError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


class JSONErrorUvicornWorker(UvicornWorker):
    """uvicorn worker whose 400 for unparsable HTTP carries the contract's JSON body."""

    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "http": http_protocol.IMPORT_PATH}


class GunicornServer(BaseApplication):
    """gunicorn configured in code, so `pizza-api serve` needs no config file."""

    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> t.Any:
        from pizza_api.asgi import create_app_from_env

        return create_app_from_env()


def prepare_metrics_dir() -> Path | None:
    """Point PROMETHEUS_MULTIPROC_DIR at an empty directory; return it if created here.

    Must run before prometheus_client is imported, because the library picks its
    multiprocess storage at import. A directory set by the operator is emptied of
    the previous run's metric files. Otherwise a temporary one is created, and the
    caller removes it when the server stops.
    """
    configured = os.environ.get(METRICS_DIR_ENV)
    if not configured:
        created = Path(tempfile.mkdtemp(prefix="pizza-api-metrics-"))
        os.environ[METRICS_DIR_ENV] = str(created)
        return created
    directory = Path(configured)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    shutil.rmtree(directory / "clients_seen", ignore_errors=True)
    return None


def child_exit(_server: t.Any, worker: t.Any) -> None:
    """Drop the live gauges of a worker that exited; its counters stay in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(_server: t.Any) -> None:
    logger.info("server_stopped")


def gunicorn_options(settings: Settings, workers: int) -> dict:
    return {
        "bind": f"{settings.host}:{settings.port}",
        "workers": workers,
        "worker_class": "pizza_api.server.JSONErrorUvicornWorker",
        # A second gunicorn on the same machine would silently share this socket.
        "control_socket_disable": True,
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        "max_requests": 10000,
        "max_requests_jitter": 1000,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning" if settings.log_level in ("debug", "info") else settings.log_level,
        "forwarded_allow_ips": "127.0.0.1",
        "child_exit": child_exit,
        "on_exit": on_exit,
    }


def serve(settings: Settings, *, workers: int, reload: bool) -> None:
    check_port_free(settings.host, settings.port)
    logger.info(
        "server_starting",
        extra={
            "host": settings.host,
            "port": settings.port,
            "app_env": settings.app_env,
            "workers": workers,
            "reload": reload,
        },
    )
    if reload:
        import uvicorn

        from pizza_api.spec import PROJECT_ROOT

        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=settings.host,
            port=settings.port,
            reload=True,
            reload_dirs=[str(PROJECT_ROOT)],
            reload_includes=["*.py", "openapi.yaml"],
            reload_excludes=[".venv/*", ".git/*", "data/*", "tests/*", "generated/*", "charts/*"],
            log_config=None,
            access_log=False,
            http=http_protocol.IMPORT_PATH,
        )
        logger.info("server_stopped")
    else:
        GunicornServer(gunicorn_options(settings, workers)).run()
