"""The committed diagrams (docs/diagrams/*.svg) are exactly what scripts/diagrams.py draws from the kata's catalogue."""

from __future__ import annotations

from pathlib import Path

from scripts import diagrams

COMMITTED = Path(__file__).resolve().parents[1] / "docs" / "diagrams"


def test_committed_diagrams_match_what_the_script_draws(tmp_path: Path) -> None:
    diagrams.main([str(tmp_path)])

    drawn = {path.name: path.read_bytes() for path in tmp_path.glob("*.svg")}
    committed = {path.name: path.read_bytes() for path in COMMITTED.glob("*.svg")}
    assert drawn, "the script drew nothing"
    assert sorted(committed) == sorted(drawn), "run `.venv/bin/python -m scripts.diagrams` and commit docs/diagrams"
    stale = [name for name in drawn if committed[name] != drawn[name]]
    assert not stale, f"{stale} differ from what the script draws: run `.venv/bin/python -m scripts.diagrams`"
