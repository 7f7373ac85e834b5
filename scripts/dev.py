"""One entry point for working on the project; needs only Python 3.11+ and installs the rest itself.

    python3 scripts/dev.py serve [uvicorn args]   start the API (in-memory MongoDB unless MONGODB_URL is set)
    python3 scripts/dev.py test [pytest args]     run the test suite with branch coverage, one worker per core
    python3 scripts/dev.py check                  lint (ruff) and type-check (mypy --strict)
    python3 scripts/dev.py pitfalls               show each bad client-setup pattern, its error and its fix
    python3 scripts/dev.py bench NAME [args]      run bench/bench_NAME.py (`bench` alone lists them)

`serve` becomes the uvicorn process (same pid), so Ctrl+C or `kill -TERM <pid>` stops the server itself.
`test` enforces the coverage threshold only on a full run: with a selection (`-k`, `-m`, `--lf`, a path
or node id, ...) the report is printed but a partial run cannot fail on coverage.

Dependencies go into `.venv/` (created on first use): the local projects in LOCAL_PROJECTS, editable,
pinned by constraints.txt. They are reinstalled only when one of INPUTS changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".installed"
CONSTRAINTS = ROOT / "constraints.txt"

# Everything installed into .venv: each local project (installed editable, so its code is imported from
# this checkout) with its extras. Adding a project here also adds its pyproject.toml to INPUTS.
LOCAL_PROJECTS: tuple[tuple[Path, str], ...] = ((ROOT / "packages" / "loopsafe-mongo", "[asyncio]"), (ROOT, "[test]"))

# The files whose change means "reinstall".
INPUTS: tuple[Path, ...] = (*(project / "pyproject.toml" for project, _ in LOCAL_PROJECTS), CONSTRAINTS)

# setuptools reports every editable install of a flat layout with an informational "Editable
# installation." warning, which pip prints as a block of asterisks. Only that message is ignored: every
# other warning, and every error, still shows.
QUIET_EDITABLE = "ignore:Editable installation.:UserWarning"

# pytest options that choose which tests run (a run with them cannot reach the coverage threshold).
SELECTING_OPTIONS = frozenset(
    {
        "-k",
        "-m",
        "--lf",
        "--last-failed",
        "--sw",
        "--stepwise",
        "--sw-skip",
        "--stepwise-skip",
        "--deselect",
        "--ignore",
        "--ignore-glob",
        "--co",
        "--collect-only",
        "--pyargs",
    }
)
# Options whose value may follow as the next argument: that value is never a selection, even when it is
# an existing path (`--rootdir .`, `-c pyproject.toml`).
LONG_WITH_VALUE = frozenset(
    {
        "--loopsafe-scope",
        "--basetemp",
        "--capture",
        "--confcutdir",
        "--config-file",
        "--cov-config",
        "--cov-report",
        "--dist",
        "--durations",
        "--hypothesis-seed",
        "--import-mode",
        "--junitxml",
        "--junit-xml",
        "--log-file",
        "--log-level",
        "--maxfail",
        "--maxprocesses",
        "--numprocesses",
        "--override-ini",
        "--rootdir",
        "--tb",
    }
)
SHORT_WITH_VALUE = frozenset("cnopWr")  # -k and -m take one too, and select
DEFAULT_TEST_PATHS = frozenset({ROOT / "tests"})
BENCHMARKS = tuple(sorted(path.stem.removeprefix("bench_") for path in (ROOT / "bench").glob("bench_*.py")))


def _inputs_digest() -> str:
    digest = hashlib.sha256()
    for path in INPUTS:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create .venv and install the local projects with their tools, unless already up to date."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this runs on whatever python3 the user has
        sys.exit(f"Python 3.11 or newer is required; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = _inputs_digest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    changed = ", ".join(str(path.relative_to(ROOT)) for path in INPUTS)
    print(f"Installing dependencies into .venv (first run, or one of {changed} changed) ...", flush=True)
    env = {**os.environ, "PYTHONWARNINGS": QUIET_EDITABLE}
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True, env=env)
    editables = [arg for project, extras in LOCAL_PROJECTS for arg in ("-e", f"{project}{extras}")]
    subprocess.run([*pip, "-c", str(CONSTRAINTS), *editables], check=True, env=env)
    STAMP.write_text(digest)


def is_selection(args: list[str]) -> bool:
    """Whether pytest arguments select part of the suite (options, or a path or node id to run)."""
    value_expected = False
    for arg in args:
        if value_expected:
            value_expected = False
            continue
        if arg.startswith("--"):
            name, has_value, _ = arg.partition("=")
            if name in SELECTING_OPTIONS:
                return True
            value_expected = name in LONG_WITH_VALUE and not has_value
        elif arg.startswith("-") and len(arg) > 1:
            # A cluster of short options, such as `-vk items`, `-xn2` or `-pno:cacheprovider`: what
            # follows an option that takes a value is that value.
            for index, char in enumerate(arg[1:], start=1):
                if char in "km":
                    return True
                if char in SHORT_WITH_VALUE:
                    value_expected = index == len(arg) - 1
                    break
        elif _names_tests(arg):
            return True
    return False


def _names_tests(arg: str) -> bool:
    """A file, directory or node id to run, other than the default test directory as a whole."""
    path = Path(arg.split("::", 1)[0])
    for base in (Path.cwd(), ROOT):
        candidate = (base / path).resolve()
        if candidate.exists() and (candidate not in DEFAULT_TEST_PATHS or "::" in arg):
            return True
    return False


def run(*args: str) -> int:
    return subprocess.run([str(PYTHON), *args], cwd=ROOT, check=False).returncode


def serve(args: list[str]) -> int:
    # app.serve is uvicorn's command line with a drain period on SIGTERM (docs/reliability.md).
    command = [str(PYTHON), "-m", "app.serve", "--host", "127.0.0.1", "--port", "8000", *args]
    if os.name == "nt":
        # Windows has no exec that keeps the process: a child it is, and Ctrl+C reaches both.
        return subprocess.run(command, cwd=ROOT, check=False).returncode
    # Replace this process with uvicorn, so that a signal sent to the pid the user started (Ctrl+C,
    # `kill -TERM`, a process manager stopping it) reaches the server and not a wrapper that would die
    # and leave uvicorn running.
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(ROOT)
    os.execv(command[0], command)  # noqa: S606 - our own venv's python, a fixed argument list


# Options that choose how tests are distributed, or that need them in this process (a debugger).
NOT_PARALLEL = ("-n", "--numprocesses", "--dist", "-p", "--pdb", "--trace")


def parallel(args: list[str]) -> list[str]:
    """`-n auto` (one xdist worker per core) unless the arguments choose otherwise or need one process."""
    if any(arg == option or arg.startswith(f"{option}=") for arg in args for option in NOT_PARALLEL):
        return []
    if any(arg.startswith("-n") and arg[2:].isdigit() for arg in args):
        return []
    return ["-n", "auto", "--dist", "loadgroup"]


def python_commands(command: str, rest: list[str]) -> list[list[str]]:
    """What a command runs with the venv's python, in order; the first failure stops the rest."""
    if command == "test":
        threshold = ["--cov-fail-under=0"] if is_selection(rest) else []
        coverage = ["--cov", "--cov-report=term-missing:skip-covered", *threshold]
        return [["-m", "pytest", *coverage, *parallel(rest), *rest]]
    if command == "pitfalls":
        return [["-m", "scripts.pitfalls", *rest]]
    if command == "bench":
        return [["-m", f"bench.bench_{rest[0]}", *rest[1:]]]
    return [["-m", "ruff", "check", "."], ["-m", "ruff", "format", "--check", "."], ["-m", "mypy"]]


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command not in {"serve", "test", "check", "pitfalls", "bench"}:
        print(__doc__)
        return 0 if command in {"help", "-h", "--help"} else 2
    if command == "bench" and (not rest or rest[0] not in BENCHMARKS):
        print(f"usage: python3 scripts/dev.py bench {{{','.join(BENCHMARKS)}}} [args]; NAME --help for its own")
        return 2
    ensure_environment()
    if command == "serve":
        return serve(rest)
    for args in python_commands(command, rest):
        if code := run(*args):
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
