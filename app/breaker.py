"""After the database failed as unavailable, one call at a time tries it; the others get 503 at once.

Why (issue 18, finding 1): with many requests in flight when a database comes back, the driver can undo
its own recovery again and again. Its monitor finds the server up and readies the connection pool; an
operation that waited through the outage then fails at once ("connection pool paused", or its
connection handshake runs out of its already spent `timeoutMS`), and the driver takes that error as
the server failing: it marks the server Unknown and clears the pool again, and the next wave of waiting
operations does the same. Seen under uvicorn with 16 writers that retry and FerretDB SIGKILLed 3-5
times: writes failing for 30 s and more, the pool cleared twice a second, while a fresh client wrote at
once. Only operations piled up on a recovering server feed that loop, so after a failure the app lets
one call through (the trial) and answers the rest 503 without touching the driver, then lets the number
of calls at once grow with each answer (docs/reliability.md has the figures).
"""

from __future__ import annotations

import time
from types import TracebackType

from app.database import DriverError, is_unavailable


class DatabaseRecoveringError(RuntimeError):
    """Refused without a database call: the database failed just now, and another call is trying it."""


def database_answered(exc: BaseException | None) -> bool:
    """True when a call that ended this way reached a working database.

    A domain error (not found, duplicate name) or a driver error that is not "unavailable" (say, a
    write the server refused) is an answer too. A timeout, an unavailable error, or a cancellation
    (which says nothing about the database) is not.
    """
    if exc is None:
        return True
    if not isinstance(exc, Exception) or isinstance(exc, TimeoutError | DatabaseRecoveringError):
        return False
    return not (isinstance(exc, DriverError) and is_unavailable(exc))


# After a trial succeeds, the number of calls allowed at once doubles with each success until it passes
# this, then the limit is lifted: a burst of requests on a pool still being refilled is what fails.
WARM_CALLS = 64


class Breaker:
    """Shared by every call the app makes to the database (the repository's methods and readiness).

    Closed, every call goes through. A call that fails as unavailable opens it: then one call at a time
    goes through (the trial). Each call the database answers doubles the number allowed at once, up to
    WARM_CALLS, and then the breaker is closed; another failure on the way opens it again.
    """

    def __init__(self, *, abandoned_call_s: float = 0) -> None:
        """`abandoned_call_s`: how long a call whose wait timed out may still run in the driver. Motor's
        operations go on in a thread after the app stops waiting (up to the driver's budget); the next
        trial waits for that, or the trials would pile up in Motor's threads just as the requests did."""
        self._abandoned_call_s = abandoned_call_s
        self._limit: int | None = None  # calls allowed at once; None when closed
        self._in_flight = 0
        self._abandoned_until = 0.0

    @property
    def is_open(self) -> bool:
        """True until the database has answered enough calls since its last failure."""
        return self._limit is not None

    def call(self) -> _Call:
        """`with breaker.call(): await <one database call>`; raises DatabaseRecoveringError if refused."""
        if self._limit is not None and (self._in_flight >= self._limit or time.monotonic() < self._abandoned_until):
            raise DatabaseRecoveringError("the database failed just now; other requests are trying it")
        self._in_flight += 1
        return _Call(self)

    def _ended(self, exc: BaseException | None) -> None:
        self._in_flight -= 1
        if database_answered(exc):
            if self._limit is not None:
                self._limit *= 2
                if self._limit > WARM_CALLS:
                    self._limit = None
        elif isinstance(exc, Exception):  # a cancellation says nothing about the database
            self._limit = 1
            if isinstance(exc, TimeoutError):
                self._abandoned_until = time.monotonic() + self._abandoned_call_s


class _Call:
    __slots__ = ("_breaker",)

    def __init__(self, breaker: Breaker) -> None:
        self._breaker = breaker

    def __enter__(self) -> None:
        return None

    def __exit__(self, _: type[BaseException] | None, exc: BaseException | None, __: TracebackType | None) -> None:
        self._breaker._ended(exc)
