"""`python -m loopsafe_mongo check PATHS`: finds, before any test runs, the client setups that break on
pytest's per-test event loops (rules in rules.py, docs/checking.md). Standard library only."""

from __future__ import annotations

import argparse
import ast
import fnmatch
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from loopsafe_mongo.check.project import ImportFinder, Module, SettingsFinder, collect
from loopsafe_mongo.check.report import FORMATS, ParseError
from loopsafe_mongo.check.rules import BY_CODE
from loopsafe_mongo.check.scan import FileChecker, Finding, loops_of_tests

__all__ = ["Finding", "ParseError", "check_paths", "main"]

# Directories never walked into: environments, caches, build output, and anything hidden.
SKIPPED_DIRECTORIES = frozenset({"node_modules", "build", "dist", "site-packages", "__pycache__", "venv", "env"})


def python_files(paths: Iterable[Path], exclude: list[str]) -> Iterator[Path]:
    """The .py files under `paths` (a file given by name is checked whatever its suffix), minus `exclude` globs."""

    def excluded(path: Path) -> bool:
        return any(fnmatch.fnmatch(path.as_posix(), glob) or fnmatch.fnmatch(path.name, glob) for glob in exclude)

    for root in paths:
        if root.is_file():
            if not excluded(root):
                yield root
            continue
        for directory, subdirectories, files in os.walk(root):
            subdirectories[:] = sorted(
                d
                for d in subdirectories
                if not (d.startswith(".") or d in SKIPPED_DIRECTORIES or d.endswith(".egg-info"))
                and not excluded(Path(directory, d))
            )
            yield from (
                Path(directory, f) for f in sorted(files) if f.endswith(".py") and not excluded(Path(directory, f))
            )


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def parse(path: Path) -> Module | ParseError:
    try:
        source = path.read_text(encoding="utf-8")
        return Module(path, ast.parse(source, filename=str(path)), source.splitlines())
    except SyntaxError as exc:
        return ParseError(_display(path), exc.lineno or 1, exc.offset or 1, f"syntax error: {exc.msg}")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return ParseError(_display(path), 1, 1, str(exc))


def check_paths(paths: Iterable[Path], exclude: list[str] | None = None) -> tuple[list[Finding], list[ParseError], int]:
    """Every finding under `paths`, the files that could not be parsed, and how many files were checked."""
    modules: list[Module] = []
    errors: list[ParseError] = []
    seen: set[Path] = set()
    for path in python_files(paths, exclude or []):
        if path.resolve() in seen:
            continue  # named twice, or a file and its directory: checked once
        seen.add(path.resolve())
        parsed = parse(path)
        if isinstance(parsed, ParseError):
            errors.append(parsed)
        else:
            modules.append(parsed)
    finder = ImportFinder()
    # Local modules the checked files import, read for their client factories (`from app.db import create_client`).
    imported = {p.resolve() for m in modules for p in m.local_imports(finder)} - seen
    context = [m for m in map(parse, sorted(imported)) if isinstance(m, Module)]
    facts = collect(modules, context)
    settings = SettingsFinder()
    for module in modules:
        if scopes := loops_of_tests(module, settings.for_file(module.path), facts):
            facts.test_loops[module.path.resolve()] = min(scopes)
    findings = [
        finding
        for module in modules
        for finding in FileChecker(module, facts, settings.for_file(module.path), _display(module.path)).run()
    ]
    return findings, errors, len(modules) + len(errors)


def _codes(value: str) -> set[str]:
    codes = {c.strip().upper() for c in value.split(",") if c.strip()}
    unknown = codes - BY_CODE.keys()
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown rule code(s): {', '.join(sorted(unknown))}")
    return codes


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loopsafe_mongo check",
        description="Find async MongoDB client setups that break on pytest's per-test event loops.",
        epilog="Silence one line with `# loopsafe: ignore[LSM001]` (or a bare `# loopsafe: ignore`)."
        " Exit status: 0 clean, 1 findings, 2 usage error or a file that cannot be parsed.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or directories to check")
    parser.add_argument("--format", choices=sorted(FORMATS), default="text", help="output format (default: text)")
    parser.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB", help="skip matching paths (repeatable)"
    )
    parser.add_argument("--select", type=_codes, metavar="CODES", help="only these rules, comma-separated")
    parser.add_argument(
        "--ignore", type=_codes, default=set(), metavar="CODES", help="skip these rules, comma-separated"
    )
    return parser


def main(argv: list[str]) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on a usage error (2)
        return int(exc.code or 0)
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        print(f"loopsafe_mongo check: no such file or directory: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    findings, errors, files = check_paths(args.paths, args.exclude)
    findings = [f for f in findings if (args.select is None or f.code in args.select) and f.code not in args.ignore]
    sys.stdout.write(FORMATS[args.format](findings, errors, files))
    if errors:
        return 2
    return 1 if findings else 0
