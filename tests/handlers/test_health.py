import re

from starlette.testclient import TestClient

from pizza_api.app import create_app
from pizza_api.db import Database
from tests.conftest import make_settings


def test_health_shape(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["status", "version", "database", "db_driver", "timestamp"]
    assert body["status"] == "healthy"
    assert body["database"] == "connected"
    assert body["db_driver"] == "sqlite"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timestamp"])


def test_probes_with_database_up(client):
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "connected"}


def test_probes_with_database_unreachable(tmp_path):
    # A SQLite path under a regular file can never be opened.
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = make_settings(f"sqlite://{blocker}/db/pizza.sqlite")
    db = Database(settings)
    with TestClient(create_app(settings, db=db)) as client:
        health = client.get("/health")
        assert health.status_code == 200
        assert health.json()["database"] == "disconnected"
        assert client.get("/health/live").status_code == 200
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "unavailable",
            "database": "disconnected",
            "error": "service_unavailable",
        }
        pizzas = client.get("/api/v1/public/pizzas")
        assert pizzas.status_code == 503
        assert pizzas.json()["error"] == "service_unavailable"
        assert pizzas.headers["retry-after"] == "5"


def test_unknown_route_returns_404_json(client):
    response = client.get("/api/v2/pizzas")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_wrong_method_returns_405_with_allow(client):
    response = client.patch("/api/v1/pizzas/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "PUT, DELETE"
    assert response.json()["error"] == "method_not_allowed"


def test_request_id_echoed(client):
    assert (
        client.get("/health/live", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    generated = client.get("/health/live", headers={"X-Request-ID": "bad id\t"}).headers[
        "x-request-id"
    ]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)


def test_swagger_ui_and_spec_served(client):
    assert client.get("/swagger/index.html").status_code == 200
    assert "swagger-ui" in client.get("/swagger/").text
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "Pizza API"
    assert client.get("/swagger/doc.json").json() == spec
    assert "x-deployment" not in spec
    assert all("x-probe" not in op for item in spec["paths"].values() for op in item.values())
