"""Pictures of each bad pattern: event loops as lanes over time, where the client is made, bound, used and fails,
and the fix beneath. Drawn from the catalogue, as SVG (deterministic text, no tools) and as lanes for a terminal.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from loopsafe_mongo.kata.catalogue import EXERCISES, Exercise, Mark, MarkKind, Timeline

__all__ = ["svg", "text", "write_all"]

SLOTS = 6  # time slots per timeline, left to right
WIDTH = 860
LABEL_W = 190  # the lanes' labels, left of the time axis
SLOT_W = (WIDTH - LABEL_W - 20) // SLOTS
LANE_H = 62
TITLE_H = 34
FONT = "font-family:Helvetica,Arial,sans-serif"

_BAD, _GOOD, _INK, _MUTED, _LOOP = "#c62828", "#2e7d32", "#222222", "#757575", "#1565c0"
# kind -> (legend text, terminal symbol)
_KINDS = {
    MarkKind.CREATED: ("client created", "●"),
    MarkKind.BOUND: ("bound to this loop", "◆"),
    MarkKind.USED: ("used: works", "✓"),
    MarkKind.FAILS: ("used: LoopMismatchError", "✗"),
    MarkKind.REFUSED: ("strict mode refuses it", "■"),
    MarkKind.CLOSED: ("closes", "┤"),
}


def _x(slot: float) -> int:
    return LABEL_W + round(slot * SLOT_W)


def _symbol(mark: Mark, cx: int, cy: int) -> str:
    kind = mark.kind
    if kind is MarkKind.CREATED:
        return f'<circle cx="{cx}" cy="{cy}" r="8" fill="{_LOOP}" stroke="#ffffff" stroke-width="2"/>'
    if kind is MarkKind.BOUND:
        points = f"{cx},{cy - 10} {cx + 10},{cy} {cx},{cy + 10} {cx - 10},{cy}"
        return f'<polygon points="{points}" fill="#f9a825" stroke="{_INK}" stroke-width="1.5"/>'
    if kind is MarkKind.USED:
        check = f"M{cx - 5},{cy} L{cx - 1},{cy + 4} L{cx + 6},{cy - 5}"
        return (
            f'<circle cx="{cx}" cy="{cy}" r="9" fill="{_GOOD}"/>'
            f'<path d="{check}" fill="none" stroke="#ffffff" stroke-width="2.5"/>'
        )
    if kind is MarkKind.FAILS:
        cross = f"M{cx - 5},{cy - 5} L{cx + 5},{cy + 5} M{cx + 5},{cy - 5} L{cx - 5},{cy + 5}"
        return (
            f'<circle cx="{cx}" cy="{cy}" r="10" fill="{_BAD}"/>'
            f'<path d="{cross}" fill="none" stroke="#ffffff" stroke-width="2.5"/>'
        )
    if kind is MarkKind.REFUSED:
        return f'<rect x="{cx - 8}" y="{cy - 8}" width="16" height="16" fill="{_BAD}"/>'
    return f'<line x1="{cx}" y1="{cy - 11}" x2="{cx}" y2="{cy + 11}" stroke="{_INK}" stroke-width="3"/>'


def _lane_y(top: int, lane: int) -> int:
    return top + TITLE_H + lane * LANE_H + 20


def _journey(timeline: Timeline, top: int) -> list[str]:
    """Dashed arrows that follow the one client from the loop that holds it to another loop that uses it."""
    parts = []
    holder: Mark | None = None
    for mark in timeline.marks:
        if mark.kind is MarkKind.CLOSED:
            continue
        if holder is not None and mark.lane != holder.lane:
            x1, y1 = _x(holder.at + 0.5), _lane_y(top, holder.lane)
            x2, y2 = _x(mark.at + 0.5), _lane_y(top, mark.lane)
            down = 1 if y2 > y1 else -1
            parts.append(
                f'<path d="M{x1 + 10},{y1 + 6 * down} C{x2 - 20},{y1 + 6 * down} {x2 - 16},{y2 - 30 * down}'
                f' {x2 - 8},{y2 - 13 * down}" fill="none" stroke="{_MUTED}" stroke-width="1.5"'
                ' stroke-dasharray="4 3" marker-end="url(#arrow)"/>'
            )
        if mark.kind is not MarkKind.FAILS:
            holder = mark
    return parts


def _timeline(timeline: Timeline, top: int, colour: str, *, journey: bool) -> list[str]:
    parts = [
        f'<text x="12" y="{top + 22}" style="{FONT};font-size:15px;font-weight:bold" fill="{colour}">'
        f"{escape(timeline.title)}</text>"
    ]
    for index, lane in enumerate(timeline.lanes):
        y = _lane_y(top, index)
        parts.append(
            f'<text x="12" y="{y + 5}" style="{FONT};font-size:13px" fill="{_INK}">{escape(lane.label)}</text>'
        )
        parts.append(f'<line x1="{LABEL_W}" y1="{y}" x2="{_x(SLOTS)}" y2="{y}" stroke="#eeeeee" stroke-width="1"/>')
        dash = "" if lane.loop else ' stroke-dasharray="6 5"'
        stroke = _LOOP if lane.loop else _MUTED
        parts.append(
            f'<line x1="{_x(lane.start)}" y1="{y}" x2="{_x(lane.end)}" y2="{y}" stroke="{stroke}"'
            f' stroke-width="{6 if lane.loop else 3}" stroke-linecap="round"{dash}/>'
        )
        for mark in (m for m in timeline.marks if m.lane == index):
            cx = _x(mark.at + 0.5)
            parts.append(_symbol(mark, cx, y))
            ink = _BAD if mark.kind in {MarkKind.FAILS, MarkKind.REFUSED} else _INK
            parts.append(
                f'<text x="{cx}" y="{y + 28}" text-anchor="middle" style="{FONT};font-size:12px"'
                f' fill="{ink}">{escape(mark.text)}</text>'
            )
    return parts + (_journey(timeline, top) if journey else [])


def _height(timeline: Timeline) -> int:
    return TITLE_H + len(timeline.lanes) * LANE_H + 8


def svg(exercise: Exercise) -> str:
    """The exercise's picture: the pitfall above, the fix below, a time axis and a legend."""
    bad_h, good_h = _height(exercise.bad), _height(exercise.good)
    legend_y = bad_h + good_h + 34
    height = legend_y + 48
    label = f"Exercise {exercise.number}: {exercise.title}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}"'
        f' role="img" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
        f'<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"'
        f' orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{_MUTED}"/></marker></defs>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        *_timeline(exercise.bad, 0, _BAD, journey=True),
        f'<line x1="12" y1="{bad_h}" x2="{WIDTH - 12}" y2="{bad_h}" stroke="#cccccc" stroke-width="1"/>',
        *_timeline(exercise.good, bad_h, _GOOD, journey=False),
        f'<line x1="{LABEL_W}" y1="{bad_h + good_h + 6}" x2="{_x(SLOTS)}" y2="{bad_h + good_h + 6}"'
        f' stroke="{_MUTED}" stroke-width="1.5"/>',
        f'<text x="{_x(SLOTS)}" y="{bad_h + good_h + 20}" text-anchor="end" style="{FONT};font-size:12px"'
        f' fill="{_MUTED}">time →</text>',
    ]
    x = 12
    for kind, (meaning, _) in _KINDS.items():
        parts.append(_symbol(Mark(0, 0, kind, ""), x + 10, legend_y))
        parts.append(
            f'<text x="{x + 24}" y="{legend_y + 4}" style="{FONT};font-size:12px"'
            f' fill="{_INK}">{escape(meaning)}</text>'
        )
        x += 30 + 7 * len(meaning)
    arrow_y = legend_y + 24
    parts.append(
        f'<path d="M12,{arrow_y} L40,{arrow_y}" stroke="{_MUTED}" stroke-width="1.5" stroke-dasharray="4 3"'
        ' marker-end="url(#arrow)"/>'
    )
    parts.append(
        f'<text x="46" y="{arrow_y + 4}" style="{FONT};font-size:12px" fill="{_INK}">the same client, carried from'
        " the loop that holds it to a loop that uses it</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


TEXT_LABEL = 26
TEXT_SLOT = 12


def _text_timeline(timeline: Timeline) -> list[str]:
    lines = [timeline.title]
    for index, lane in enumerate(timeline.lanes):
        bar = [" "] * (TEXT_SLOT * SLOTS)
        for column in range(lane.start * TEXT_SLOT, lane.end * TEXT_SLOT):
            bar[column] = "─" if lane.loop else "┄"
        notes: list[list[str]] = []
        for mark in (m for m in timeline.marks if m.lane == index):
            column = mark.at * TEXT_SLOT + TEXT_SLOT // 2
            symbol = _KINDS[mark.kind][1]
            bar[column] = symbol
            note = f"{symbol} {mark.text}"
            # Each note under its mark, on the first line where it does not run into another.
            for line in notes:
                if all(cell == " " for cell in line[column : column + len(note) + 1]):
                    break
            else:
                line = [" "] * (TEXT_SLOT * SLOTS + 30)
                notes.append(line)
            line[column : column + len(note)] = note
        lines.append(f"  {lane.label:<{TEXT_LABEL}}{''.join(bar).rstrip()}")
        lines += [(" " * (TEXT_LABEL + 2) + "".join(line)).rstrip() for line in notes]
    return lines


def text(exercise: Exercise) -> str:
    """The same picture for a terminal: one row per loop, notes under the marks."""
    keys = [f"{symbol} {meaning}" for meaning, symbol in _KINDS.values()]
    legend = ["  " + "   ".join(keys[:3]), "  " + "   ".join(keys[3:])]
    lines = [*_text_timeline(exercise.bad), "", *_text_timeline(exercise.good), "", *legend]
    return "\n".join(lines) + "\n"


def file_name(exercise: Exercise) -> str:
    return f"{exercise.folder}.svg"


def write_all(directory: Path) -> list[Path]:
    """Write every exercise's SVG into `directory`; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for exercise in EXERCISES:
        path = directory / file_name(exercise)
        path.write_text(svg(exercise), encoding="utf-8")
        written.append(path)
    return written
