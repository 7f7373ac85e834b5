"""The kata's pytest plugin: records, per test, its outcome, its first error, and how often the guarded client worked.

`kata check` loads it (`-p loopsafe_mongo.kata.referee --kata-report=PATH`) to tell a real fix from a test that
was deleted, skipped, emptied or cut off from the client: each guarded use of a client counts for the test (and
the phase: setup, call, teardown) running at the time, whichever thread or loop made the call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from loopsafe_mongo.guard import Binding, LoopMismatchError

# What this run's tests did; None unless --kata-report was given. One pytest session per process.
_REPORT: dict[str, Any] | None = None
_CURRENT: list[tuple[str, str]] = []  # (test name, phase) while a test runs; empty between tests


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kata-report", default=None, help="Where the kata referee writes what each test did (JSON).")


def _test(report: dict[str, Any], name: str) -> dict[str, Any]:
    entry: dict[str, Any] = report["tests"].setdefault(
        name, {"outcome": "not run", "uses": {}, "mismatches": 0, "error": None}
    )
    return entry


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("--kata-report"):
        return
    global _REPORT  # noqa: PLW0603 - the hooks below have no config to reach it through
    report: dict[str, Any] = {"tests": {}, "collection_errors": [], "exitstatus": None}
    _REPORT = report
    check, mismatch_message, off_loop_message = Binding.check, Binding.mismatch_message, Binding.off_loop_message
    # The guard names the innermost project code in its message: not this wrapper, nor the package's plugin
    # (an editable install of the package is not under site-packages, where the guard would skip it anyway).
    package = Path(__file__).resolve().parents[1]
    skip = frozenset(str(package / name) for name in ("kata/referee.py", "pytest_plugin.py", "lifespan.py"))

    # Wrapped here, in the learner's test process only: the guard's hot path carries no hook for the kata.
    def counted_check(self: Binding, loop: asyncio.AbstractEventLoop) -> None:
        self.skip |= skip
        check(self, loop)  # raises on the wrong loop: only uses that went through count
        if _CURRENT:
            name, phase = _CURRENT[-1]
            uses = _test(report, name)["uses"]
            uses[phase] = uses.get(phase, 0) + 1

    def counted_mismatch(self: Binding, current: asyncio.AbstractEventLoop | None) -> str:
        # Every LoopMismatchError is built here, so one that a test catches and hides still counts.
        self.skip |= skip
        if _CURRENT:
            _test(report, _CURRENT[-1][0])["mismatches"] += 1
        return mismatch_message(self, current)

    def described_off_loop(self: Binding) -> str:
        self.skip |= skip
        return off_loop_message(self)

    Binding.check = counted_check  # type: ignore[method-assign]
    Binding.off_loop_message = described_off_loop  # type: ignore[method-assign]
    Binding.mismatch_message = counted_mismatch  # type: ignore[method-assign]


@contextmanager
def _in_phase(item: pytest.Item, phase: str) -> Iterator[None]:
    _CURRENT.append((item.name, phase))
    try:
        yield
    finally:
        _CURRENT.pop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with _in_phase(item, "setup"):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with _in_phase(item, "call"):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    with _in_phase(item, "teardown"):
        return (yield)


def guard_error(exc: BaseException) -> BaseException:
    """The guard's own error inside `exc` (its causes, contexts and exception groups), else `exc` itself."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, LoopMismatchError):
            return current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return exc


def _describe(exc: BaseException) -> dict[str, str]:
    found = guard_error(exc)
    return {"type": type(found).__name__, "message": str(found)}


def pytest_exception_interact(node: pytest.Item | pytest.Collector, call: pytest.CallInfo[Any]) -> None:
    if _REPORT is None or call.excinfo is None:
        return
    if isinstance(node, pytest.Item):
        entry = _test(_REPORT, node.name)
        entry["error"] = entry["error"] or _describe(call.excinfo.value)
    else:
        # pytest wraps a failed import in its CollectError: the learner wants the error that caused it.
        error = call.excinfo.value
        _REPORT["collection_errors"].append(_describe(error.__cause__ or error))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _REPORT is None:
        return
    entry = _test(_REPORT, report.nodeid.rpartition("::")[2].partition("[")[0])
    if hasattr(report, "wasxfail"):
        entry["outcome"] = "xfailed" if report.skipped else "xpassed"
    # A failed or skipped setup is the test's outcome; a failed teardown spoils a passed call.
    elif (report.when == "call" or report.outcome != "passed") and entry["outcome"] in {"not run", "passed"}:
        entry["outcome"] = "error" if report.when != "call" and report.failed else report.outcome


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _REPORT is None:
        return
    _REPORT["exitstatus"] = int(exitstatus)
    Path(session.config.getoption("--kata-report")).write_text(json.dumps(_REPORT, indent=1))
