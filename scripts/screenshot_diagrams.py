"""Check headless Chromium's screenshots of docs/diagrams/*.svg (run by scripts/screenshot-diagrams.sh).

Usage:
    screenshot_diagrams.py size SVG                  print the SVG's own "WIDTH,HEIGHT" (for --window-size)
    screenshot_diagrams.py check SVG PNG [SVG PNG]   check each screenshot against its SVG

A screenshot passes when
  * its size is the SVG's width and height (the window Chromium was asked for);
  * it is not blank: more than MIN_INK_SHARE of its pixels differ from the background;
  * every pixel in the EDGE-pixel strips along its right and bottom edges is exactly the background: a
    diagram that reaches them is cut off there, its declared size too small for what it draws.

The background is the image's most common colour (white, the diagrams' own background rect). For the
blank test a pixel counts as drawn ("ink") when one of its channels differs from the background's by
more than INK_TOLERANCE, so faint anti-aliasing and the pale lane lines do not make a page look full;
the edge strips allow no difference at all (the diagrams keep 12 px right and 17 px bottom margins, so
even a faint fringe there means something runs off the edge). One line per diagram is printed; any
failure names the diagram and what is wrong, and the exit status is 1.

Standard library only: a small PNG decoder (zlib, struct) for what Chromium writes, 8-bit RGB or RGBA,
not interlaced; anything else is refused with a clear message.
"""

from __future__ import annotations

import re
import struct
import sys
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from xml.parsers import expat

MIN_INK_SHARE = 0.02  # the diagrams measure 6.9-8.7 %; a blank page, or one with only a title, is far below
INK_TOLERANCE = 24  # per channel, out of 255: above the lane lines' #eeeeee (17) and faint anti-aliasing
EDGE = 2  # pixels along the right and bottom edges that must be exactly the background

USAGE = "usage: screenshot_diagrams.py size SVG | screenshot_diagrams.py check SVG PNG [SVG PNG ...]"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS_BY_COLOUR_TYPE = {2: 3, 6: 4}  # RGB, RGBA


class CheckError(Exception):
    """A file that cannot be read as this check needs it."""


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    channels: int
    rows: list[bytes]  # unfiltered scanlines, width * channels bytes each

    def pixel(self, x: int, y: int) -> bytes:
        start = x * self.channels
        return self.rows[y][start : start + self.channels]


@dataclass(frozen=True)
class Figures:
    ink_share: float  # share of all pixels that are ink
    right_margin: int  # background columns right of anything drawn (any difference from the background)
    bottom_margin: int  # background rows below anything drawn
    right_edge: list[tuple[int, int]]  # pixels (x, y) in the last EDGE columns that are not the background
    bottom_edge: list[tuple[int, int]]  # pixels (x, y) in the last EDGE rows that are not the background


def svg_size(svg: Path) -> tuple[int, int]:
    """The width and height on the SVG's root element, in whole pixels ("860" or "860px").

    The whole file is parsed (expat, which fetches no external entities), so a malformed SVG, which
    Chromium would draw as an error page, fails here with the parser's message.
    """
    roots: list[tuple[str, dict[str, str]]] = []

    def start_element(name: str, attributes: dict[str, str]) -> None:
        if not roots:
            roots.append((name, attributes))

    parser = expat.ParserCreate()
    parser.StartElementHandler = start_element
    try:
        parser.Parse(svg.read_bytes(), True)
    except expat.ExpatError as error:
        raise CheckError(f"{svg}: not well-formed XML: {error}") from error
    if not roots or roots[0][0] != "svg":
        raise CheckError(f"{svg}: the root element is not <svg>")
    attributes = roots[0][1]
    size: list[int] = []
    for name in ("width", "height"):
        found = re.fullmatch(r"\s*(\d+)\s*(px)?\s*", attributes.get(name, ""))
        if found is None:
            raise CheckError(f'{svg}: the root <svg> has no {name} in whole pixels (like {name}="860")')
        size.append(int(found.group(1)))
    return size[0], size[1]


def read_png(path: Path) -> Image:
    data = path.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise CheckError(f"{path}: not a PNG file")
    position = len(PNG_SIGNATURE)
    header: bytes | None = None
    compressed = bytearray()
    while True:  # chunks: length, type, body, CRC of type and body
        if position + 12 > len(data):
            raise CheckError(f"{path}: truncated PNG (no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        end = position + 12 + length
        if end > len(data):
            raise CheckError(f"{path}: truncated {kind.decode('latin-1')} chunk")
        body = data[position + 8 : end - 4]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + body) != crc:
            raise CheckError(f"{path}: corrupt {kind.decode('latin-1')} chunk (CRC mismatch)")
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            compressed += body
        elif kind == b"IEND":
            break
        position = end
    if header is None or len(header) != 13:
        raise CheckError(f"{path}: no valid IHDR chunk")
    width, height, depth, colour_type, compression, filter_method, interlace = struct.unpack(">IIBBBBB", header)
    channels = CHANNELS_BY_COLOUR_TYPE.get(colour_type)
    if depth != 8 or channels is None or compression != 0 or filter_method != 0 or interlace != 0:
        raise CheckError(
            f"{path}: unsupported PNG (bit depth {depth}, colour type {colour_type}, interlace {interlace});"
            " this check reads 8-bit RGB or RGBA, not interlaced, as Chromium writes"
        )
    raw = zlib.decompress(bytes(compressed))
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise CheckError(f"{path}: image data is {len(raw)} bytes, expected {height * (stride + 1)}")
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(raw[start], raw[start + 1 : start + 1 + stride], previous, channels, path)
        rows.append(row)
        previous = row
    return Image(width, height, channels, rows)


