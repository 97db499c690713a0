import datetime as dt

from starlette.responses import Response

from pizza_api import __version__, metrics
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


def get_metrics():
    # A Starlette response skips Connexion's exact match of the Content-Type against
    # the spec, which would reject the `version=0.0.4` parameter Prometheus expects.
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
