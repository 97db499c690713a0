"""Readiness follows a PostgreSQL outage and recovery without a server restart.

The server reaches PostgreSQL through a TCP proxy that the test runs on 127.0.0.1.
Stopping the proxy closes its listening socket and every open connection, like a
database restart: open connections end and new ones are refused. Starting the proxy
again ends the outage. A database that stops responding without closing connections
is not simulated.
"""

import asyncio
import threading
import time

import httpx
import pytest

from pizza_api.db import sqlalchemy_url
from tests.conftest import POSTGRES_URL, free_port

pytestmark = [pytest.mark.server, pytest.mark.postgres]

FLIP_TIMEOUT = 10.0


class TcpProxy:
    """Forward 127.0.0.1:`port` to `upstream` from an asyncio loop in a thread."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    def _call(self, coroutine) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def start(self) -> None:
        self._call(self._start())

    def stop(self) -> None:
        self._call(self._stop())

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    async def _start(self) -> None:
        self.server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def _stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.close()
        self.writers.clear()

    async def _handle(self, client_reader, client_writer) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        self.writers.update((client_writer, upstream_writer))
        await asyncio.gather(
            self._pipe(client_reader, upstream_writer),
            self._pipe(upstream_reader, client_writer),
        )

    async def _pipe(self, reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            self.writers.discard(writer)


def wait_for_status(url: str, status: int) -> float:
    """Poll `url` until it returns `status`; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < FLIP_TIMEOUT:
        try:
            if httpx.get(url, timeout=5).status_code == status:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer {status} within {FLIP_TIMEOUT} s")


@pytest.fixture
def proxy():
    url = sqlalchemy_url(POSTGRES_URL)
    tcp_proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    tcp_proxy.start()
    yield tcp_proxy
    tcp_proxy.close()


def test_readiness_follows_database_outage(postgres_databases, proxy, start_server):
    direct_url = postgres_databases.create()
    name = direct_url.rsplit("/", 1)[1]
    server = start_server(
        {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{proxy.port}/{name}",
            "WEB_CONCURRENCY": "2",
            "BCRYPT_ROUNDS": "4",
        }
    )
    base = server.base_url
    form = {
        "grant_type": "client_credentials",
        "client_id": "dev-client",
        "client_secret": "dev-secret-123",
    }
    token = httpx.post(base + "/api/v1/oauth/token", data=form).json()["access_token"]
    headers = {"Authorization": "Bearer " + token}
    assert httpx.get(base + "/health/ready").status_code == 200
    assert httpx.get(base + "/api/v1/public/pizzas").status_code == 200

    proxy.stop()
    to_unready = wait_for_status(base + "/health/ready", 503)
    print(f"readiness 503 after {to_unready:.2f} s")
    assert to_unready < 5
    for _ in range(5):
        # Each call may reach either worker; both must report the outage.
        assert httpx.get(base + "/health/ready").status_code == 503
        assert httpx.get(base + "/health/live").status_code == 200
    for method, path, body in [
        ("GET", "/api/v1/public/pizzas", None),
        ("POST", "/api/v1/pizzas", {"name": "Outage", "price": 1}),
    ]:
        started = time.monotonic()
        response = httpx.request(method, base + path, json=body, headers=headers, timeout=30)
        elapsed = time.monotonic() - started
        print(f"{method} {path} during outage: {response.status_code} in {elapsed:.3f} s")
        assert response.status_code == 503
        assert response.json()["error"] == "service_unavailable"
        assert elapsed < 2

    proxy.start()
    to_ready = wait_for_status(base + "/health/ready", 200)
    print(f"readiness 200 after {to_ready:.2f} s")
    assert to_ready < 5
    for _ in range(5):
        assert httpx.get(base + "/health/ready").status_code == 200
    created = httpx.post(
        base + "/api/v1/pizzas", json={"name": "Recovered", "price": 2}, headers=headers
    )
    assert created.status_code == 201
    assert httpx.get(base + f"/api/v1/public/pizzas/{created.json()['id']}").status_code == 200
