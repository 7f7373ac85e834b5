"""One run of the flapping-database scenario, in a process of its own: `python -m tests.support.flapping`.

The app is served as in production: uvicorn in a process of its own, the default time budgets. A private
FerretDB server is killed and restarted 3 to 5 times, the first time early (while the pool is still
being filled), while WRITERS clients POST items and retry each one, with its Idempotency-Key, until it
is created. Then, with the load still on, the run waits for readiness and for a streak of successful
writes, and prints what happened as one JSON line. tests/test_flapping_database.py judges the result.

The run is a process of its own, so that the test can kill it at a bound and say which step it reached,
whatever hangs (uvicorn's shutdown, a client, the server).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from subprocess import DEVNULL

import anyio
import httpx
from pydantic import BaseModel

from app.settings import Driver, Settings
from tests.support.api import get_until_ok
from tests.support.servers import ROOT, FerretServer, ferretdb_server, free_port

MAX_KILLS = 5
WRITERS = 16
# A client's pause before it retries a write that got 503 (shorter than Retry-After: an impatient client).
RETRY_PAUSE_S = 0.1
# Bounds on getting stuck, not speed targets: recovery takes about a second when nothing is wrong, and
# every request answers within 1.25 x the default 5 s budget.
RECOVERY_BOUND_S = 30
REQUEST_BOUND_S = 10
START_BOUND_S = 30
SHUTDOWN_BOUND_S = 15


class Outcome(BaseModel):
    """What one run saw; None for a recovery step that did not happen within RECOVERY_BOUND_S."""

    ready_after_s: float | None
    writing_after_s: float | None
    statuses: dict[int, int]
    unexpected: list[str]
    writers_stuck: bool


class Load:
    """WRITERS clients that POST new items back to back, each retried with its Idempotency-Key after a
    503 until created, and count the answers; `healthy` is set once 2 x WRITERS writes in a row have
    succeeded since the last call to `expect_recovery()`."""

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
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        while not self.stopped:
            response = None
            with anyio.move_on_after(REQUEST_BOUND_S):
                item = {"name": f"writer {number} item {sent}"}
                response = await self.http.post("/items", json=item, headers=headers)
            if response is None:
                self.unexpected.append(f"a POST had no answer within {REQUEST_BOUND_S} s")
                return
            self.statuses[response.status_code] += 1
            if response.status_code == 201:
                sent += 1
                headers = {"Idempotency-Key": str(uuid.uuid4())}
                self.streak += 1
                if self.streak >= 2 * WRITERS:
                    self.healthy.set()
            elif response.status_code == 503:
                self.streak = 0
                await anyio.sleep(RETRY_PAUSE_S)  # then the same item, with the same key
            else:
                self.unexpected.append(f"{response.status_code} {response.text[:200]}")
                return


async def flap(server: FerretServer, rng: random.Random) -> None:
    """3 to 5 crashes, the first after 50-300 ms of load, the others after 150 ms to 1.4 s of service, each
    down for 50-500 ms (the findings' patterns: issue 10's, and issue 18's early first kill)."""
    kills = rng.randint(3, MAX_KILLS)
    for kill in range(1, kills + 1):
        await anyio.sleep(rng.uniform(0.05, 0.3) if kill == 1 else rng.uniform(0.15, 1.4))
        await server.kill()
        await anyio.sleep(rng.uniform(0.05, 0.5))
        await server.start()
        progress(f"killed and restarted the server ({kill} of {kills})")


@asynccontextmanager
async def served_app(url: str, driver: Driver, log: Path) -> AsyncIterator[httpx.AsyncClient]:
    """`uvicorn app.main:app` on a free loopback port, with the default budgets, and a client for it."""
    # Only this run's settings: the environment of a FerretDB suite run must not change the budgets.
    env = {name: value for name, value in os.environ.items() if name.lower() not in Settings.model_fields}
    env |= {"MONGODB_URL": url, "MONGODB_DRIVER": driver.value, "MONGODB_DB": "flapping"}
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--no-access-log"]
    # Its output goes to a file, not to this run's stderr: a warning per 503 would bury the run's progress
    # lines, which the test reads. The file's end is shown if uvicorn exits at start.
    with log.open("wb") as log_file:
        process = await anyio.open_process(command, cwd=ROOT, env=env, stdout=DEVNULL, stderr=log_file)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=REQUEST_BOUND_S) as http:
            with anyio.fail_after(START_BOUND_S):
                while True:
                    try:
                        await get_until_ok(http, "/health/ready")
                        break
                    except httpx.TransportError:  # not listening yet
                        assert process.returncode is None, (
                            f"uvicorn exited with {process.returncode} at start; its log ends:\n"
                            f"{log.read_text(errors='replace')[-3000:]}"  # noqa: ASYNC240 - once, on failure
                        )
                        await anyio.sleep(0.1)
            progress("the app is serving")
            yield http
    finally:
        if process.returncode is None:  # one that exited at start cannot be signalled
            process.send_signal(signal.SIGTERM)
        with anyio.move_on_after(SHUTDOWN_BOUND_S) as waiting:
            await process.wait()
        if waiting.cancelled_caught:
            process.kill()
        await process.aclose()
        if waiting.cancelled_caught:
            raise TimeoutError(f"uvicorn did not exit within {SHUTDOWN_BOUND_S} s of SIGTERM")


def progress(step: str) -> None:
    """A line on stderr per step reached, so a run killed at the test's bound shows where it stuck."""
    print(step, file=sys.stderr, flush=True)


async def run(driver: Driver, seed: int, data_dir: Path) -> Outcome:
    ready_after = writing_after = None
    async with ferretdb_server(data_dir) as server:
        async with served_app(server.url, driver, data_dir / "uvicorn.log") as http:
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
