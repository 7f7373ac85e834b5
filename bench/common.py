"""What the benchmarks share: statistics that leave out failed samples, and retries for untimed housekeeping."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
from collections.abc import Awaitable, Callable

from app.database import is_unavailable

# Housekeeping between measurements (cleanup, seeding) is retried this often while the database is slow.
HOUSEKEEPING_ATTEMPTS = 5


def spread(values: list[float]) -> float:
    """Interquartile range over median, of the finite values (0 when fewer than 2: nothing to compare)."""
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < 2:
        return 0.0
    q1, median, q3 = statistics.quantiles(finite, n=4, method="inclusive")
    return (q3 - q1) / median if median else math.inf


def finite_median(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


def ratio(a: float, b: float) -> float:
    return a / b if b and math.isfinite(a) and math.isfinite(b) else math.nan


class DatabaseUnavailableError(RuntimeError):
    """The app answered 503 where a benchmark needed an answer: counted as a timeout, not raised."""


def is_timeout(exc: BaseException) -> bool:
    """A database timeout or lost connection, alone or as every leaf of an ExceptionGroup (task groups)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_timeout(inner) for inner in exc.exceptions)
    return isinstance(exc, DatabaseUnavailableError) or is_unavailable(exc)


async def retry_while_unavailable(action: Callable[[], Awaitable[object]]) -> None:
    """Untimed housekeeping must happen, or the next measurement sees other data: retry it while slow."""
    for attempt in range(1, HOUSEKEEPING_ATTEMPTS + 1):
        try:
            await action()
        except Exception as exc:
            if not is_timeout(exc) or attempt == HOUSEKEEPING_ATTEMPTS:
                raise
            await asyncio.sleep(0.5 * attempt)
        else:
            return


def add_common_options(parser: argparse.ArgumentParser, *, noise_limit: float, noisy: str) -> None:
    """--noise-limit (flag a figure whose spread is above it) and --smoke (every path once, for CI)."""
    parser.add_argument(
        "--noise-limit",
        type=float,
        default=noise_limit,
        help=f"flag {noisy} whose spread is above this (default {noise_limit})",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        default=os.environ.get("BENCH_SMOKE") == "1",
        help="run every path once in a few seconds, for CI; fails only on an error (also BENCH_SMOKE=1)",
    )
