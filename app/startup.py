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

from app.database import Database, DriverError, error_name, is_unavailable, unreachable_error
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
    """Try once now, inline; if the database is unavailable, go on retrying in `background`.

    For the in-memory backend, whose attempt returns at once: a lifespan per test pays for every task
    started here. An error other than "unavailable" (an index that cannot be built, say) is raised,
    failing startup, because retrying cannot fix it.
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


async def create_indexes_on_server(db: Database, gate: IndexGate, background: TaskGroup) -> None:
    """Start the attempts in `background` (the first at once) and wait for the first to end, unless the
    driver finds the database unreachable first: then return, so that the server listens meanwhile.

    With the database up this returns when the indexes exist, as the inline path does, so a write right
    after startup is taken. With it down, the driver's first failed check (connection refused: at once; a
    silent host: MONGODB_CONNECT_TIMEOUT_MS) ends the wait, not MONGODB_SERVER_SELECTION_TIMEOUT_MS.
    The attempt itself goes on in its own task, shielded, because a PyMongo operation must never be
    cancelled (Settings.database_deadline_s); only this wait is given up.

    An error other than "unavailable" on the first attempt fails startup if it comes while this still
    waits. If it comes after the server started listening, it is logged as an error and retried like
    any later one: writes and readiness answer 503 until the indexes exist (docs/reliability.md).
    """
    first = _FirstAttempt()
    background.start_soon(_create_until_done, db, gate, first)
    while not first.done.is_set():
        if (error := unreachable_error(db)) is not None:
            first.awaited = False
            _not_yet(error)
            return
        with anyio.move_on_after(_UNREACHABLE_POLL_S):
            await first.done.wait()
    if first.error is not None and not is_unavailable(first.error):
        raise first.error


# How often the wait for the first attempt looks at whether the driver found the database unreachable.
_UNREACHABLE_POLL_S = 0.05


class _FirstAttempt:
    """How the first attempt, running in its own task, ended."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.error: DriverError | None = None
        # True while the startup waits for it: an error it cannot retry past is then the startup's to raise.
        self.awaited = True


async def _create_until_done(db: Database, gate: IndexGate, first: _FirstAttempt) -> None:
    """The first attempt at once, then retries until the indexes exist; shutdown cancels this task, but
    only between attempts."""
    try:
        # Shielded for the reason _retry_until_created gives.
        with anyio.CancelScope(shield=True):
            await ensure_indexes(db)
    except DriverError as exc:
        first.error = exc
        first.done.set()
        if is_unavailable(exc):
            _not_yet(exc)
        elif first.awaited:
            return  # the startup raises it, failing as the inline path does
        else:
            # The server already listens: readiness and writes say 503 while this is retried.
            logger.error("indexes could not be created (%s: %s); writes get 503 until they are", error_name(exc), exc)
        await _retry_until_created(db, gate)
    else:
        gate.open()
        first.done.set()


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


def _not_yet(exc: BaseException) -> None:
    logger.warning("indexes not created yet (%s); writes get 503 until they are", error_name(exc))
