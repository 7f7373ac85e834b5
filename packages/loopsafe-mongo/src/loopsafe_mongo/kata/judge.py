"""Runs one exercise's tests in a pytest process of its own, with the referee, and judges what they did.

An exercise is done when every test it names passed (not skipped, not xfail), each used the app's guarded
MongoDB client while it ran, and the guard never raised, not even where a test caught it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopsafe_mongo.guard import STRICT_ENV
from loopsafe_mongo.kata.catalogue import Exercise

__all__ = ["INSTALL", "Verdict", "judge", "missing_modules", "pytest_command", "run"]

INSTALL = 'pip install "loopsafe-mongo[asyncio]" fastapi mongomock-motor'
# What the exercises import or run on: import name -> what to pip install (the [asyncio] extra's bounds).
_NEEDED = {
    "fastapi": "fastapi",
    "mongomock_motor": "mongomock-motor",
    "httpx": '"httpx>=0.28,<1"',
    "pytest": '"pytest>=8.3,<10"',
    "pytest_asyncio": '"pytest-asyncio>=1.0,<2"',
}
# Generous: an exercise's tests take about a second; a learner's change may hang (a loop that never ends).
TIMEOUT_S = 120


def missing_modules() -> list[str]:
    """What the exercises need and is not installed, as `pip install` arguments."""
    return [dist for module, dist in _NEEDED.items() if importlib.util.find_spec(module) is None]


@dataclass(frozen=True)
class Verdict:
    exercise: Exercise
    passed: bool
    problems: tuple[str, ...]  # why it is not done yet, one sentence each
    error: dict[str, str] | None  # the first error the tests raised: {"type", "message"}
    output: str = field(repr=False)  # pytest's own output, for when the report does not say enough


def pytest_command(exercise: Exercise, report: Path) -> list[str]:
    # Plugins are named, not autoloaded: other plugins the learner has installed cannot change the run.
    plugins = ["anyio.pytest_plugin", *(["pytest_asyncio.plugin"] if exercise.asyncio else [])]
    plugins += ["loopsafe_mongo.pytest_plugin", "loopsafe_mongo.kata.referee"]
    return [
        sys.executable,
        *("-m", "pytest", "-q", "--tb=short", "-p", "no:cacheprovider"),
        *(arg for plugin in plugins for arg in ("-p", plugin)),
        f"--kata-report={report}",
    ]


def run(exercise: Exercise, folder: Path) -> tuple[dict[str, Any] | None, str]:
    """Run the exercise's tests in `folder`: the referee's report (None if it wrote none) and pytest's output."""
    env = {key: value for key, value in os.environ.items() if key != STRICT_ENV}
    # The loopsafe-mongo plugin turns strict mode on, as in a project that adopts it.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    with tempfile.TemporaryDirectory(prefix="kata-") as scratch:
        report_path = Path(scratch) / "report.json"
        try:
            done = subprocess.run(  # noqa: S603 - our own interpreter, with a fixed argument list
                pytest_command(exercise, report_path),
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout if isinstance(exc.stdout, str) else ""
            return None, f"the tests did not finish within {TIMEOUT_S} s:\n{output}"
        report = json.loads(report_path.read_text()) if report_path.exists() else None
        return report, done.stdout + done.stderr


def _test_problems(name: str, entry: dict[str, Any] | None) -> list[str]:
    if entry is None or entry["outcome"] == "not run":
        return [f"{name} did not run: the exercise needs it (was it deleted or renamed?)."]
    outcome = entry["outcome"]
    if outcome == "skipped":
        return [f"{name} was skipped: a skipped test proves nothing. Fix the code instead."]
    if outcome in {"xfailed", "xpassed"}:
        return [f"{name} is marked xfail: take the marker off and fix the code instead."]
    if outcome != "passed":
        return [f"{name} {'fails' if outcome == 'failed' else 'errors in a fixture'}."]
    problems = []
    if not entry["uses"].get("call"):
        problems.append(
            f"{name} passed without using the app's guarded MongoDB client: it must still reach the database"
            " (is its body empty, or was guard() taken off the client?)."
        )
    if entry["mismatches"]:
        problems.append(f"{name} passed, but the guard raised LoopMismatchError while it ran (was it caught?).")
    return problems


def judge(exercise: Exercise, report: dict[str, Any] | None, output: str) -> Verdict:
    """Whether the exercise is done, and if not, why, from the referee's report of one run."""
    if report is None:
        problem = "pytest could not run the tests (see its output below)."
        return Verdict(exercise, passed=False, problems=(problem,), error=None, output=output)
    problems = [f"the tests could not be collected: {e['type']}." for e in report["collection_errors"]]
    tests = report["tests"]
    for name in exercise.tests:
        problems += _test_problems(name, tests.get(name))
    if not problems and report["exitstatus"] != 0:
        problems.append(f"pytest exited with status {report['exitstatus']}: another test fails.")
    errors = [*report["collection_errors"], *(tests[name]["error"] for name in exercise.tests if name in tests)]
    errors += [entry["error"] for entry in tests.values()]
    error = next((e for e in errors if e), None)
    return Verdict(exercise, passed=not problems, problems=tuple(problems), error=error, output=output)
