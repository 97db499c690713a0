"""Per-process services, reachable from handlers through the request scope."""

import dataclasses

from connexion import request

from pizza_api.db import Database
from pizza_api.settings import Settings
from pizza_api.spec import SpecIndex

SCOPE_KEY = "pizza_api.services"


@dataclasses.dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    spec_index: SpecIndex


def services() -> Services:
    """Return the services of the app serving the current request."""
    return request.scope[SCOPE_KEY]
