"""How long requests take to get their 503 when the database freezes, as a ratio to the budget.

A private FerretDB is frozen with SIGSTOP (it accepts connections, answers nothing), and N concurrent
`GET /items/{id}` are sent to the app, over ASGI, in this process. Each request's time to its answer is
divided by MONGODB_TIMEOUT_MS: the service promises at most about 1.5x. Motor runs every operation on a
thread pool of CPU count x 5 threads, so without an app-level deadline its requests queue for a thread
before the driver's timeout starts and answer in waves of 1, 2, 3... budgets.

Run with `.venv/bin/python -m bench.bench_latency` (needs `scripts/ferretdb.sh build`), or `--smoke`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
from loopsafe_mongo import run_lifespan

from app.main import create_app
from app.settings import Driver, Settings
from tests.support.servers import FERRETDB_BIN, ferretdb_server


async def measure(driver: Driver, budget_ms: int, requests: int, data_dir: Path) -> list[float]:
    """Seconds each of `requests` concurrent reads took to answer while the server was frozen."""
    async with ferretdb_server(data_dir) as server:
        settings = Settings(
            mongodb_url=server.url,
            mongodb_driver=driver,
            mongodb_db="latency",
            mongodb_timeout_ms=budget_ms,
            mongodb_server_selection_timeout_ms=budget_ms,
            mongodb_connect_timeout_ms=budget_ms,
            ready_timeout_ms=budget_ms,
        )
        async with (
            run_lifespan(create_app(settings)) as running,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=running.app), base_url="http://b") as http,
        ):
            created = await http.post("/items", json={"name": "steady"})
            path = f"/items/{created.json()['id']}"
            server.freeze()
            times: list[float] = []
            statuses: set[int] = set()

            async def one() -> None:
                start = time.perf_counter()
                response = await http.get(path)
                times.append(time.perf_counter() - start)
                statuses.add(response.status_code)

            with anyio.fail_after(60 + 20 * budget_ms / 1000):
                async with anyio.create_task_group() as tasks:
                    for _ in range(requests):
                        tasks.start_soon(one)
            server.thaw()
        assert statuses == {503}, f"expected only 503s while frozen, got {sorted(statuses)}"
    return times


async def main(budget_ms: int, requests: int) -> None:
    logging.getLogger("app").setLevel(logging.ERROR)  # a warning per 503 is the service's output, not the figure
    print(f"{requests} concurrent reads, FerretDB frozen (SIGSTOP), budget {budget_ms} ms, {os.cpu_count()} CPUs")
    print(f"{'driver':8} {'p50 x budget':>13} {'p95 x budget':>13} {'max x budget':>13} {'over 1.5x':>10}")
    for driver in Driver:
        with tempfile.TemporaryDirectory() as data:
            times = sorted(await measure(driver, budget_ms, requests, Path(data)))
        ratios = [t * 1000 / budget_ms for t in times]
        over = sum(ratio > 1.5 for ratio in ratios)
        p95 = ratios[min(len(ratios) - 1, int(0.95 * len(ratios)))]
        print(
            f"{driver.value:8} {statistics.median(ratios):>13.2f} {p95:>13.2f} {ratios[-1]:>13.2f}"
            f" {over:>6}/{len(ratios)}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="a small run (20 requests, 300 ms): does it still work?")
    parser.add_argument("--budget-ms", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    if not FERRETDB_BIN.exists():
        sys.exit(f"needs the FerretDB binary at {FERRETDB_BIN}: run `scripts/ferretdb.sh build`")
    if args.smoke:
        args.budget_ms, args.requests = 300, 20
    asyncio.run(main(args.budget_ms, args.requests))
