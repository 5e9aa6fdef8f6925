"""Large glyphs for ticket numbers: every letter a department may use, not only A–F.

Textual's ``Digits`` draws 0–9 and A–F in a 3×3 box-drawing font and prints any
other letter as one small character, so "G012" would read as a tiny G beside a big
012. Here are two complete fonts: ``SMALL`` in the same 3×3 style (for an 80×24
terminal) and ``LARGE``, a 5×7 bitmap drawn with two cells per dot (for a TV).
"""

from __future__ import annotations

# 3 columns × 3 rows, heavy box drawing (matches Digits' bold digits).
_SMALL_SRC = {
    "0": ("┏━┓", "┃ ┃", "┗━┛"),
    "1": ("╺┓ ", " ┃ ", "╺┻╸"),
    "2": ("╺━┓", "┏━┛", "┗━╸"),
    "3": ("╺━┓", " ━┫", "╺━┛"),
    "4": ("╻ ╻", "┗━┫", "  ╹"),
    "5": ("┏━╸", "┗━┓", "╺━┛"),
    "6": ("┏━╸", "┣━┓", "┗━┛"),
    "7": ("╺━┓", "  ┃", "  ╹"),
    "8": ("┏━┓", "┣━┫", "┗━┛"),
    "9": ("┏━┓", "┗━┫", "╺━┛"),
    "A": ("┏━┓", "┣━┫", "╹ ╹"),
    "B": ("┳━┓", "┣━┫", "┻━┛"),
    "C": ("┏━╸", "┃  ", "┗━╸"),
    "D": ("┳━┓", "┃ ┃", "┻━┛"),
    "Đ": ("┳━┓", "╋ ┃", "┻━┛"),
    "E": ("┏━╸", "┣━ ", "┗━╸"),
    "F": ("┏━╸", "┣━ ", "╹  "),
    "G": ("┏━╸", "┃╺┓", "┗━┛"),
    "H": ("╻ ╻", "┣━┫", "╹ ╹"),
    "I": ("╺┳╸", " ┃ ", "╺┻╸"),
    "J": ("  ╻", "  ┃", "┗━┛"),
    "K": ("╻ ╻", "┣┳┛", "╹┗╸"),
    "L": ("╻  ", "┃  ", "┗━╸"),
    "M": ("┏┳┓", "┃┃┃", "╹╹╹"),
    "N": ("┏━┓", "┃ ┃", "╹ ╹"),
    "O": ("┏━┓", "┃ ┃", "┗━┛"),
    "P": ("┏━┓", "┣━┛", "╹  "),
    "Q": ("┏━┓", "┃ ┃", "┗━╋"),
    "R": ("┏━┓", "┣┳┛", "╹┗╸"),
    "S": ("┏━╸", "┗━┓", "╺━┛"),
    "T": ("╺┳╸", " ┃ ", " ╹ "),
    "U": ("╻ ╻", "┃ ┃", "┗━┛"),
    "V": ("╻ ╻", "┃ ┃", "┗┳┛"),
    "W": ("╻╻╻", "┃┃┃", "┗┻┛"),
    "X": ("╻ ╻", " ╋ ", "╹ ╹"),
    "Y": ("╻ ╻", "┗┳┛", " ╹ "),
    "Z": ("╺━┓", " ┏┛", "┗━╸"),
    "-": ("   ", "╺━╸", "   "),
    " ": ("   ", "   ", "   "),
}

# 5 columns × 7 rows; "#" is a dot.
_LARGE_SRC = {
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("####.", "....#", "....#", ".###.", "....#", "....#", "####."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": (".###.", "#....", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "....#", ".###."),
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."),
    "Đ": ("####.", "#...#", "#...#", "###.#", "#...#", "#...#", "####."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "J": ("..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "Q": (".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "V": ("#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
    "Z": ("#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"),
    "-": (".....", ".....", ".....", "#####", ".....", ".....", "....."),
    " ": (".....", ".....", ".....", ".....", ".....", ".....", "....."),
}


def _blocks(rows: tuple[str, ...], wide: int, tall: int) -> tuple[str, ...]:
    # A dot is ``wide`` cells by ``tall`` lines; 2×1 keeps it roughly square on
    # a terminal, 4×2 is the same shape twice as big.
    out: list[str] = []
    for row in rows:
        line = row.replace("#", "█" * wide).replace(".", " " * wide)
        out += [line] * tall
    return tuple(out)


SMALL: dict[str, tuple[str, ...]] = _SMALL_SRC
LARGE: dict[str, tuple[str, ...]] = {ch: _blocks(rows, 2, 1) for ch, rows in _LARGE_SRC.items()}
HUGE: dict[str, tuple[str, ...]] = {ch: _blocks(rows, 4, 2) for ch, rows in _LARGE_SRC.items()}

#: The fonts from smallest to largest: (glyphs, height in lines, cells between glyphs).
LEVELS: tuple[tuple[dict[str, tuple[str, ...]], int, int], ...] = (
    (SMALL, 3, 1),
    (LARGE, 7, 2),
    (HUGE, 14, 4),
)


def glyph_rows(text: str, level: int = 0) -> list[str]:
    """``text`` drawn in font ``level`` (0 small, 1 large, 2 huge), as lines of
    equal width.

    Characters the font lacks (none of a ticket number's should) fall back to
    the plain character on the middle line rather than disappearing.
    """
    font, height, gap_cells = LEVELS[level]
    gap = " " * gap_cells
    width = len(font["0"][0])
    lines = [""] * height
    for i, ch in enumerate(text.upper()):
        rows = font.get(ch)
        if rows is None:
            rows = tuple((ch.center(width) if r == height // 2 else " " * width)
                         for r in range(height))
        for r in range(height):
            lines[r] += (gap if i else "") + rows[r]
    return lines


def glyph_width(text: str, level: int = 0) -> int:
    """Width in cells of ``text`` in font ``level``."""
    if not text:
        return 0
    font, _, gap = LEVELS[level]
    return len(text) * len(font["0"][0]) + (len(text) - 1) * gap


def glyph_height(level: int) -> int:
    """Height in lines of font ``level``."""
    return LEVELS[level][1]


def fitting_level(text: str, width: int, max_level: int) -> int:
    """The largest font up to ``max_level`` in which ``text`` fits ``width`` cells."""
    for level in range(max_level, 0, -1):
        if glyph_width(text, level) <= width:
            return level
    return 0
