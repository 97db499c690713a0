import datetime as dt

from pizza_api import __version__
from pizza_api.context import services


def get_health():
    db = services().db
    return {
        "status": "healthy",
        "version": __version__,
        "database": "connected" if db.ping() else "disconnected",
        "db_driver": db.driver,
        "timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }, 200


def get_liveness():
    return {"status": "ok"}, 200


def get_readiness():
    if services().db.ping():
        return {"status": "ok", "database": "connected"}, 200
    body = {"status": "unavailable", "database": "disconnected", "error": "service_unavailable"}
    return body, 503
