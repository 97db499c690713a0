"""Concurrent writers against a 4-worker server on one SQLite file."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select

from pizza_api.db import Database
from pizza_api.models import Pizza
from tests.conftest import make_settings

pytestmark = pytest.mark.server

WORKERS = 4
WRITERS = 32
REQUESTS_PER_WRITER = 10


def test_sqlite_concurrent_writers_lose_nothing(start_server, tmp_path):
    database_url = f"sqlite://{tmp_path}/writers.sqlite"
    server = start_server(
        {"WEB_CONCURRENCY": str(WORKERS), "DATABASE_URL": database_url, "LOG_LEVEL": "warning"}
    )
    form = {
        "grant_type": "client_credentials",
        "client_id": "dev-client",
        "client_secret": "dev-secret-123",
    }
    token = httpx.post(server.base_url + "/api/v1/oauth/token", data=form).json()["access_token"]
    headers = {"Authorization": "Bearer " + token}

    def write(writer: int) -> tuple[dict[int, dict], list[int]]:
        """Alternate creating a pizza and updating it; return the acknowledged state."""
        expected: dict[int, dict] = {}
        statuses: list[int] = []
        pizza_id = None
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
            for step in range(REQUESTS_PER_WRITER):
                fields = {"name": f"w{writer}-s{step}", "price": writer + step / 100}
                if pizza_id is None:
                    response = client.post("/api/v1/pizzas", json=fields)
                else:
                    response = client.put(f"/api/v1/pizzas/{pizza_id}", json=fields)
                statuses.append(response.status_code)
                if response.status_code in (200, 201):
                    body = response.json()
                    expected[body["id"]] = {"name": body["name"], "price": body["price"]}
                    pizza_id = None if pizza_id is not None else body["id"]
        return expected, statuses

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        results = list(pool.map(write, range(WRITERS)))
    elapsed = time.perf_counter() - started

    statuses = [status for _, writer_statuses in results for status in writer_statuses]
    expected = {
        pizza_id: fields for acknowledged, _ in results for pizza_id, fields in acknowledged.items()
    }
    assert len(statuses) == WRITERS * REQUESTS_PER_WRITER
    assert [status for status in statuses if status >= 500] == []
    assert sorted(set(statuses)) == [200, 201]
    assert len(expected) == WRITERS * REQUESTS_PER_WRITER // 2
    print(f"{len(statuses)} writes in {elapsed:.2f} s: {len(statuses) / elapsed:.0f} writes/s")

    db = Database(make_settings(database_url))
    try:
        with db.session(read_only=True) as session:
            stored = {
                pizza.id: {"name": pizza.name, "price": pizza.price}
                for pizza in session.scalars(select(Pizza).where(Pizza.id.in_(expected)))
            }
    finally:
        db.dispose()
    assert stored == expected
    assert "database is locked" not in server.log()
