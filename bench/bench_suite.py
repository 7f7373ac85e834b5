"""Where the test suite's time goes: per-test cost of the harness by lifespan scope and backend, and wall
time by file, so that the next slow-down shows up here before it shows up in everyone's feedback loop.

It runs pytest (as a subprocess, with a JUnit XML report) once per lifespan scope on the in-memory
backend, and again on a server when MONGODB_URL names one, then prints for each run its wall time, its
tests' median and mean duration, and the files that took longest (sum of their tests' durations; with
workers, the sum can exceed the wall time). Run it from the repository root:

    .venv/bin/python -m bench.bench_suite                # the whole suite, one worker per core
    .venv/bin/python -m bench.bench_suite --smoke        # two small files, one worker: for CI

Figures of one machine at one moment: compare a run with another taken the same way, not across machines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOKE_FILES = ("tests/test_health.py", "tests/test_items_read.py")


@dataclass(frozen=True)
class SuiteRun:
    label: str
    wall_s: float
    exit_code: int
    durations: dict[str, float]  # test id -> seconds (setup + call + teardown)

    def by_file(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for test, seconds in self.durations.items():
            totals[test.split("::", 1)[0]] += seconds
        return dict(totals)


def run_suite(label: str, env: dict[str, str], args: list[str]) -> SuiteRun:
    with tempfile.TemporaryDirectory() as directory:
        report = Path(directory) / "report.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *args]
        start = time.perf_counter()
        completed = subprocess.run(  # noqa: S603 - this interpreter, running pytest on our own tests
            command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - start
        if not report.exists():
            raise SystemExit(f"{label}: pytest wrote no report (exit {completed.returncode}):\n{completed.stdout}")
        durations = {}
        for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314 - our own report
            path = case.get("classname", "").replace(".", "/")
            test_file = f"{path.rsplit('/', 1)[0] if path.count('/') > 1 else path}.py"
            durations[f"{test_file}::{case.get('name')}"] = float(case.get("time", "0"))
    return SuiteRun(label, wall, completed.returncode, durations)


def print_run(run: SuiteRun, top: int) -> None:
    times = list(run.durations.values()) or [0.0]
    print(
        f"\n{run.label}: {len(run.durations)} tests, wall {run.wall_s:.1f} s, exit {run.exit_code};"
        f" per test median {statistics.median(times) * 1e3:.1f} ms, mean {statistics.fmean(times) * 1e3:.1f} ms"
    )
    for test_file, seconds in sorted(run.by_file().items(), key=lambda item: -item[1])[:top]:
        print(f"  {seconds:8.2f} s  {test_file}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="two small files, one worker: for CI")
    parser.add_argument("--top", type=int, default=10, help="how many files to list per run (default 10)")
    args = parser.parse_args()
    selection = ["-p", "no:xdist", *SMOKE_FILES] if args.smoke else ["-n", "auto"]
    backends = {"in memory": {"MONGODB_URL": ""}}
    if server := os.environ.get("MONGODB_URL"):
        backends["server"] = {"MONGODB_URL": server}
    runs = [
        run_suite(f"{backend}, --loopsafe-scope={scope}", env, [f"--loopsafe-scope={scope}", *selection])
        for backend, env in backends.items()
        for scope in ("function", "session")
    ]
    for run in runs:
        print_run(run, args.top)
    if failed := [run.label for run in runs if run.exit_code != 0]:
        raise SystemExit(f"the suite failed in: {', '.join(failed)}")


if __name__ == "__main__":
    main()
