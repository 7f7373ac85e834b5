"""How long requests take to get their 503 while the database is frozen, as a ratio to the budget.

A private FerretDB is frozen with SIGSTOP (it accepts connections, answers nothing) for `--freeze-s`
seconds, while N readers each send `GET /items/{id}` to the app, over ASGI, in this process, one after
another (`--pause-ms` between a reader's answer and its next request) until the freeze ends. Each answer's
time is divided by MONGODB_TIMEOUT_MS: the service promises under 1.5x (docs/reliability.md). A freeze
longer than the driver's budgets is the hard case: the connection pool empties and refills against a
server that does not answer. `--timeline` prints, per second of the freeze, the answers and their worst
ratio. Motor runs every operation on a thread pool of CPU count x 5 threads, so without the app's
deadline its requests would queue for a thread before the driver's timeout starts.

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
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
from loopsafe_mongo import run_lifespan

from app.main import create_app
from app.settings import Driver, Settings
from tests.support.servers import FERRETDB_BIN, ferretdb_server

BOUND = 1.5  # the promise, as a ratio to the budget


@dataclass(frozen=True)
class Answer:
    sent_s: float  # since the freeze began
    took_s: float
    status: int


async def measure(
    driver: Driver, *, budget_ms: int, readers: int, freeze_s: float, pause_s: float, data_dir: Path
) -> list[Answer]:
    """Every answer the readers got to requests sent while the server was frozen."""
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
            # Warm: a pool of open connections, as a service that was busy before the freeze has.
            async with anyio.create_task_group() as tasks:
                for _ in range(readers):
                    tasks.start_soon(http.get, path)
            answers: list[Answer] = []
            server.freeze()
            frozen_at = time.perf_counter()

            async def reader() -> None:
                while (start := time.perf_counter()) - frozen_at < freeze_s:
                    response = await http.get(path)
                    answers.append(Answer(start - frozen_at, time.perf_counter() - start, response.status_code))
                    await anyio.sleep(pause_s)

            with anyio.fail_after(freeze_s + 60 + 20 * budget_ms / 1000):
                async with anyio.create_task_group() as tasks:
                    for _ in range(readers):
                        tasks.start_soon(reader)
            server.thaw()
    statuses = {answer.status for answer in answers}
    assert statuses == {503}, f"expected only 503s while frozen, got {sorted(statuses)}"
    return answers


def timeline(answers: list[Answer], budget_s: float) -> None:
    """Per second of the freeze (by when the request was sent): answers, how many waited, the worst ratio."""
    print(f"  {'second':>6} {'answers':>8} {'waited':>7} {'max x':>6} {'over':>5}")
    for second in range(int(max(answer.sent_s for answer in answers)) + 1):
        these = [answer.took_s / budget_s for answer in answers if int(answer.sent_s) == second]
        if these:
            waited = sum(ratio > 0.1 for ratio in these)
            over = sum(ratio > BOUND for ratio in these)
            print(f"  {second:>6} {len(these):>8} {waited:>7} {max(these):>6.2f} {over:>5}")


async def main(budget_ms: int, readers: int, freeze_s: float, pause_ms: int, show_timeline: bool) -> None:
    logging.getLogger("app").setLevel(logging.ERROR)  # a warning per 503 is the service's output, not the figure
    print(
        f"{readers} readers, FerretDB frozen (SIGSTOP) {freeze_s:g} s, budget {budget_ms} ms,"
        f" {pause_ms} ms between a reader's requests, {os.cpu_count()} CPUs"
    )
    print(
        f"{'driver':8} {'answers':>8} {'waited':>7} {'p50 x':>6} {'p95 x':>6} {'max x':>6}"
        f" {'over ' + str(BOUND) + 'x':>9}  (x: ratio to the budget; p50/p95 of the answers that waited)"
    )
    budget_s = budget_ms / 1000
    for driver in Driver:
        with tempfile.TemporaryDirectory() as data:
            answers = await measure(
                driver,
                budget_ms=budget_ms,
                readers=readers,
                freeze_s=freeze_s,
                pause_s=pause_ms / 1000,
                data_dir=Path(data),
            )
        ratios = sorted(answer.took_s / budget_s for answer in answers)
        # Most answers come at once from the breaker; the ones that went to the driver are the figure.
        waited = [ratio for ratio in ratios if ratio > 0.1] or [0.0]
        over = sum(ratio > BOUND for ratio in ratios)
        p95 = waited[min(len(waited) - 1, int(0.95 * len(waited)))]
        print(
            f"{driver.value:8} {len(ratios):>8} {len(waited):>7} {statistics.median(waited):>6.2f} {p95:>6.2f}"
            f" {ratios[-1]:>6.2f} {over:>4}/{len(ratios)}"
        )
        if show_timeline:
            timeline(answers, budget_s)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="a small run (20 readers, 300 ms, 2 s): does it work?")
    parser.add_argument("--budget-ms", type=int, default=1000)
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--freeze-s", type=float, default=20)
    parser.add_argument("--pause-ms", type=int, default=100)
    parser.add_argument("--timeline", action="store_true", help="per second of the freeze, too")
    args = parser.parse_args()
    if not FERRETDB_BIN.exists():
        sys.exit(f"needs the FerretDB binary at {FERRETDB_BIN}: run `scripts/ferretdb.sh build`")
    if args.smoke:
        args.budget_ms, args.readers, args.freeze_s = 300, 20, 2
    asyncio.run(main(args.budget_ms, args.readers, args.freeze_s, args.pause_ms, args.timeline))
