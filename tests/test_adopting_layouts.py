"""The legacy layouts of docs/adopting.md, each a small project in examples/layouts/<layout>/: its `before`
(the layout with the guard wrapped around its client) fails the way the docs say, and its `after` (the
documented change) passes; the static checker reports the `before` and finds nothing in the `after`.

In-memory runs are in this process (pytester, a fraction of a second each). The three that need a real
driver (Beanie's two, and the client-per-request `before`, whose bug is a leak only a real driver reports)
run in a subprocess against a wire server of their own, so that what they leak dies with them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from loopsafe_mongo.check import check_paths
from loopsafe_mongo.guard import STRICT_ENV

from tests.support.wire_server import wire_server

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
LAYOUTS_DIR = ROOT / "examples" / "layouts"
ADOPTING = ROOT / "docs" / "adopting.md"
# Installed in this virtualenv for other uses, not the projects': each would be imported (and its assertions
# rewritten) again by every in-process run, which forgets what it imported.
INNER_ARGS = ("-p", "no:schemathesis", "-p", "no:hypothesispytest")

LOOP_MISMATCH = "LoopMismatchError: MongoDB client used from an event loop it does not belong to."
CREATED_OFF_LOOP = "ClientCreatedOffLoopError: MongoDB client created with no running event loop"


@dataclass(frozen=True)
class Layout:
    name: str
    # A line of the `before` run's output: the error the docs name for this layout.
    before_fails_with: str
    # The rules `python -m loopsafe_mongo check` reports in the `before` (it reports none in the `after`).
    checker_finds: frozenset[str]
    # Which versions run on a real driver (a wire server of their own), in a subprocess; the others run in
    # memory, in this process.
    on_driver: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.name


LAYOUTS = (
    Layout("import-time-client", CREATED_OFF_LOOP, frozenset({"LSM001", "LSM007"})),
    Layout("startup-event-global", LOOP_MISMATCH, frozenset({"LSM007"})),
    Layout("app-attribute", LOOP_MISMATCH, frozenset({"LSM007"})),
    Layout("pymongo-app-state", LOOP_MISMATCH, frozenset({"LSM007"})),
    # Loop-safe by construction, so the guard has nothing to report; a real driver reports the leak.
    Layout(
        "client-per-request",
        "ResourceWarning: Unclosed MongoClient opened at:",
        frozenset({"LSM004", "LSM007"}),
        on_driver=("before",),
    ),
    # Loop-safe too, and silent on a real server (it leaks a client per loop); in memory each loop's client
    # is a database of its own, so the test's own handle does not see what the app wrote.
    Layout("per-loop-dict", "assert 0 == 1", frozenset({"LSM003", "LSM004", "LSM007"})),
    # The checker does not see Beanie's queries as database calls beside the sync TestClient (yet).
    Layout("beanie-startup", LOOP_MISMATCH, frozenset(), on_driver=("before", "after")),
    Layout("mongomock-patch", CREATED_OFF_LOOP, frozenset({"LSM001", "LSM007"})),
)


def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, layout: Layout, version: str) -> pytest.RunResult:
    shutil.copytree(LAYOUTS_DIR / layout.name / version, pytester.path, dirs_exist_ok=True)
    # Strict mode as an adopter gets it: set by the plugin, not inherited from this run's setting.
    monkeypatch.delenv(STRICT_ENV, raising=False)
    if version not in layout.on_driver:
        # In memory, whatever server the suite itself runs on.
        monkeypatch.delenv("MONGODB_URL", raising=False)
        return pytester.runpytest_inprocess(*INNER_ARGS)
    # A wire server of this run's own: the `before` projects leave their data behind, as such suites do.
    with wire_server() as url:
        monkeypatch.setenv("MONGODB_URL", url)
        return pytester.runpytest_subprocess(*INNER_ARGS, timeout=120)


def test_every_layout_directory_is_run_here() -> None:
    assert {path.name for path in LAYOUTS_DIR.iterdir() if path.is_dir()} == {layout.name for layout in LAYOUTS}


def test_adopting_md_shows_every_layout() -> None:
    text = ADOPTING.read_text()

    assert [layout.name for layout in LAYOUTS if f"examples/layouts/{layout.name}" not in text] == []


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_before_fails_the_documented_way(
    layout: Layout, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(pytester, monkeypatch, layout, "before")

    assert result.ret != pytest.ExitCode.OK
    # A conftest that fails to import reports on stderr; a failing test on stdout.
    pytest.LineMatcher(result.outlines + result.errlines).fnmatch_lines([f"*{layout.before_fails_with}*"])


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_after_passes(layout: Layout, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(pytester, monkeypatch, layout, "after")

    result.assert_outcomes(passed=2)


def checker_codes(path: Path) -> set[str]:
    findings, errors, _ = check_paths([path])
    assert errors == []
    return {finding.code for finding in findings}


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_the_static_checker_reports_the_before(layout: Layout) -> None:
    assert checker_codes(LAYOUTS_DIR / layout.name / "before") == layout.checker_finds


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_the_static_checker_finds_nothing_in_the_after(layout: Layout) -> None:
    assert checker_codes(LAYOUTS_DIR / layout.name / "after") == set()
