"""The README's walkthrough and the original's API script, against real server processes."""

import re
import subprocess

import httpx
import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.server


def readme_walkthrough() -> str:
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text.split("## Walkthrough", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_readme_walkthrough_on_make_run_server(start_server):
    # `make run` is `pizza-api serve` with no settings: development, reload, SQLite under data/.
    server = start_server(
        env={"JWT_SECRET": None, "DATABASE_URL": None, "WEB_CONCURRENCY": None}, args=()
    )
    script = readme_walkthrough().replace("http://127.0.0.1:8080", server.base_url)

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    listed, fetched, updated, deleted, gone, gone_status = lines
    assert [p["name"] for p in httpx.Response(200, text=listed).json()] == [
        "Margherita",
        "Pepperoni",
        "Vegetarian",
    ]
    assert fetched.startswith('{"id":4,"name":"Diavola","description":"Spicy",')
    assert '"price":12.5,' in fetched
    assert updated.startswith('{"id":4,"name":"Diavola Grande","description":"Spicy",')
    assert '"price":14.99,' in updated
    assert deleted == "204"
    assert gone.startswith('{"error":"Pizza not found","message":"No pizza with id 4"')
    assert gone_status == "404"
    assert (server.cwd / "data" / "pizza-api.sqlite").exists()
    assert "dev-secret-123" not in server.log()


def token(base: str, client_id: str, secret: str) -> str:
    response = httpx.post(
        f"{base}/api/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.text
    assert re.search(r'"expires_in":\d+', response.text)
    return response.json()["access_token"]


def test_original_api_script_flow(start_server):
    """The checks of the original's scripts/test-api.sh, on gunicorn with two workers."""
    base = start_server().base_url
    admin = {"Authorization": "Bearer " + token(base, "dev-client", "dev-secret-123")}

    before = httpx.get(f"{base}/api/v1/public/pizzas").text.count('"id":')
    created = httpx.post(
        f"{base}/api/v1/pizzas",
        headers=admin,
        json={
            "name": "Test Pizza 1",
            "description": "Test",
            "ingredients": ["a", "b", "c", "d"],
            "price": 19.99,
        },
    )
    assert created.is_success
    pizza_id = int(re.search(r'"id":(\d+)', created.text).group(1))
    assert httpx.get(f"{base}/api/v1/public/pizzas").text.count('"id":') > before
    fetched = httpx.get(f"{base}/api/v1/public/pizzas/{pizza_id}").text
    assert re.search(r'"name":"([^"]*)"', fetched).group(1) == "Test Pizza 1"

    body = {"name": "Updated Test Pizza", "description": "u", "ingredients": ["a"], "price": 24.99}
    assert httpx.put(f"{base}/api/v1/pizzas/{pizza_id}", headers=admin, json=body).is_success
    fetched = httpx.get(f"{base}/api/v1/public/pizzas/{pizza_id}").text
    assert re.search(r'"price":([^,}]*)', fetched).group(1) == "24.99"
    assert httpx.delete(f"{base}/api/v1/pizzas/{pizza_id}", headers=admin).status_code == 204
    assert not httpx.get(f"{base}/api/v1/public/pizzas/{pizza_id}").is_success

    user = {"Authorization": "Bearer " + token(base, "user-client", "user-secret-123")}
    mine = httpx.post(
        f"{base}/api/v1/pizzas", headers=user, json={"name": "User Pizza", "price": 15.0}
    )
    assert mine.is_success
    mine_id = mine.json()["id"]
    partial = {"name": "User Pizza 2", "price": 17.99, "ingredients": ["x"]}
    assert (
        httpx.put(f"{base}/api/v1/pizzas/{mine_id}", headers=user, json=partial).status_code == 200
    )
    assert httpx.put(f"{base}/api/v1/pizzas/1", headers=user, json=partial).status_code == 403
    assert httpx.delete(f"{base}/api/v1/pizzas/{mine_id}", headers=user).status_code in (200, 204)
    assert not httpx.get(f"{base}/api/v1/public/pizzas/{mine_id}").is_success
