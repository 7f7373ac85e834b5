"""A plugin for the inner pytest runs: records each test's outcome and errors as JSON for whoever ran it.

Loaded with `-p tests.pitfalls.report --pitfalls-report=PATH`; the outer tests and scripts/pitfalls.py read the file.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

_KEY = pytest.StashKey[dict[str, dict[str, Any]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--pitfalls-report", required=True, help="Where to write the JSON report.")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEY] = {}


def leaf_errors(exc: BaseException) -> list[BaseException]:
    """The exceptions that actually happened, out of any exception groups (task groups raise those)."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaf_errors(inner)]
    return [exc]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    tests = item.config.stash[_KEY]
    entry = tests.setdefault(item.name, {"outcome": "passed", "when": None, "errors": []})
    # The first phase that did not pass decides the outcome; teardown errors after a failure are noise.
    if entry["when"] is None and not report.passed:
        entry["when"] = report.when
        entry["outcome"] = "skipped" if report.skipped else "failed" if report.when == "call" else "error"
        if call.excinfo is not None:
            entry["errors"] = [
                {"type": f"{type(e).__module__}.{type(e).__qualname__}", "message": str(e)}
                for e in leaf_errors(call.excinfo.value)
            ]
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = Path(session.config.getoption("--pitfalls-report"))
    path.write_text(json.dumps({"exitstatus": int(exitstatus), "tests": session.config.stash[_KEY]}, indent=2))
