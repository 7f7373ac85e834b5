"""One run of the flapping-database scenario, in a process of its own: `python -m tests.support.flapping`.

A private FerretDB server is killed and restarted KILLS times while WRITERS tasks POST items through the
app; then, with the load still on, the run waits for readiness and for a streak of successful writes,
and prints what happened as one JSON line. tests/test_flapping_database.py runs it and judges the result.

A process of its own, because the failure it looks for can leave a task that ignores cancellation (a
driver stuck on a lock): such a task would hang the test session's event loop when it closes, where a
process can be killed at a bound and the test can say what did not finish.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

import anyio
import httpx
from pydantic import BaseModel

from app.settings import Driver
from tests.support.api import get_until_ok
from tests.support.apps import serve_app, short_budget_settings
from tests.support.servers import FerretServer, ferretdb_server

KILLS = 3
WRITERS = 16
BUDGET_MS = 500
# Bounds on getting stuck, not speed targets: recovery takes about a second when nothing is wrong, and
# every request answers within 1.25 x BUDGET_MS.
RECOVERY_BOUND_S = 30
REQUEST_BOUND_S = 10
SHUTDOWN_BOUND_S = 15


class Outcome(BaseModel):
    """What one run saw; None for a recovery step that did not happen within RECOVERY_BOUND_S."""

    ready_after_s: float | None
    writing_after_s: float | None
    statuses: dict[int, int]
    unexpected: list[str]
    writers_stuck: bool


class Load:
    """WRITERS tasks that POST new items back to back and count the answers; `healthy` is set once
    2 x WRITERS writes in a row have succeeded since the last call to `expect_recovery()`."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.statuses: Counter[int] = Counter()
        self.unexpected: list[str] = []
        self.streak = 0
        self.healthy = anyio.Event()
        self.stopped = False

    def expect_recovery(self) -> None:
        self.streak = 0
        self.healthy = anyio.Event()

    async def writer(self, number: int) -> None:
        sent = 0
        while not self.stopped:
            response = None
            with anyio.move_on_after(REQUEST_BOUND_S):
                response = await self.http.post("/items", json={"name": f"writer {number} item {sent}"})
            sent += 1
            if response is None:
                self.unexpected.append(f"a POST had no answer within {REQUEST_BOUND_S} s")
                return
            self.statuses[response.status_code] += 1
            if response.status_code == 201:
                self.streak += 1
                if self.streak >= 2 * WRITERS:
                    self.healthy.set()
            elif response.status_code == 503:
                self.streak = 0
            else:
                self.unexpected.append(f"{response.status_code} {response.text[:200]}")


async def flap(server: FerretServer, rng: random.Random) -> None:
    """KILLS crashes, each after 150 ms to 1.4 s of service, each down for 50-500 ms (the finding's pattern)."""
    for kill in range(1, KILLS + 1):
        await anyio.sleep(rng.uniform(0.15, 1.4))
        await server.kill()
        await anyio.sleep(rng.uniform(0.05, 0.5))
        await server.start()
        progress(f"killed and restarted the server ({kill} of {KILLS})")


def progress(step: str) -> None:
    """A line on stderr per step reached, so a run killed at the test's bound shows where it stuck."""
    print(step, file=sys.stderr, flush=True)


async def run(driver: Driver, seed: int, data_dir: Path) -> Outcome:
    ready_after = writing_after = None
    async with ferretdb_server(data_dir) as server:
        settings = short_budget_settings(server.url, budget_ms=BUDGET_MS, driver=driver, mongodb_db="flapping")
        # A stuck driver can also hang the client's close(): bound the shutdown too.
        async with serve_app(settings, lifespan_timeout_s=SHUTDOWN_BOUND_S) as http:
            load = Load(http)
            async with anyio.create_task_group() as tasks:
                for number in range(WRITERS):
                    tasks.start_soon(load.writer, number)
                await flap(server, random.Random(seed))  # noqa: S311 - a seeded schedule, not a secret
                load.expect_recovery()
                restarted = time.monotonic()
                # The load goes on: the stuck state showed only while requests kept coming.
                with anyio.move_on_after(RECOVERY_BOUND_S):
                    await get_until_ok(http, "/health/ready")
                    ready_after = time.monotonic() - restarted
                    progress(f"ready {ready_after:.1f} s after the last restart")
                    await load.healthy.wait()
                    writing_after = time.monotonic() - restarted
                    progress(f"writing {writing_after:.1f} s after the last restart")
                load.stopped = True
                # Writers finish the request in hand; one that cannot is cancelled, and reported.
                tasks.cancel_scope.deadline = anyio.current_time() + REQUEST_BOUND_S
            progress("the writers stopped")
        progress("the app shut down")
    return Outcome(
        ready_after_s=ready_after,
        writing_after_s=writing_after,
        statuses=dict(load.statuses),
        unexpected=load.unexpected[:5],
        writers_stuck=tasks.cancel_scope.cancelled_caught,
    )


async def run_and_report(driver: Driver, seed: int, data_dir: Path) -> None:
    try:
        outcome = await run(driver, seed, data_dir)
    except BaseException:
        # Now, not after the loop closes: closing it may hang on the task this very failure left behind.
        progress(f"failed:\n{traceback.format_exc()}")
        raise
    # Printed (and flushed) while the loop still runs: if closing it then hangs on a stuck task, the
    # test kills this process and still has the outcome.
    print(outcome.model_dump_json(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--driver", type=Driver, choices=list(Driver), required=True)
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill schedule")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        anyio.run(run_and_report, args.driver, args.seed, Path(data_dir))


if __name__ == "__main__":
    main()
