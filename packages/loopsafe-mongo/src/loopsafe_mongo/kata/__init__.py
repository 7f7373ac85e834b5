"""`python -m loopsafe_mongo kata`: exercises in which a newcomer watches each bad client pattern fail, then fixes it.

`start DIR` lays the exercises out, `check` runs them and says which is next and what the guard says about it,
`hint N` and `diagram N` help with one. The exercises, their solutions and their pictures ship with the package.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import textwrap
from pathlib import Path

from loopsafe_mongo import __version__
from loopsafe_mongo.kata import diagrams
from loopsafe_mongo.kata.catalogue import EXERCISES, Exercise, exercise
from loopsafe_mongo.kata.judge import INSTALL, Verdict, judge, missing_modules, run

__all__ = ["lay_out", "main", "parser", "solve"]

MARKER = ".loopsafe-kata.json"  # in the kata's folder: how `check` finds it from anywhere inside
WIDTH = 100
PROGRAM = "python -m loopsafe_mongo kata"
# One line each way: pytest-asyncio runs exercises 6 and 7; starlette warns about httpx under its TestClient.
_ASYNCIO_INI = ("asyncio_default_fixture_loop_scope = function",)
_TESTCLIENT_WARNING = "    ignore:Using `httpx` with `starlette.testclient` is deprecated:UserWarning"

OVERVIEW = f"""\
# The loopsafe-mongo kata

