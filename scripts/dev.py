"""One entry point for working on the project; needs only Python 3.11+ and installs the rest itself.

    python3 scripts/dev.py serve [uvicorn args]   start the API (in-memory MongoDB unless MONGODB_URL is set)
    python3 scripts/dev.py test [pytest args]     run the test suite with branch coverage
    python3 scripts/dev.py check                  lint (ruff) and type-check (mypy --strict)
    python3 scripts/dev.py pitfalls               show each bad client-setup pattern, its error and its fix

Dependencies go into `.venv/` (created on first use) from pyproject.toml, pinned by constraints.txt;
they are reinstalled only when one of those two files changes.
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
INPUTS = (ROOT / "pyproject.toml", ROOT / "constraints.txt")


def _inputs_digest() -> str:
    digest = hashlib.sha256()
    for path in INPUTS:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create .venv and install the project with its test tools, unless already up to date."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this runs on whatever python3 the user has
        sys.exit(f"Python 3.11 or newer is required; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = _inputs_digest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    print("Installing dependencies into .venv (first run, or pyproject.toml/constraints.txt changed) ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(digest)


def run(*args: str) -> int:
    return subprocess.run([str(PYTHON), *args], cwd=ROOT, check=False).returncode


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command not in {"serve", "test", "check", "pitfalls"}:
        print(__doc__)
        return 0 if command in {"help", "-h", "--help"} else 2
    ensure_environment()
    if command == "serve":
        return run("-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", "8000", *rest)
    if command == "test":
        return run("-m", "pytest", "--cov", "--cov-report=term-missing:skip-covered", *rest)
    if command == "pitfalls":
        return run("-m", "scripts.pitfalls", *rest)
    return run("-m", "ruff", "check", ".") or run("-m", "ruff", "format", "--check", ".") or run("-m", "mypy")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
