"""Show each bad way to set up an async MongoDB client in tests: the pattern, what breaks, what the guard says, the fix.

Runs the regression tests' scenarios the way they do, each a pytest session in a process of its own; real
drivers talk to MONGODB_URL when it names a server, else to the in-process wire server of tests/support.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from pathlib import Path

from app.settings import redact_url
from tests.pitfalls import runner
from tests.pitfalls.forkserver import ForkServer
from tests.pitfalls.runner import Backend, Cell, Kind, Run, Scenario
from tests.support.wire_server import wire_server

WIDTH = 100
LABEL = 11  # the width of the left-hand column ("Pattern", "Motor", ...)
# Which runs show what: the drivers' own errors, the mock's silence, and the guard's message.
SHOWN = {
    "Motor": Cell(Backend.MOTOR, guard=False),
    "PyMongo": Cell(Backend.PYMONGO, guard=False),
    "mongomock": Cell(Backend.IN_MEMORY, guard=False),
    "Guard": Cell(Backend.MOTOR, guard=True),
}
# The state of the app, not the loop, is what goes wrong here, and our own check speaks before any driver.
SINGLE_CELL = {Kind.NO_LIFESPAN: Cell(Backend.IN_MEMORY, guard=True), Kind.HARNESS_CHECK: SHOWN["mongomock"]}
# asyncio's text quotes whole task and future reprs; the gist fits on one line.
_OTHER_LOOP = re.compile(r"Task <.+> got Future <.+> (attached to a different loop)", re.DOTALL)


def cells(scenario: Scenario) -> dict[str, Cell]:
    if scenario.kind in SINGLE_CELL:
        return {"Error": SINGLE_CELL[scenario.kind]}
    return SHOWN


def run_one(scenario: Scenario, cell: Cell, server: str, forkservers: queue.Queue[ForkServer]) -> Run | str:
    """One session, on whichever fork server is free (each runs one session at a time)."""
    forkserver = forkservers.get()
    try:
        with tempfile.TemporaryDirectory(prefix="pitfalls-") as directory:
            return runner.run(scenario, cell, Path(directory), server, forkserver)
    except runner.InnerRunError as exc:
        return str(exc)
    finally:
        forkservers.put(forkserver)


def what_happened(run: Run | str, scenario: Scenario) -> str:
    """The first error of the scenario's failing tests, or that every test passed."""
    if isinstance(run, str):
        return f"could not run: {run}"
    for name in scenario.failing:
        for error in run.tests[name].errors:
            message = _OTHER_LOOP.sub(r"Task <...> got Future <...> \1", error.message)
            return f"{error.type.removeprefix('builtins.').rpartition('.')[2]}: {message}"
    if all(outcome.outcome == "passed" for outcome in run.tests.values()):
        return "passes: it binds to no loop, so a suite that only runs on mocks never sees this bug."
    return "fails otherwise: " + ", ".join(f"{name} {o.outcome}" for name, o in run.tests.items())


def field(label: str, text: str) -> str:
    """`text` beside `label`, each of its lines wrapped to WIDTH, continuation lines indented under the text."""
    indent = " " * (3 + LABEL)
    lines = []
    for number, line in enumerate(text.splitlines() or [""]):
        # Keep a line's own leading spaces (the guard indents the parts of its message), and hang what wraps.
        own = " " * (len(line) - len(line.lstrip()))
        first = f"   {label:<{LABEL}}" if number == 0 else indent + own
        hanging = indent + own + ("  " if own else "")
        lines.append(textwrap.fill(line.lstrip(), WIDTH, initial_indent=first, subsequent_indent=hanging))
    return "\n".join(lines)


def describe(number: int, scenario: Scenario, results: dict[str, Run | str]) -> str:
    failing = ", ".join(scenario.failing) + (" (in a fixture)" if scenario.phase == "setup" else "")
    parts = [
        f"{number}. {scenario.name}",
        field("Pattern", scenario.pattern),
        field("Source", f"{scenario.path.relative_to(runner.ROOT)}, failing in {failing}"),
        *(field(label, what_happened(run, scenario)) for label, run in results.items()),
        field("Fix", scenario.fix),
    ]
    return "\n".join(parts)


def main(argv: Sequence[str]) -> int:
    shown = [s for s in runner.CATALOGUE if s.kind is not Kind.CORRECT]
    parser = argparse.ArgumentParser(prog="python -m scripts.pitfalls", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"only these: {', '.join(s.name for s in shown)}")
    names = parser.parse_args(argv).names
    if unknown := set(names) - {s.name for s in shown}:
        parser.error(f"unknown pattern(s): {', '.join(sorted(unknown))}")
    chosen = [s for s in shown if not names or s.name in names]

    jobs = [(s, label, cell) for s in chosen for label, cell in cells(s).items()]
    workers = os.cpu_count() or 1
    results: dict[tuple[str, str], Run | str] = {}
    with ExitStack() as stack:
        server = runner.server_url() or stack.enter_context(wire_server())
        where = redact_url(server) if runner.server_url() else "an in-process wire server (mongomock behind it)"
        print(f"Running {len(jobs)} pytest sessions; real drivers use {where}.", file=sys.stderr, flush=True)
        forkservers: queue.Queue[ForkServer] = queue.Queue()
        for _ in range(workers):
            forkserver = ForkServer(runner.ROOT)
            stack.callback(forkserver.close)
            forkservers.put(forkserver)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(run_one, s, cell, server, forkservers): (s.name, label) for s, label, cell in jobs}
            for done, future in enumerate(as_completed(futures), start=1):
                results[futures[future]] = run = future.result()
                outcome = "could not run" if isinstance(run, str) else f"pytest exit {run.exit_code}"
                name, label = futures[future]
                print(f"  [{done:>2}/{len(jobs)}] {name} ({label}): {outcome}", file=sys.stderr, flush=True)

    print("Ways to break an async MongoDB client in tests, and how to fix them. See docs/loops-and-clients.md.")
    for number, scenario in enumerate(chosen, start=1):
        print()
        print(describe(number, scenario, {label: results[scenario.name, label] for label in cells(scenario)}))
    crashed = [key for key, run in results.items() if isinstance(run, str)]
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