def _unfilter(kind: int, line: bytes, previous: bytes, bpp: int, path: Path) -> bytes:
    """Undo one scanline's PNG filter (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth)."""
    if kind == 0:
        return line
    out = bytearray(line)
    if kind == 1:
        for i in range(bpp, len(out)):
            out[i] = (out[i] + out[i - bpp]) & 0xFF
    elif kind == 2:
        for i in range(len(out)):
            out[i] = (out[i] + previous[i]) & 0xFF
    elif kind == 3:
        for i in range(len(out)):
            left = out[i - bpp] if i >= bpp else 0
            out[i] = (out[i] + ((left + previous[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(len(out)):
            a = out[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            predictor = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out[i] = (out[i] + predictor) & 0xFF
    else:
        raise CheckError(f"{path}: unknown PNG filter type {kind}")
    return bytes(out)


def measure(image: Image) -> Figures:
    pixels = Counter(image.pixel(x, y) for y in range(image.height) for x in range(image.width))
    background = pixels.most_common(1)[0][0]
    ink_colours = {
        colour
        for colour in pixels
        if max(abs(value - base) for value, base in zip(colour, background, strict=True)) > INK_TOLERANCE
    }
    ink_total = sum(pixels[colour] for colour in ink_colours)
    rightmost, lowest = -1, -1
    right_edge: list[tuple[int, int]] = []
    bottom_edge: list[tuple[int, int]] = []
    for y in range(image.height):
        for x in range(image.width):
            if image.pixel(x, y) != background:
                rightmost, lowest = max(rightmost, x), y
                if x >= image.width - EDGE:
                    right_edge.append((x, y))
                if y >= image.height - EDGE:
                    bottom_edge.append((x, y))
    return Figures(
        ink_share=ink_total / (image.width * image.height),
        right_margin=image.width - 1 - rightmost,
        bottom_margin=image.height - 1 - lowest,
        right_edge=right_edge,
        bottom_edge=bottom_edge,
    )


def check(svg: Path, png: Path) -> list[str]:
    """Print the diagram's figures; return what is wrong with its screenshot (nothing when it passes)."""
    width, height = svg_size(svg)
    image = read_png(png)
    if (image.width, image.height) != (width, height):
        print(f"{svg.name}: screenshot {image.width}x{image.height} px: FAILED")
        return [f"the screenshot is {image.width}x{image.height} px, not the SVG's {width}x{height}"]
    figures = measure(image)
    problems: list[str] = []
    if figures.ink_share <= MIN_INK_SHARE:
        problems.append(
            f"looks blank: only {figures.ink_share:.2%} of its pixels drawn (more than {MIN_INK_SHARE:.0%} needed)"
        )
    for edge, drawn, side in (("right", figures.right_edge, "width"), ("bottom", figures.bottom_edge, "height")):
        if drawn:
            x, y = drawn[0]
            problems.append(
                f"cut off at the {edge} edge: {len(drawn)} drawn pixels in its last {EDGE} px (the first at x={x},"
                f" y={y}); the SVG's {side} is too small for what it draws"
            )
    print(
        f"{svg.name}: {width}x{height} px, {figures.ink_share:.1%} drawn, margins right {figures.right_margin} px"
        f" and bottom {figures.bottom_margin} px: {'FAILED' if problems else 'ok'}"
    )
    return problems


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 2 and argv[0] == "size":
            width, height = svg_size(Path(argv[1]))
            print(f"{width},{height}")
            return 0
        if len(argv) >= 3 and argv[0] == "check" and len(argv) % 2 == 1:
            failures = []
            for svg, png in zip(argv[1::2], argv[2::2], strict=True):
                failures += [f"{Path(svg).name}: {problem}" for problem in check(Path(svg), Path(png))]
            for failure in failures:
                print(f"screenshot_diagrams.py: {failure}", file=sys.stderr)
            return 1 if failures else 0
    except (CheckError, OSError, zlib.error) as error:
        print(f"screenshot_diagrams.py: {error}", file=sys.stderr)
        return 1
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
