"""Prometheus metrics: the /metrics operation in-process and merged across gunicorn workers."""

import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from pizza_api import metrics, server


def scrape(text: str) -> dict[tuple, float]:
    """Return {(sample name, sorted label pairs): value} of a Prometheus text page."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_in_process(client, admin_headers):
    before = scrape(client.get("/metrics").text)
    created = client.post(
        "/api/v1/pizzas", json={"name": "Metric", "price": 3}, headers=admin_headers
    )
    assert created.status_code == 201
    assert client.get("/api/v1/public/pizzas/987654").status_code == 404
    assert client.get("/no/such/route").status_code == 404

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    after = scrape(response.text)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("pizza_api_pizza_changes_total", action="created") == 1
    assert (
        delta(
            "pizza_api_http_requests_total", method="POST", operation="create_pizza", status="201"
        )
        == 1
    )
    assert delta("pizza_api_http_errors_total", operation="get_pizza", status_class="4xx") == 1
    assert delta("pizza_api_http_errors_total", operation="unmatched", status_class="4xx") == 1
    assert delta("pizza_api_http_request_duration_seconds_count", operation="create_pizza") == 1
    assert value(after, "pizza_api_oauth_clients_seen") >= 1


def test_rolled_back_write_not_counted(db):
    before = value(
        scrape(metrics.render()[0].decode()), "pizza_api_pizza_changes_total", action="updated"
    )
    with pytest.raises(RuntimeError), db.session() as session:
        metrics.pizza_changed(session, "updated")
        raise RuntimeError("roll back")
    with db.session() as session:
        metrics.pizza_changed(session, "updated")
    after = value(
        scrape(metrics.render()[0].decode()), "pizza_api_pizza_changes_total", action="updated"
    )
    assert after - before == 1


def worker_requests(metrics_dir, pid: int) -> float:
    """Return the requests one worker counted, from a copy of its counter file alone."""
    alone = metrics_dir.parent / f"metrics-{pid}"
    alone.mkdir()
    shutil.copy(metrics_dir / f"counter_{pid}.db", alone)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(alone))
    samples = scrape(generate_latest(registry).decode())
    return sum(v for (name, _), v in samples.items() if name == "pizza_api_http_requests_total")


@pytest.mark.server
def test_metrics_sum_across_workers(start_server, tmp_path):
    metrics_dir = tmp_path / "metrics"
    server = start_server(
        {"WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "BCRYPT_ROUNDS": "4"}
    )
    base = server.base_url

    def token(client_id: str, secret: str) -> str:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        response = httpx.post(base + "/api/v1/oauth/token", data=form)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    admin = {"Authorization": "Bearer " + token("dev-client", "dev-secret-123")}
    user = {"Authorization": "Bearer " + token("user-client", "user-secret-123")}
    token("dev-client", "dev-secret-123")

    def create(index: int) -> int:
        # A new connection per request lets the kernel hand each to either worker.
        response = httpx.post(
            base + "/api/v1/pizzas", json={"name": f"Worker {index}", "price": 5}, headers=admin
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    with ThreadPoolExecutor(max_workers=5) as pool:
        ids = list(pool.map(create, range(5)))
    for pizza_id in ids[:2]:
        response = httpx.put(f"{base}/api/v1/pizzas/{pizza_id}", json={"price": 6}, headers=admin)
        assert response.status_code == 200, response.text
    assert httpx.delete(f"{base}/api/v1/pizzas/{ids[0]}", headers=admin).status_code == 204
    for _ in range(3):
        assert httpx.get(base + "/api/v1/public/pizzas/987654").status_code == 404
    assert httpx.get(base + "/api/v1/clients", headers=user).status_code == 403

    # Every process that imported the metrics has a counter file, the master included.
    pids = {int(path.stem.rsplit("_", 1)[1]) for path in metrics_dir.glob("counter_*.db")}
    workers = sorted(pids - {server.process.pid})
    assert len(workers) == 2, sorted(metrics_dir.iterdir())

    served = {pid: worker_requests(metrics_dir, pid) for pid in workers}
    # Both workers served part of the requests, so the sums below merge two files.
    assert all(count > 0 for count in served.values()), served

    expected = {
        ("pizza_api_pizza_changes_total", "created"): 5,
        ("pizza_api_pizza_changes_total", "updated"): 2,
        ("pizza_api_pizza_changes_total", "deleted"): 1,
    }
    for _ in range(6):
        samples = scrape(httpx.get(base + "/metrics").text)
        for (name, action), count in expected.items():
            assert value(samples, name, action=action) == count, (name, action)
        assert value(samples, "pizza_api_oauth_tokens_issued_total") == 3
        assert value(samples, "pizza_api_oauth_clients_seen") == 2
        assert (
            value(
                samples,
                "pizza_api_http_requests_total",
                method="POST",
                operation="create_pizza",
                status="201",
            )
            == 5
        )
        assert (
            value(samples, "pizza_api_http_errors_total", operation="get_pizza", status_class="4xx")
            == 3
        )
        assert (
            value(
                samples, "pizza_api_http_request_duration_seconds_count", operation="create_pizza"
            )
            == 5
        )
        assert value(samples, "pizza_api_db_pool_connections", state="in_use") == 0
        assert value(samples, "pizza_api_db_pool_connections", state="idle") >= 1

    # A killed worker's counters stay in the sums; gunicorn replaces the worker and
    # the child_exit hook drops the dead worker's pool gauges.
    victim = workers[-1]
    live_gauge = metrics_dir / f"gauge_livesum_{victim}.db"
    assert live_gauge.exists()
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while live_gauge.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not live_gauge.exists()
    samples = scrape(httpx.get(base + "/metrics").text)
    assert value(samples, "pizza_api_pizza_changes_total", action="created") == 5
    assert value(samples, "pizza_api_oauth_tokens_issued_total") == 3


def test_prepare_metrics_dir_empties_configured(monkeypatch, tmp_path):
    directory = tmp_path / "multiproc"
    (directory / "clients_seen").mkdir(parents=True)
    (directory / "clients_seen" / "ab12").touch()
    (directory / "counter_123.db").write_bytes(b"stale")
    (directory / "README").write_text("kept")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))

    assert server.prepare_metrics_dir() is None
    assert sorted(path.name for path in directory.iterdir()) == ["README"]


def test_prepare_metrics_dir_creates_temporary(monkeypatch):
    # setenv first, so that monkeypatch restores the variable that prepare_metrics_dir sets.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    created = server.prepare_metrics_dir()
    try:
        assert created is not None
        assert created.is_dir()
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(created)
    finally:
        shutil.rmtree(created)


def test_clients_seen_survives_missing_directory(monkeypatch, tmp_path):
    from pizza_api.metrics import ClientsSeen

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "removed"))
    seen = ClientsSeen()
    seen.add("dev-client")
    assert seen.count() == 0
