"""The static checker (`python -m loopsafe_mongo check`) against this repository's own scenarios: it flags every
bad pattern of tests/pitfalls with its rule, before any test runs, and nothing in the correct code."""

from __future__ import annotations

from pathlib import Path

import pytest
from loopsafe_mongo.check import check_paths

from tests.pitfalls.runner import CATALOGUE, ROOT, Kind, Scenario

# The rule each bad scenario breaks. A scenario added to the catalogue must be added here too.
EXPECTED = {
    "import-time-client": "LSM001",
    "cached-client": "LSM002",
    "sync-fixture-client": "LSM005",
    "session-fixture-per-test-loops": "LSM005",
    "one-test-off-the-session-loop": "LSM006",
    "testclient-lifespan": "LSM007",
    "asyncio-run-seeding": "LSM008",
    "transport-without-lifespan": "LSM010",
}
BAD = [s for s in CATALOGUE if s.kind in {Kind.LOOP, Kind.NO_LIFESPAN}]
# harness-check's code is correct: its fault is a pytest setting the runner writes, which the `db` fixture
# reports at run time; the checker reads the settings of the scanned project, not the runner's.
CLEAN = [s for s in CATALOGUE if s.kind in {Kind.CORRECT, Kind.HARNESS_CHECK}]


def codes_in(*paths: Path) -> list[str]:
    findings, errors, _ = check_paths(paths)
    assert errors == []
    return [f.code for f in findings]


def test_every_bad_scenario_has_an_expected_rule() -> None:
    assert sorted(EXPECTED) == sorted(s.name for s in BAD)


@pytest.mark.parametrize("scenario", BAD, ids=lambda s: s.name)
def test_each_bad_scenario_is_flagged_with_its_rule(scenario: Scenario) -> None:
    found = codes_in(scenario.path)
    assert found, f"{scenario.file}: no finding"
    assert set(found) == {EXPECTED[scenario.name]}


@pytest.mark.parametrize("scenario", CLEAN, ids=lambda s: s.name)
def test_each_correct_scenario_has_no_finding(scenario: Scenario) -> None:
    assert codes_in(scenario.path) == []


@pytest.mark.parametrize("directory", ["app", "examples", "packages/loopsafe-mongo/src"])
def test_the_correct_code_has_no_finding(directory: str) -> None:
    # Wrong on purpose: the legacy-layout `before` projects (tests/test_adopting_layouts.py checks them) and
    # the kata's exercises as laid out (the package's test_kata.py runs them).
    wrong_on_purpose = ["*/examples/layouts/*/before", "*/kata/exercises/*"]
    findings, errors, _ = check_paths([ROOT / directory], exclude=wrong_on_purpose)

    assert (errors, findings) == ([], [])
