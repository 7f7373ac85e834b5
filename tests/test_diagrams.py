"""The pictures of the pitfalls: the committed SVGs (docs/diagrams/) are exactly what scripts/diagrams.py draws
from the kata's catalogue, and every loop pitfall of the regression matrix has its exercise and its picture."""

from __future__ import annotations

from pathlib import Path

from loopsafe_mongo.kata.catalogue import EXERCISES

from scripts import diagrams
from tests.pitfalls import runner

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "diagrams"
# The matrix's scenario -> the kata's exercise, where their names differ.
RENAMED = {
    "session-fixture-per-test-loops": "session-lifespan-function-loops",
    "testclient-lifespan": "testclient-then-async-db",
}


def test_committed_diagrams_match_what_the_script_draws(tmp_path: Path) -> None:
    diagrams.main([str(tmp_path)])

    drawn = {path.name: path.read_bytes() for path in tmp_path.glob("*.svg")}
    committed = {path.name: path.read_bytes() for path in COMMITTED.glob("*.svg")}
    assert drawn, "the script drew nothing"
    assert sorted(committed) == sorted(drawn), "run `.venv/bin/python -m scripts.diagrams` and commit docs/diagrams"
    stale = [name for name in drawn if committed[name] != drawn[name]]
    assert not stale, f"{stale} differ from what the script draws: run `.venv/bin/python -m scripts.diagrams`"


def test_every_loop_pitfall_has_a_kata_exercise_and_its_picture_in_the_docs() -> None:
    exercises = {item.name: item for item in EXERCISES}
    docs = (ROOT / "docs" / "loops-and-clients.md").read_text()
    loop_pitfalls = [scenario.name for scenario in runner.CATALOGUE if scenario.kind is runner.Kind.LOOP]

    missing = [name for name in loop_pitfalls if RENAMED.get(name, name) not in exercises]
    unpictured = [
        name
        for name in loop_pitfalls
        if name not in missing and f"](diagrams/{exercises[RENAMED.get(name, name)].folder}.svg)" not in docs
    ]

    assert missing == [], "a loop pitfall with no kata exercise (loopsafe_mongo/kata/catalogue.py)"
    assert unpictured == [], "a loop pitfall whose picture docs/loops-and-clients.md does not show"
