"""Faults that real server processes must survive with nothing lost.

The database disappears behind a TCP proxy and comes back, a gunicorn worker is
killed under load, the SQLite file's disk fills up or turns read-only, and clients
race to update and delete the same pizza. Every loop is bounded in count and time.
"""

import itertools
import shutil
import socket
import subprocess
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import select

from pizza_api.db import Database
from pizza_api.models import Pizza
from tests.conftest import BACKENDS, free_port, make_settings
from tests.hostile.conftest import (
    ADMIN_FORM,
    PIZZA,
    assert_error,
    kill_process,
    server_env,
    wait_for_workers,
    worker_pids,
)

pytestmark = pytest.mark.server

SERVER_BACKENDS = [param for param in BACKENDS if param.id != "sqlite"]


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 in front of a database; close() is an outage."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        """Stop listening and cut every open connection: new connects are refused."""
        if self.listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone does not.
            _shutdown(self.listener)
            self.listener.close()
            self.listener = None
        with self.lock:
            for sock in self.sockets:
                _shutdown(sock)
                sock.close()
            self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        _shutdown(source)
        _shutdown(target)


def _through(database_url: str, port: int) -> str:
    parts = urlsplit(database_url)
    netloc = parts.netloc.rsplit(":", 1)[0] + f":{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _token(base_url: str) -> dict:
    response = httpx.post(f"{base_url}/api/v1/oauth/token", data=ADMIN_FORM, timeout=10)
    assert response.status_code == 200, response.text
    return {"Authorization": "Bearer " + response.json()["access_token"]}


def _stored_pizzas(database_url: str) -> dict[int, Pizza]:
    db = Database(make_settings(database_url))
    try:
        with db.session(read_only=True) as session:
            return {pizza.id: pizza for pizza in session.scalars(select(Pizza))}
    finally:
        db.dispose()


class Traffic:
    """One client thread that cycles through reads and writes and records each response."""

    def __init__(self, base_url: str, headers: dict) -> None:
        self.base_url = base_url
        self.headers = headers
        self.results: list[tuple[float, str, int, float, dict | None, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        operations = itertools.cycle(["list", "get", "create", "ready", "token", "clients"])
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            for number in itertools.count():
                if self.stop.is_set() or number >= 5000:
                    return
                operation = next(operations)
                name = f"outage-{number}"
                started = time.monotonic()
                response = self._send(http, operation, name)
                elapsed = time.monotonic() - started
                try:
                    body = response.json() if response.content else None
                except ValueError:
                    body = {"not_json": response.text[:200]}
                self.results.append((started, operation, response.status_code, elapsed, body, name))
                time.sleep(0.02)

    def _send(self, http: httpx.Client, operation: str, name: str) -> httpx.Response:
        if operation == "list":
            return http.get("/api/v1/public/pizzas")
        if operation == "get":
            return http.get("/api/v1/public/pizzas/1")
        if operation == "create":
            return http.post("/api/v1/pizzas", json={**PIZZA, "name": name}, headers=self.headers)
        if operation == "ready":
            return http.get("/health/ready")
        if operation == "clients":
            return http.get("/api/v1/clients", headers=self.headers)
        return http.post("/api/v1/oauth/token", data=ADMIN_FORM)


OUTAGE_SECONDS = 3.0


@pytest.mark.parametrize("database_url", SERVER_BACKENDS, indirect=True)
def test_database_outage_and_recovery(start_server, database_url, report):
    upstream = urlsplit(database_url).port
    proxy = TcpProxy(upstream)
    proxy.open()
    try:
        server = start_server(server_env(_through(database_url, proxy.port)))
        workers = worker_pids(server)
        traffic = Traffic(server.base_url, _token(server.base_url))
        traffic.thread.start()
        time.sleep(1.5)

        outage_start = time.monotonic()
        proxy.close()
        time.sleep(OUTAGE_SECONDS)
        outage_end = time.monotonic()
        proxy.open()

        recovered_at = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and recovered_at is None:
            if httpx.get(f"{server.base_url}/health/ready", timeout=10).status_code == 200:
                recovered_at = time.monotonic()
            time.sleep(0.1)
        time.sleep(1.5)
        traffic.stop.set()
        traffic.thread.join(timeout=60)
    finally:
        proxy.close()

    results = traffic.results
    during = [r for r in results if outage_start + 0.5 < r[0] and r[0] + r[3] < outage_end]
    after = [r for r in results if recovered_at is not None and r[0] > recovered_at + 0.5]
    report(
        f"database outage: {len(results)} requests, {len(during)} inside the "
        f"{OUTAGE_SECONDS} s outage (slowest {max(r[3] for r in during):.2f} s), "
        f"recovered {recovered_at - outage_end:.2f} s after the database came back"
    )
    assert recovered_at is not None
    for _, operation, status, _, body, _ in results:
        assert status in (200, 201, 503), (operation, status, body)
        if status == 503 and operation != "ready":
            assert body["error"] == "service_unavailable", body
    assert len(during) >= 10
    for _, operation, status, elapsed, body, _ in during:
        assert status == 503, (operation, status, body)
        assert elapsed < 2.0, (operation, elapsed)
    ready_during = [body for _, op, _, _, body, _ in during if op == "ready"]
    assert ready_during
    assert all(body == READY_DOWN for body in ready_during)
    assert after
    assert all(status in (200, 201) for _, _, status, _, _, _ in after)
    # Served without a restart: the same master and workers before and after.
    assert server.process.poll() is None
    assert worker_pids(server) == workers

    stored = {pizza.name for pizza in _stored_pizzas(database_url).values()}
    created = [(status, name) for _, op, status, _, _, name in results if op == "create"]
    assert all(name in stored for status, name in created if status == 201)
    # Only the one request in flight when the connection was cut can have committed
    # without its client hearing so.
    assert sum(name in stored for status, name in created if status == 503) <= 1


READY_DOWN = {"status": "unavailable", "database": "disconnected", "error": "service_unavailable"}


@pytest.mark.parametrize("database_url", BACKENDS[:2], indirect=True)
def test_worker_killed_under_load(start_server, database_url, report):
    server = start_server(server_env(database_url))
    headers = _token(server.base_url)
    before = wait_for_workers(server, 2)
    created: list[tuple[int, str]] = []
    failures: list[str] = []
    unexpected: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(number: int) -> None:
        # Keep-alive connections: those on the killed worker break, then httpx reconnects.
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            for attempt in range(2000):
                if stop.is_set():
                    return
                name = f"load-{number}-{attempt}"
                body = {**PIZZA, "name": name}
                try:
                    response = http.post("/api/v1/pizzas", json=body, headers=headers)
                except httpx.TransportError as exc:
                    with lock:
                        failures.append(f"{name}: {type(exc).__name__}")
                    continue
                with lock:
                    if response.status_code == 201:
                        created.append((response.json()["id"], name))
                    else:
                        unexpected.append(f"{name}: {response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    victim = before[0]
    kill_process(victim)
    killed_at = len(created)
    after = wait_for_workers(server, 2, exclude=[victim])
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    report(
        f"worker kill: {len(created)} creates answered 201 ({killed_at} before the kill), "
        f"{len(failures)} connections broken, workers {before} -> {after}"
    )
    assert unexpected == []
    assert victim not in after
    assert len(created) > killed_at + 10
    stored = _stored_pizzas(database_url)
    for pizza_id, name in created:
        assert pizza_id in stored, (pizza_id, name)
        assert stored[pizza_id].name == name
    # The killed worker's in-flight requests broke the connection; nothing else failed.
    assert len(failures) <= 4


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True)


def _fill(path) -> None:
    """Write a file until the file system is full."""
    with open(path, "wb", buffering=0) as filler:
        for size in (1 << 20, 65536, 512):
            try:
                while True:
                    filler.write(b"\0" * size)
            except OSError:
                pass


@pytest.fixture
def small_disk(tmp_path):
    """An 8 MiB ext4 file system on a loop device; always unmounted.

    ext4, not tmpfs: on tmpfs (Linux 6.18) `chattr +i` does not stop writes through a
    file that is already open, and `mount -o remount,ro` fails with EBUSY while the
    server has the database open for writing, so files are made immutable instead.
    """
    if shutil.which("mkfs.ext4") is None or shutil.which("chattr") is None:
        pytest.skip("mkfs.ext4 and chattr (e2fsprogs) are not installed")
    image = tmp_path / "disk.ext4"
    with open(image, "wb") as sparse:
        sparse.truncate(8 << 20)
    assert _run("mkfs.ext4", "-q", "-F", str(image)).returncode == 0
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = _run("mount", "-o", "loop", str(image), str(mountpoint))
    if mounted.returncode != 0:
        pytest.skip(f"mounting a loop device needs root: {mounted.stderr.strip()}")
    servers = []
    try:
        yield mountpoint, servers
    finally:
        # The server keeps the database open, so stop it before unmounting.
        for server in servers:
            server.stop()
        for path in mountpoint.iterdir():
            _run("chattr", "-i", str(path))
        if _run("umount", str(mountpoint)).returncode != 0:
            assert _run("umount", "-l", str(mountpoint)).returncode == 0


def _set_immutable(paths, on: bool) -> None:
    for path in paths:
        result = _run("chattr", "+i" if on else "-i", str(path))
        assert result.returncode == 0, result.stderr


def _write_until_error(http: httpx.Client, headers: dict, tag: str, limit: int = 300) -> list:
    """Create pizzas until one fails, at most `limit` of them, and return the responses."""
    answers = []
    for number in range(limit):
        body = {**PIZZA, "name": f"{tag}-{number}", "description": "d" * 1000}
        response = http.post("/api/v1/pizzas", json=body, headers=headers)
        answers.append(response)
        if response.status_code != 201:
            break
    return answers


def test_sqlite_disk_full_then_read_only(start_server, small_disk, report):
    mountpoint, servers = small_disk
    server = start_server(server_env(f"sqlite://{mountpoint}/pizza.sqlite"))
    servers.append(server)
    headers = _token(server.base_url)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        stored = _write_until_error(http, headers, "before", limit=20)
        assert all(r.status_code == 201 for r in stored)

        _fill(mountpoint / "filler")
        full = _write_until_error(http, headers, "full")
        body = assert_error(full[-1], 503, "service_unavailable")
        assert full[-1].headers["retry-after"] == "5"
        assert "retry later" in body["message"]
        created = stored + full[:-1]
        listed = http.get("/api/v1/public/pizzas")
        assert listed.status_code == 200
        listed_ids = {pizza["id"] for pizza in listed.json()}
        assert {r.json()["id"] for r in created} <= listed_ids
        assert http.get("/health/ready").status_code == 200

        (mountpoint / "filler").unlink()
        recovered = http.post("/api/v1/pizzas", json={**PIZZA, "name": "after"}, headers=headers)
        assert recovered.status_code == 201, recovered.text

        # The -shm file stays writable: SQLite maps it into memory, and an immutable
        # mapping would kill the worker with SIGBUS instead of failing the write.
        database_files = [mountpoint / "pizza.sqlite", mountpoint / "pizza.sqlite-wal"]
        _set_immutable(database_files, True)
        try:
            read_only = http.post("/api/v1/pizzas", json={**PIZZA, "name": "ro"}, headers=headers)
            assert_error(read_only, 503, "service_unavailable")
            update = http.put("/api/v1/pizzas/1", json={"name": "ro"}, headers=headers)
            assert_error(update, 503, "service_unavailable")
            for pizza_id in [1, recovered.json()["id"]]:
                assert http.get(f"/api/v1/public/pizzas/{pizza_id}").status_code == 200
            assert http.get("/api/v1/public/pizzas").status_code == 200
        finally:
            _set_immutable(database_files, False)
        again = http.post("/api/v1/pizzas", json={**PIZZA, "name": "rw"}, headers=headers)
        assert again.status_code == 201, again.text

    report(
        f"sqlite disk: {len(created)} writes stored before the 8 MiB disk was full; "
        "writes to the full disk and to immutable files got 503; reads kept answering"
    )
    log = server.log()
    assert "database_error" in log
    assert "database or disk is full" in log
    assert "disk I/O error" in log


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_concurrent_updates_and_deletes(start_server, database_url, report):
    server = start_server(server_env(database_url, LOG_LEVEL="warning"))
    headers = _token(server.base_url)
    base = httpx.post(
        f"{server.base_url}/api/v1/pizzas",
        json={**PIZZA, "name": "v-0-0", "description": "v-0-0", "price": 0},
        headers=headers,
    ).json()
    path = f"/api/v1/pizzas/{base['id']}"
    answers: list[tuple[str, int, dict | None]] = []
    lock = threading.Lock()

    def writer(number: int) -> None:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            for attempt in range(1, 26):
                version = f"v-{number}-{attempt}"
                price = number * 1000 + attempt
                extra = {}
                if attempt % 3 == 0:
                    current = http.get(f"/api/v1/public/pizzas/{base['id']}")
                    if current.status_code == 200:
                        extra = {"If-Match": current.headers["etag"]}
                body = {"name": version, "description": version, "price": price}
                response = http.put(path, json=body, headers={**headers, **extra})
                with lock:
                    answers.append(("put", response.status_code, response.json()))

    def deleter() -> None:
        time.sleep(0.4)
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            for _ in range(3):
                response = http.delete(path, headers=headers)
                with lock:
                    answers.append(("delete", response.status_code, None))

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(1, 6)]
    threads.append(threading.Thread(target=deleter))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    written = {"v-0-0": 0}
    for kind, status, body in answers:
        if kind == "delete":
            assert status in (204, 404), status
            continue
        assert status in (200, 404, 412), (status, body)
        if status == 200:
            assert body["name"] == body["description"]
            number, attempt = map(int, body["name"].split("-")[1:])
            assert body["price"] == number * 1000 + attempt
            written[body["name"]] = body["price"]
        else:
            assert_error_body(body, status)
    deletes = [status for kind, status, _ in answers if kind == "delete"]
    assert deletes.count(204) == 1
    counts = {status: sum(1 for _, s, _ in answers if s == status) for status in (200, 404, 412)}
    report(f"concurrent writes on {database_url.split(':')[0]}: {counts}, deletes {deletes}")

    final = _stored_pizzas(database_url)[base["id"]]
    assert final.deleted_at is not None
    assert final.name == final.description
    assert written.get(final.name) == final.price


def assert_error_body(body: dict, status: int) -> None:
    assert isinstance(body.get("error"), str)
    if status == 404:
        assert body["error"] == "Pizza not found"
    if status == 412:
        assert body["error"] == "Pizza was modified"
        assert body["etag"].startswith('"')
