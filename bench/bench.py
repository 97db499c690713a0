"""Throughput, latency and memory of a real server, relative to a no-database baseline.

Starts `pizza-api serve` (gunicorn, uvicorn workers) on 127.0.0.1 with a fresh SQLite
database, drives each scenario with a fixed number of concurrent httpx clients for a
fixed number of requests, and writes bench/RESULTS.md. Absolute numbers depend on the
machine and on whatever else runs on it. Compare the ratio to `GET /health/live`,
measured in the same run, between runs.

    .venv/bin/python bench/bench.py [--requests 2000] [--concurrency 16] [--workers 2]
"""

import argparse
import asyncio
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SECRET = "benchmark-secret-" + "x" * 64
DEV = {
    "grant_type": "client_credentials",
    "client_id": "dev-client",
    "client_secret": "dev-secret-123",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(workdir: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "APP_ENV": "development",
        "APP_HOST": "127.0.0.1",
        "APP_PORT": str(port),
        "DATABASE_URL": f"sqlite://{workdir}/bench.sqlite",
        "JWT_SECRET": SECRET,
        "LOG_LEVEL": "warning",
        "LOG_ACCESS": "false",
        "WEB_CONCURRENCY": str(workers),
        "RATE_LIMIT_ENABLED": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "pizza_api.cli", "serve", "--no-reload"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health/live", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("server did not start within 30 s")


def rss_mib(pid: int) -> float:
    """Return the resident memory of a process and its children, in MiB."""
    total = 0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


async def run_scenario(base: str, make_request, total: int, concurrency: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(total))

    async def worker(client: httpx.AsyncClient) -> None:
        for index in counter:
            started = time.perf_counter()
            response = await make_request(client, index)
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": total / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "statuses": statuses,
    }


async def main_async(args) -> list[tuple[str, dict]]:
    workdir = Path(tempfile.mkdtemp(prefix="pizza-bench-"))
    process, base = start_server(workdir, args.workers)
    try:
        token = httpx.post(base + "/api/v1/oauth/token", data=DEV).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        for number in range(97):
            httpx.post(
                base + "/api/v1/pizzas", json={"name": f"Seed {number}", "price": 9.5}, headers=auth
            )
        etag = httpx.get(base + "/api/v1/public/pizzas/1").headers["etag"]
        memory_idle = rss_mib(process.pid)

        scenarios = [
            (
                "GET /health/live (baseline, no database)",
                lambda c, i: c.get("/health/live"),
                args.requests,
            ),
            (
                "GET /api/v1/public/pizzas/{id}",
                lambda c, i: c.get(f"/api/v1/public/pizzas/{i % 100 + 1}"),
                args.requests,
            ),
            (
                "GET /api/v1/public/pizzas/1 with If-None-Match (304)",
                lambda c, i: c.get("/api/v1/public/pizzas/1", headers={"If-None-Match": etag}),
                args.requests,
            ),
            (
                "GET /api/v1/public/pizzas (100 pizzas)",
                lambda c, i: c.get("/api/v1/public/pizzas"),
                args.requests // 4,
            ),
            (
                "POST /api/v1/pizzas",
                lambda c, i: c.post(
                    "/api/v1/pizzas", json={"name": f"Bench {i}", "price": 12.5}, headers=auth
                ),
                args.requests // 2,
            ),
            (
                "PUT /api/v1/pizzas/{id}",
                lambda c, i: c.put(
                    f"/api/v1/pizzas/{i % 100 + 1}", json={"price": i / 100}, headers=auth
                ),
                args.requests // 2,
            ),
            (
                "POST /api/v1/oauth/token (bcrypt cost 10)",
                lambda c, i: c.post("/api/v1/oauth/token", data=DEV),
                max(args.requests // 20, 20),
            ),
        ]
        results = []
        for name, make_request, total in scenarios:
            result = await run_scenario(
                base, lambda c, i, f=make_request: f(c, i), total, args.concurrency
            )
            result["requests"] = total
            results.append((name, result))
        memory_loaded = rss_mib(process.pid)
        return results, memory_idle, memory_loaded
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def write_results(results, memory_idle, memory_loaded, args) -> str:
    baseline = results[0][1]["rps"]
    lines = [
        "# Benchmark results",
        "",
        f"`bench/bench.py --requests {args.requests} --concurrency {args.concurrency} "
        f"--workers {args.workers}`, run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"on {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}. "
        "The load generator shares the CPUs with the server, and the machine is shared, so "
        "compare the ratio column between runs rather than absolute numbers.",
        "",
        "| Scenario | Requests | Req/s | Ratio to baseline | p50 ms | p95 ms | p99 ms | Statuses |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results:
        statuses = ", ".join(f"{code}: {count}" for code, count in sorted(r["statuses"].items()))
        lines.append(
            f"| {name} | {r['requests']} | {r['rps']:.0f} | {r['rps'] / baseline:.2f} | "
            f"{r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {statuses} |"
        )
    lines += [
        "",
        f"Server memory (gunicorn master and {args.workers} workers, resident): "
        f"{memory_idle:.0f} MiB after start-up and seeding, {memory_loaded:.0f} MiB after the run.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per read scenario")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    results, idle, loaded = asyncio.run(main_async(args))
    text = write_results(results, idle, loaded, args)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
