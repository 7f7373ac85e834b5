"""A database killed and restarted again and again under write load: afterwards the app is ready and
writing again within a bound, on both drivers, with no restart of the app.

Each run (tests/support/flapping.py, in a process of its own) serves the app under uvicorn with the
default budgets, and kills FerretDB 3 to 5 times, the first time early, while 16 clients write and retry.
It guards two failures: issue 10's (a cancelled PyMongo `asyncio.wait_for` on Python 3.11 orphaned a
task holding the topology lock; the app no longer cancels PyMongo operations, see
Settings.database_deadline_s), and issue 18's (operations piled up on the recovering server made the
driver clear its pool again at every heartbeat, for good while clients retried: app.breaker). Before
the breaker, 3 of 4 PyMongo runs here were still failing every write 30 s after the last restart, with
readiness at 200. `FLAPPING_RUNS=10`, as CI sets it, repeats the test with ten kill schedules.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from app.settings import Driver
from tests.support import flapping
from tests.support.servers import ROOT, require_ferretdb_binary

RUNS = int(os.environ.get("FLAPPING_RUNS", "1"))
# The run's own bounds (kills, recovery, draining the writers, shutdown) plus start-up, with room for a
# loaded machine: past this the run is stuck, not slow.
RUN_BOUND_S = (
    flapping.START_BOUND_S
    + flapping.MAX_KILLS * 30
    + flapping.RECOVERY_BOUND_S
    + flapping.REQUEST_BOUND_S
    + flapping.SHUTDOWN_BOUND_S
    + 30
)


def run_flapping(driver: Driver, seed: int) -> flapping.Outcome:
    command = [sys.executable, "-m", "tests.support.flapping", "--driver", driver.value, "--seed", str(seed)]
    try:
        done = subprocess.run(  # noqa: S603 - our own module, arguments we built
            command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_BOUND_S, check=False
        )
    except subprocess.TimeoutExpired as stuck:
        steps = stuck.stderr.decode() if isinstance(stuck.stderr, bytes) else stuck.stderr or ""
        reached = steps.strip().splitlines()[-1:] or ["nothing"]
        pytest.fail(
            f"the flapping run ({driver}, seed {seed}) did not finish within {RUN_BOUND_S} s, though each of its "
            f"steps is bounded: a task ignored cancellation (a driver stuck on a lock). Last step reached: "
            f"{reached[0]!r}",
            pytrace=False,
        )
    assert done.returncode == 0, f"the flapping run failed:\n{done.stderr[-3000:]}"
    return flapping.Outcome.model_validate_json(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("seed", range(RUNS))
@pytest.mark.parametrize("driver", list(Driver))
def test_the_app_is_ready_and_writing_again_after_the_database_flaps_under_load(driver: Driver, seed: int) -> None:
    require_ferretdb_binary()

    outcome = run_flapping(driver, seed)

    seen = f"({driver}, seed {seed}; answers: {outcome.statuses})"
    assert outcome.ready_after_s is not None, (
        f"/health/ready did not answer 200 within {flapping.RECOVERY_BOUND_S} s of the last restart under load {seen}"
    )
    assert outcome.writing_after_s is not None, (
        f"{2 * flapping.WRITERS} writes in a row did not succeed within {flapping.RECOVERY_BOUND_S} s of the "
        f"last restart, though readiness had returned {seen}"
    )
    assert not outcome.unexpected, f"answers other than 201 or 503: {outcome.unexpected} {seen}"
    assert not outcome.writers_stuck, (
        f"a writer's request did not end within {flapping.REQUEST_BOUND_S} s of the load stopping {seen}"
    )
