"""Prometheus metrics, correct when several gunicorn workers serve the same port.

With PROMETHEUS_MULTIPROC_DIR set before prometheus_client is imported, every
process writes its samples to memory-mapped files in that directory and a scrape
of any worker merges all of them (prometheus_client's multiprocess mode).
`pizza-api serve` sets the variable up; without it (tests, uvicorn in-process)
the default per-process registry is used.
"""

import collections
import hashlib
import logging
import os
import threading
import typing as t
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy import event
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Subdirectory of the multiprocess directory with one empty file per client id seen.
CLIENTS_SEEN_DIR = "clients_seen"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
UNMATCHED = "unmatched"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
_PENDING_CHANGES = "pizza_api.metrics.pending_changes"

REQUESTS = Counter(
    "pizza_api_http_requests",
    "HTTP requests answered, by method, operationId and status code.",
    ["method", "operation", "status"],
)
REQUEST_DURATION = Histogram(
    "pizza_api_http_request_duration_seconds",
    "Time from receiving a request to sending the last byte of its response.",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ERRORS = Counter(
    "pizza_api_http_errors",
    "HTTP requests answered with a 4xx or 5xx status, by operationId and status class.",
    ["operation", "status_class"],
)
TOKENS_ISSUED = Counter("pizza_api_oauth_tokens_issued", "Access tokens issued by /oauth/token.")
PIZZA_CHANGES = Counter(
    "pizza_api_pizza_changes",
    "Committed pizza writes, by action: created, updated or deleted.",
    ["action"],
)
# livesum: the sum over running workers; a dead worker's values are dropped by
# `mark_process_dead` in gunicorn's child_exit hook.
DB_POOL_CONNECTIONS = Gauge(
    "pizza_api_db_pool_connections",
    "Database connections of the pools of all workers, by state: in_use or idle.",
    ["state"],
    multiprocess_mode="livesum",
)
for _action in ("created", "updated", "deleted"):
    PIZZA_CHANGES.labels(_action)
for _state in ("in_use", "idle"):
    DB_POOL_CONNECTIONS.labels(_state)


class ClientsSeen:
    """The distinct OAuth client ids that got a token or made an authenticated request.

    A per-process set cannot be summed across workers, so in multiprocess mode each
    new id also creates a file named by its SHA-256 in the shared directory, and the
    count is the number of files there.
    """

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def directory() -> Path | None:
        root = os.environ.get(MULTIPROC_ENV)
        return Path(root) / CLIENTS_SEEN_DIR if root else None

    def add(self, client_id: str) -> None:
        with self._lock:
            if client_id in self._ids:
                return
            self._ids.add(client_id)
        directory = self.directory()
        if directory is None:
            return
        try:
            directory.mkdir(exist_ok=True)
            (directory / hashlib.sha256(client_id.encode()).hexdigest()).touch()
        except OSError as exc:
            # A marker file that cannot be written is logged, and the counted request goes on.
            logger.warning(
                "clients_seen_not_recorded", extra={"path": str(directory), "error": str(exc)}
            )

    def count(self) -> int:
        directory = self.directory()
        if directory is None:
            return len(self._ids)
        return sum(1 for _ in directory.iterdir()) if directory.is_dir() else 0


CLIENTS_SEEN = ClientsSeen()


class ClientsSeenCollector:
    """Expose `CLIENTS_SEEN` as a gauge computed at scrape time."""

    def collect(self) -> t.Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "pizza_api_oauth_clients_seen",
            "Distinct OAuth client ids that got a token or made an authenticated request "
            "since the server started.",
            value=CLIENTS_SEEN.count(),
        )


if os.environ.get(MULTIPROC_ENV) is None:
    REGISTRY.register(ClientsSeenCollector())


def render() -> tuple[bytes, str]:
    """Return the exposition text of every worker's metrics and its content type."""
    if os.environ.get(MULTIPROC_ENV) is None:
        return generate_latest(REGISTRY), CONTENT_TYPE
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(ClientsSeenCollector())
    return generate_latest(registry), CONTENT_TYPE


def observe_request(services: t.Any, scope: dict, status: int, seconds: float) -> None:
    """Record one completed request: counters, latency, client id and pool gauges."""
    method = scope.get("method", "")
    operation = services.spec_index.match(method, scope.get("path", ""))
    operation_id = operation.operation_id if operation is not None else UNMATCHED
    method_label = method if method in _KNOWN_METHODS else "other"
    REQUESTS.labels(method_label, operation_id, str(status)).inc()
    REQUEST_DURATION.labels(operation_id).observe(seconds)
    if status >= 400:
        ERRORS.labels(operation_id, f"{status // 100}xx").inc()
    client_id = scope.get("pizza_api.state", {}).get("client_id")
    if client_id:
        CLIENTS_SEEN.add(client_id)
    # Connections used by the request are back in the pool by now, so the idle
    # count read here is exact; checkouts update it in between.
    _set_idle(services.db.engine.pool)


def token_issued() -> None:
    TOKENS_ISSUED.inc()


def pizza_changed(session: Session, action: str) -> None:
    """Count a pizza write once the session's transaction commits; a rollback drops it."""
    session.info.setdefault(_PENDING_CHANGES, collections.Counter())[action] += 1


@event.listens_for(Session, "after_commit")
def _publish_pizza_changes(session: Session) -> None:
    for action, count in session.info.pop(_PENDING_CHANGES, {}).items():
        PIZZA_CHANGES.labels(action).inc(count)


@event.listens_for(Session, "after_rollback")
def _drop_pizza_changes(session: Session) -> None:
    session.info.pop(_PENDING_CHANGES, None)


def instrument_pool(engine: t.Any) -> None:
    """Keep the pool gauges current from the engine's checkout and checkin events.

    In-use connections are counted as a set of connection records, because a
    connection that fails to reconnect fires a checkin event without a checkout.
    """
    pool = engine.pool
    checked_out: set[int] = set()
    lock = threading.Lock()

    def on_checkout(_dbapi_connection: t.Any, record: t.Any, _proxy: t.Any) -> None:
        with lock:
            checked_out.add(id(record))
            DB_POOL_CONNECTIONS.labels("in_use").set(len(checked_out))
        _set_idle(pool)

    def on_checkin(_dbapi_connection: t.Any, record: t.Any) -> None:
        with lock:
            checked_out.discard(id(record))
            DB_POOL_CONNECTIONS.labels("in_use").set(len(checked_out))

    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "checkin", on_checkin)


def _set_idle(pool: t.Any) -> None:
    checked_in = getattr(pool, "checkedin", None)
    if checked_in is not None:
        DB_POOL_CONNECTIONS.labels("idle").set(checked_in())
