"""Write docs/diagrams/*.svg: each bad client pattern as event-loop lanes over time, with its fix beneath.

The pictures are drawn by the loopsafe-mongo kata (loopsafe_mongo.kata.diagrams) from its catalogue of patterns,
the one list the kata's exercises come from; tests/test_diagrams.py fails when the committed files drift from it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from loopsafe_mongo.kata.diagrams import write_all

DIAGRAMS = Path(__file__).resolve().parents[1] / "docs" / "diagrams"


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else DIAGRAMS
    for stale in target.glob("*.svg"):
        stale.unlink()  # a pattern renamed or dropped leaves no picture behind
    for path in write_all(target):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
