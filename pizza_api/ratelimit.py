"""Request rate limits with the `limits` library, in memory or in Redis.

Memory storage counts per worker process; Redis storage counts across every
worker and replica that share it. When Redis is unreachable requests are let
through and the failure is logged, so a cache outage does not become an API
outage.
"""

import logging
import math
import threading
import time

from limits import parse, storage, strategies

from pizza_api.errors import ApiError, OAuthError
from pizza_api.settings import Settings

logger = logging.getLogger(__name__)

_STORAGE_ERROR_LOG_INTERVAL = 60.0


class RateLimiter:
    """Named limits (token per client and per address, API per client) over one storage."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.limits = {
            "token_client": parse(settings.rate_limit_token_per_client),
            "token_address": parse(settings.rate_limit_token_per_address),
            "api_client": parse(settings.rate_limit_api_per_client),
        }
        options = {}
        if not settings.rate_limit_storage.startswith("memory://"):
            # Keeps several services, or test runs, that share one Redis apart.
            options = {"key_prefix": settings.rate_limit_key_prefix, "socket_timeout": 1}
        self.storage = storage.storage_from_string(settings.rate_limit_storage, **options)
        self.strategy = strategies.MovingWindowRateLimiter(self.storage)
        self._last_error_log = 0.0
        self._lock = threading.Lock()

    def retry_after(self, name: str, identifier: str) -> int | None:
        """Count one request; return seconds to wait when over the limit, else None."""
        if not self.enabled:
            return None
        item = self.limits[name]
        try:
            if self.strategy.hit(item, name, identifier):
                return None
            reset_at = self.strategy.get_window_stats(item, name, identifier).reset_time
        except Exception as exc:  # any storage failure: let the request through
            self._log_storage_error(exc)
            return None
        return max(1, math.ceil(reset_at - time.time()))

    def _log_storage_error(self, exc: Exception) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last_error_log < _STORAGE_ERROR_LOG_INTERVAL:
                return
            self._last_error_log = now
        logger.error(
            "rate_limit_storage_failed", extra={"error_type": type(exc).__name__, "error": str(exc)}
        )

    def check_api(self, client_id: str) -> None:
        wait = self.retry_after("api_client", client_id)
        if wait is not None:
            raise ApiError(
                429,
                "rate_limit_exceeded",
                f"Too many requests for this client; retry after {wait} seconds",
                headers={"Retry-After": str(wait)},
            )

    def check_token(self, client_id: str, address: str) -> None:
        """Limit token requests per address, and failed ones per client id.

        Runs before any bcrypt work. Only failures count per client id, so a client
        that authenticates correctly is not slowed by its own traffic.
        """
        wait = self.retry_after("token_address", address)
        if wait is None:
            wait = self._failures_wait(client_id)
            subject = "failed token requests for this client"
        else:
            subject = "token requests from this address"
        if wait is not None:
            raise OAuthError(
                429,
                "rate_limit_exceeded",
                f"Too many {subject}; retry after {wait} seconds",
                headers={"Retry-After": str(wait), "Cache-Control": "no-store"},
            )

    def record_token_failure(self, client_id: str) -> None:
        self.retry_after("token_client", client_id)

    def _failures_wait(self, client_id: str) -> int | None:
        if not self.enabled:
            return None
        item = self.limits["token_client"]
        try:
            if self.strategy.test(item, "token_client", client_id):
                return None
            reset_at = self.strategy.get_window_stats(item, "token_client", client_id).reset_time
        except Exception as exc:  # any storage failure: let the request through
            self._log_storage_error(exc)
            return None
        return max(1, math.ceil(reset_at - time.time()))
