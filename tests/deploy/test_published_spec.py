"""The served spec leaves out the deployment block."""

from starlette.testclient import TestClient

from pizza_api.app import create_app
from pizza_api.spec import DEPLOYMENT_KEY, load_spec
from tests.conftest import make_settings


def test_openapi_json_has_no_deployment_block(tmp_path):
    settings = make_settings(f"sqlite://{tmp_path}/pizza.sqlite")
    with TestClient(create_app(settings)) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    served = response.json()
    assert DEPLOYMENT_KEY not in served
    assert "x-deployment" not in response.text
    assert set(served["paths"]) == set(load_spec()["paths"])
    assert DEPLOYMENT_KEY in load_spec()
