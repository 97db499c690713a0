"""Per-process services, reachable from handlers through the request scope."""

import dataclasses

import anyio
from connexion import request

from pizza_api.db import Database
from pizza_api.idempotency import Sealer
from pizza_api.ratelimit import RateLimiter
from pizza_api.settings import Settings
from pizza_api.spec import SpecIndex

SCOPE_KEY = "pizza_api.services"


@dataclasses.dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    spec_index: SpecIndex
    limiter: RateLimiter
    sealer: Sealer
    # Caps concurrent bcrypt checks. Requests wait for a slot on the event loop, so a
    # flood of token requests cannot occupy every thread of the pool that all handlers share.
    bcrypt_slots: anyio.CapacityLimiter

    @classmethod
    def build(cls, settings: Settings, db: Database, spec_index: SpecIndex) -> "Services":
        return cls(
            settings=settings,
            db=db,
            spec_index=spec_index,
            limiter=RateLimiter(settings),
            sealer=Sealer(settings.jwt_secret),
            bcrypt_slots=anyio.CapacityLimiter(settings.bcrypt_concurrency),
        )


def services() -> Services:
    """Return the services of the app serving the current request."""
    return request.scope[SCOPE_KEY]
