"""Index creation at startup, retried in the background while the database is unreachable.

The unique index on `name` is what makes duplicate names impossible, so writes are refused (503) until
it is known to exist. Reads and liveness work meanwhile, and the service recovers by itself once the
database answers; no restart is needed.
"""

from __future__ import annotations

import logging

import anyio
from anyio.abc import TaskStatus

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


async def create_indexes(db: Database, gate: IndexGate, *, task_status: TaskStatus[None]) -> None:
    """Try once, report started, then keep retrying in the background until the indexes exist.

    An error other than "unavailable" on the first try (an index that cannot be built, say) fails
    startup, because retrying cannot fix it.
    """
    attempt = 0
    while True:
        try:
            await ensure_indexes(db)
        except DriverError as exc:
            if attempt == 0 and not is_unavailable(exc):
                raise
            logger.warning("indexes not created yet (%s); writes get 503 until they are", error_name(exc))
        else:
            gate.open()
        if attempt == 0:
            task_status.started()
        if gate.is_open:
            return
        await anyio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
        attempt += 1
