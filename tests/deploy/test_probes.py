"""The operations marked for probes behave as their probe kind needs."""

import pytest
from starlette.testclient import TestClient

from pizza_api.app import create_app
from tests.conftest import make_settings


@pytest.fixture
def client_without_database(tmp_path):
    """A client of an app whose SQLite file cannot be opened."""
    directory = tmp_path / "data"
    settings = make_settings(f"sqlite://{directory}/pizza.sqlite")
    app = create_app(settings)
    # The engine creates the directory, so a regular file put in its place fails every connect.
    directory.rmdir()
    directory.write_text("not a directory\n")
    with TestClient(app) as client:
        yield client


def test_probes_with_database_down(client_without_database, deployment):
    probes = deployment.probes
    # Liveness and startup must not restart a pod because the database is unreachable.
    for kind in ("liveness", "startup"):
        response = client_without_database.get(probes[kind].path)
        assert response.status_code == 200, kind
    readiness = client_without_database.get(probes["readiness"].path)
    assert readiness.status_code == 503
    assert readiness.json()["database"] == "disconnected"


def test_probes_with_database_up(client, deployment):
    for kind, probe in deployment.probes.items():
        response = client.get(probe.path)
        assert response.status_code == 200, kind
