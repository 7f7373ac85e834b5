"""The checker's findings as text for people, JSON for scripts, and SARIF 2.1.0 for code scanning."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from loopsafe_mongo.check.rules import BY_CODE, RULES
from loopsafe_mongo.check.scan import Finding

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
DOCS = "docs/checking.md in the loopsafe-mongo repository"


@dataclass(frozen=True)
class ParseError:
    """A file the checker could not read or parse: reported, and the run exits with 2."""

    path: str
    line: int
    column: int
    message: str


def _version() -> str:
    try:
        return version("loopsafe-mongo")
    except PackageNotFoundError:  # pragma: no cover - only when run from a source tree never installed
        return "0"


def text(findings: list[Finding], errors: list[ParseError], files: int) -> str:
    lines = [f"{e.path}:{e.line}:{e.column}: error: cannot check this file: {e.message}" for e in errors]
    for f in findings:
        rule = BY_CODE[f.code]
        lines += [f"{f.path}:{f.line}:{f.column}: {f.code} [{rule.name}] {f.message}", f"    fix: {rule.fix}"]
    noun = "finding" if len(findings) == 1 else "findings"
    lines.append(f"{len(findings)} {noun} in {files} file{'' if files == 1 else 's'} checked")
    return "\n".join(lines) + "\n"


def as_json(findings: list[Finding], errors: list[ParseError], files: int) -> str:
    document = {
        "files_checked": files,
        "findings": [
            {
                "path": f.path,
                "line": f.line,
                "column": f.column,
                "code": f.code,
                "rule": BY_CODE[f.code].name,
                "message": f.message,
                "fix": BY_CODE[f.code].fix,
            }
            for f in findings
        ],
        "errors": [{"path": e.path, "line": e.line, "column": e.column, "message": e.message} for e in errors],
    }
    return json.dumps(document, indent=2) + "\n"


def _location(path: str, line: int, column: int) -> dict[str, object]:
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": path.replace("\\", "/"), "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": line, "startColumn": column},
        }
    }


def sarif(findings: list[Finding], errors: list[ParseError], files: int) -> str:
    """One run, every rule described (id, name, help), one result per finding located by file, line and column."""
    index = {rule.code: i for i, rule in enumerate(RULES)}
    rules = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.summary},
            "help": {"text": f"Fix: {rule.fix}. See {DOCS}.", "markdown": f"**Fix:** {rule.fix}."},
            "defaultConfiguration": {"level": "error"},
        }
        for rule in RULES
    ]
    results = [
        {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": "error",
            "message": {"text": f"{f.message}. Fix: {BY_CODE[f.code].fix}."},
            "locations": [_location(f.path, f.line, f.column)],
        }
        for f in findings
    ]
    notifications = [
        {
            "level": "error",
            "message": {"text": f"cannot check this file: {e.message}"},
            "locations": [_location(e.path, e.line, e.column)],
        }
        for e in errors
    ]
    run = {
        "tool": {"driver": {"name": "loopsafe-mongo", "version": _version(), "rules": rules}},
        "invocations": [{"executionSuccessful": not errors, "toolExecutionNotifications": notifications}],
        "properties": {"filesChecked": files},
        "results": results,
    }
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2) + "\n"


FORMATS = {"text": text, "json": as_json, "sarif": sarif}
