"""Index creation at startup, retried in the background while the database is unreachable.

The unique index on `name` is what makes duplicate names impossible, so writes are refused (503) until
it is known to exist. Reads and liveness work meanwhile, and the service recovers by itself once the
database answers; no restart is needed.
"""

from __future__ import annotations

import itertools
import logging

import anyio
from anyio.abc import TaskGroup

from app.database import Database, DriverError, error_name, is_unavailable
from app.repository import ensure_indexes

logger = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0)


class IndexGate:
    """Open once the indexes writes rely on are known to exist."""

    def __init__(self) -> None:
        self._open = anyio.Event()

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    def open(self) -> None:
        self._open.set()


async def create_indexes(db: Database, gate: IndexGate, background: TaskGroup) -> None:
    """Try once now; if the database is unavailable, go on retrying in `background` until the indexes exist.

    An error other than "unavailable" on this first try (an index that cannot be built, say) is raised,
    failing startup, because retrying cannot fix it. The first try runs inline, not as a task: a lifespan
    per test pays for every task started here.
    """
    try:
        await ensure_indexes(db)
    except DriverError as exc:
        if not is_unavailable(exc):
            raise
        _not_yet(exc)
        background.start_soon(_retry_until_created, db, gate)
    else:
        gate.open()


async def _retry_until_created(db: Database, gate: IndexGate) -> None:
    """Retry until the indexes exist. Shutdown cancels this task, but only between attempts."""
    for attempt in itertools.count():
        await anyio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
        try:
            # Shielded: a PyMongo operation cancelled at the wrong moment can keep its topology lock for
            # good (Settings.database_deadline_s). An attempt ends within the driver's own timeouts;
            # shutdown waits for it, and the cancellation lands at the next sleep.
            with anyio.CancelScope(shield=True):
                await ensure_indexes(db)
        except DriverError as exc:
            _not_yet(exc)
        else:
            gate.open()
            return


def _not_yet(exc: DriverError) -> None:
    logger.warning("indexes not created yet (%s); writes get 503 until they are", error_name(exc))