An async MongoDB client (Motor, PyMongo's AsyncMongoClient) belongs to the event loop it first runs on, and
pytest gives each test a loop of its own. Each folder here is a small FastAPI project whose test fails
because a client is made, or used, off the loop it belongs to. Fix them in order; the last one you do by
hand. (`python` below is the interpreter loopsafe-mongo is installed in: activate its virtualenv, or type
that interpreter's path.)

Each app guards its client with `loopsafe_mongo.guard`, and the client is mongomock's, in memory: no
server is needed, and the guard raises exactly where Motor or PyMongo would.

The loopsafe-mongo pytest plugin is loaded in every exercise and gives each test two fixtures: `client`,
an httpx.AsyncClient over the app from create_app() in app.py, whose lifespan it runs on the test's own
loop, and `db`, the database handle that lifespan yields under "db".

    {PROGRAM} check          which exercises pass, which is next, and the error it raises
    {PROGRAM} hint N         a hint for exercise N
    {PROGRAM} diagram N      the picture of exercise N, in the terminal (each folder has diagram.svg)

Done means: every test of the exercise passes, still uses the app's MongoDB client, and none was
deleted, skipped or emptied (`check` looks).
"""


def _ini(exercise: Exercise) -> str:
    lines = [
        "[pytest]",
        "# The app the loopsafe-mongo plugin's `client` and `db` fixtures run: create_app() in app.py.",
        "loopsafe_app = app:create_app",
        f"loopsafe_async = {'asyncio' if exercise.asyncio else 'anyio'}",
        "pythonpath = .",
        "filterwarnings =",
        "    error",
        _TESTCLIENT_WARNING,
        # pytest-asyncio only where the exercise is about it: elsewhere its warning about an unset loop scope
        # would look like part of the puzzle when the learner runs `pytest` alone.
        *(_ASYNCIO_INI if exercise.asyncio else ("addopts = -p no:asyncio",)),
        *exercise.ini,
    ]
    return "\n".join(lines) + "\n"


def _readme(exercise: Exercise) -> str:
    def paragraph(text: str) -> str:
        return textwrap.fill(text, WIDTH)

    return "\n\n".join(
        [
            f"# Exercise {exercise.number}: {exercise.title}",
            paragraph(f"What is wrong: {exercise.pattern}"),
            paragraph(f"Your task: {exercise.task}"),
            paragraph(f"Without the guard, the real drivers say: {exercise.real_error}."),
            "The picture: diagram.svg (open it in a browser), or `"
            + f"{PROGRAM} diagram {exercise.number}` in the terminal.",
            f"Check: `{PROGRAM} check`. Stuck: `{PROGRAM} hint {exercise.number}`. Its tests alone: `pytest` here.\n",
        ]
    )


def lay_out(directory: Path) -> None:
    """Write every exercise into `directory` as the learner gets it: no solutions."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "README.md").write_text(OVERVIEW)
    for item in EXERCISES:
        folder = directory / item.folder
        folder.mkdir()
        for source in item.files.iterdir():
            if source.is_file():
                (folder / source.name).write_text(source.read_text())
        (folder / "pytest.ini").write_text(_ini(item))
        (folder / "README.md").write_text(_readme(item))
        (folder / "diagram.svg").write_text(diagrams.svg(item), encoding="utf-8")
    (directory / MARKER).write_text(json.dumps({"exercises": [item.folder for item in EXERCISES]}) + "\n")


def solve(directory: Path, item: Exercise) -> None:
    """Copy the exercise's reference solution over the learner's files (for the package's own tests)."""
    solution = item.files / "solution"
    for source in solution.iterdir():
        (directory / item.folder / source.name).write_text(source.read_text())


def find_kata(start: Path) -> Path | None:
    """The kata folder that is `start` or holds it."""
    for candidate in (start, *start.parents):
        if (candidate / MARKER).exists():
            return candidate
    return None


def _start(directory: Path) -> int:
    if directory.exists() and any(directory.iterdir()):
        if (directory / MARKER).exists():
            print(f"{directory} already holds the kata. Carry on with: cd {directory} && {PROGRAM} check")
            return 0
        print(f"{directory} is not empty: give a new folder, e.g. `{PROGRAM} start loop-kata`.", file=sys.stderr)
        return 2
    lay_out(directory)
    print(f"The kata is in {directory}/, one folder per exercise:")
    for item in EXERCISES:
        print(f"  {item.folder:<36} {item.title}")
    print(f"\nNext: cd {directory} && {PROGRAM} check")
    return 0


def _indent(text: str, prefix: str = "      ") -> str:
    return textwrap.indent(text.rstrip(), prefix)


def _wrapped(message: str, prefix: str = "      ") -> str:
    """The guard's message, each part wrapped to the terminal and hung under its label ("created at:" ...)."""
    lines = []
    for line in message.splitlines():
        label = len(line) - len(line.lstrip()) + (12 if line.lstrip().startswith(("created", "bound", "used")) else 5)
        lines.append(textwrap.fill(line, WIDTH - len(prefix), subsequent_indent=" " * label, drop_whitespace=True))
    return textwrap.indent("\n".join(lines), prefix)


def _paragraph(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent)


_GUARD_ERRORS = frozenset({"LoopMismatchError", "ClientCreatedOffLoopError"})


def _show_next(verdict: Verdict, kata: Path) -> None:
    item = verdict.exercise
    folder = kata / item.folder
    print(f"\nNext: exercise {item.number}, {item.title}\n  in {folder}/")
    print(_paragraph(f"What is wrong: {item.pattern}"))
    print(_paragraph(f"Your task: {item.task}"))
    error = verdict.error
    if error and error["type"] in _GUARD_ERRORS:
        print("\n  What the tests raise, in the guard's words:")
        print(_wrapped(f"{error['type']}: {error['message']}"))
        print(_paragraph(f"Without the guard: {item.real_error}."))
    elif error:
        # Not the pattern's error any more: something in the change itself. pytest's traceback says where.
        print(f"\n  What the tests raise now: {error['type']}: {error['message'].splitlines()[0]}")
    only_failures = error is not None and all(" fails" in p or "errors in" in p for p in verdict.problems)
    if verdict.problems and not only_failures:
        print("\n  Not done yet:")
        for problem in verdict.problems:
            print(textwrap.fill(problem, WIDTH, initial_indent="    - ", subsequent_indent="      "))
    cheated = any("guarded" in p or "xfail" in p for p in verdict.problems)
    if verdict.output and not cheated and (error is None or error["type"] not in _GUARD_ERRORS):
        print("\n  pytest said (the end of it):")
        print(_indent("\n".join(verdict.output.strip().splitlines()[-15:])))
    print(f"\n  The picture: {folder / 'diagram.svg'} (open it in a browser),")
    print(f"  or in the terminal: {PROGRAM} diagram {item.number}")
    print(f"  Edit the files in {item.folder}/, then run `{PROGRAM} check` again.")
    print(f"  Stuck? {PROGRAM} hint {item.number}")


def _fingerprint(folder: Path) -> str:
    """The exercise's files as they are now, and this package's version: a pass is kept only for these."""
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in {".py", ".ini", ".cfg", ".toml"} and "__pycache__" not in path.parts:
            digest.update(f"{path.relative_to(folder)}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _check(directory: Path | None) -> int:
    kata = find_kata((directory or Path.cwd()).resolve())
    if kata is None:
        where = directory or "this folder"
        print(f"No kata in {where} or above it. Lay one out first: `{PROGRAM} start loop-kata`.", file=sys.stderr)
        return 2
    state = json.loads((kata / MARKER).read_text())
    passed: dict[str, str] = state.setdefault("passed", {})
    # In order, up to the first exercise not done: a pass is run again only when its files changed.
    done: list[Exercise] = []
    upcoming: Verdict | None = None
    for item in EXERCISES:
        fingerprint = _fingerprint(kata / item.folder)
        if passed.get(item.folder) != fingerprint:
            verdict = judge(item, *run(item, kata / item.folder))
            if not verdict.passed:
                passed.pop(item.folder, None)
                upcoming = verdict
                break
            passed[item.folder] = fingerprint
        done.append(item)
    (kata / MARKER).write_text(json.dumps(state, indent=1) + "\n")
    print(f"loopsafe-mongo kata in {kata}: {len(done)} of {len(EXERCISES)} done\n")
    for item in EXERCISES:
        mark = "[x]" if item in done else "[ ]"
        note = "  <- next" if upcoming is not None and item is upcoming.exercise else ""
        print(f"  {mark} {item.folder:<36} {item.title}{note}")
    if upcoming is None:
        done_text = (
            "All done. Every client now lives on the loop that uses it. In your own project: install"
            " loopsafe-mongo, wrap the client in guard() where the lifespan makes it, and use the plugin's"
            " `client` and `db` fixtures (`python -m loopsafe_mongo` recaps the patterns)."
        )
        print("\n" + _paragraph(done_text, indent=""))
        return 0
    _show_next(upcoming, kata)
    return 1


def _hint(number: int) -> int:
    item = exercise(number)
    print(f"Exercise {number}, {item.title}\n")
    print(textwrap.fill(f"Hint: {item.hint}", WIDTH))
    return 0


def _diagram(number: int, kata: Path | None) -> int:
    item = exercise(number)
    print(f"Exercise {number}, {item.title}\n")
    print(diagrams.text(item))
    if kata is not None:
        print(f"As a picture: {kata / item.folder / 'diagram.svg'}")
    return 0


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROGRAM, description="Fix each bad MongoDB client pattern yourself.")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="lay the exercises out in a new folder")
    start.add_argument("directory", nargs="?", default="loop-kata", type=Path)
    check = commands.add_parser("check", help="run every exercise: which pass, which is next, its error")
    check.add_argument("directory", nargs="?", default=None, type=Path)
    numbers = [item.number for item in EXERCISES]
    for name, help_text in (("hint", "a hint for exercise N"), ("diagram", "the picture of exercise N")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("number", type=int, choices=numbers, metavar="N")
    return parser


def main(argv: list[str]) -> int:
    if not argv:
        print(OVERVIEW.replace("# The loopsafe-mongo kata", "The loopsafe-mongo kata.", 1))
        print(f"Start: {PROGRAM} start loop-kata   (lays the exercises out in a new folder, loop-kata/)")
        return 0
    args = parser().parse_args(argv)
    if args.command in {"start", "check"} and (missing := missing_modules()):
        print(
            f"The kata needs what is not installed here: pip install {' '.join(missing)}\n"
            f"(Everything it uses: the package's [asyncio] extra, fastapi and mongomock-motor: {INSTALL})",
            file=sys.stderr,
        )
        return 2
    if args.command == "start":
        return _start(args.directory)
    if args.command == "check":
        return _check(args.directory)
    if args.command == "hint":
        return _hint(args.number)
    return _diagram(args.number, find_kata(Path.cwd().resolve()))
