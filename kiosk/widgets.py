"""Kiosk widgets: the ticket number in large digits, and an on-screen keyboard."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.message import Message
from textual.widgets import Button, Digits
from textual.renderables.digits import DIGITS, DIGITS3X3

# Textual's Digits draws 0-9 and A-F only, and ticket letters run through the
# alphabet (G, H, K, …). These 3x3 letters follow the style of its A-F.
LETTERS: dict[str, tuple[str, str, str]] = {
    "G": ("╭─╴", "│╶╮", "╰─╯"),
    "H": ("╷ ╷", "├─┤", "╵ ╵"),
    "I": ("╶┬╴", " │ ", "╶┴╴"),
    "J": ("  ╷", "  │", "╰─╯"),
    "K": ("│ ╱", "├┤ ", "│ ╲"),
    "L": ("╷  ", "│  ", "╰─╴"),
    "M": ("╭┬╮", "│││", "╵╵╵"),
    "N": ("╭─╮", "│ │", "╵ ╵"),
    "O": ("╭─╮", "│ │", "╰─╯"),
    "P": ("┌─╮", "├─╯", "╵  "),
    "Q": ("╭─╮", "│ │", "╰─╳"),
    "R": ("┌─╮", "├┬╯", "╵╰╴"),
    "S": ("╭─╴", "╰─╮", "╰─╯"),
    "T": ("╶┬╴", " │ ", " ╵ "),
    "U": ("╷ ╷", "│ │", "╰─╯"),
    "V": ("╷ ╷", "╲ ╱", " ╵ "),
    "W": ("╷╷╷", "│││", "╰┴╯"),
    "X": ("╲ ╱", " ╳ ", "╱ ╲"),
    "Y": ("╷ ╷", "╰┬╯", " ╵ "),
    "Z": ("╶─╱", " ╱ ", "╱─╴"),
}


def glyph(char: str) -> tuple[str, str, str]:
    """The three rows (3 cells each) drawing one character of a ticket number."""
    char = char.upper()
    if char in LETTERS:
        return LETTERS[char]
    if char != " " and char in DIGITS:
        i = DIGITS.index(char) * 3
        return tuple(DIGITS3X3[i + k].ljust(3)[:3] for k in range(3))  # type: ignore[return-value]
    return ("   ", "   ", f" {char[:1]} ")


# Which sides each line-drawing character reaches (up, down, left, right),
# to draw glyphs at twice the size with unbroken strokes.
_REACH: dict[str, str] = {
    "─": "lr", "│": "ud", "╭": "dr", "╮": "dl", "╰": "ur", "╯": "ul", "┌": "dr", "┐": "dl",
    "└": "ur", "┘": "ul", "├": "udr", "┤": "udl", "┬": "dlr", "┴": "ulr", "┼": "udlr",
    "╶": "r", "╴": "l", "╷": "d", "╵": "u", "━": "lr", "┃": "ud", "╋": "udlr",
}
_DIAGONAL: dict[str, tuple[str, str, str, str]] = {
    "╱": (" ", "╱", "╱", " "), "╲": ("╲", " ", " ", "╲"), "╳": ("╲", "╱", "╱", "╲"),
}


def scaled(rows: tuple[str, ...] | list[str], scale: int) -> list[str]:
    """Draw glyph rows at ``scale`` 1 or 2: at 2 each cell becomes 2x2 and
    strokes are extended so lines stay joined."""
    if scale <= 1:
        return list(rows)
    out: list[str] = []
    for row in rows:
        top, bottom = [], []
        for ch in row:
            if ch in _DIAGONAL:
                tl, tr, bl, br = _DIAGONAL[ch]
            else:
                reach = _REACH.get(ch, "")
                tl = ch
                tr = "─" if "r" in reach else " "
                bl = "│" if "d" in reach else " "
                br = " "
            top += [tl, tr]
            bottom += [bl, br]
        out += ["".join(top), "".join(bottom)]
    return out


class _Glyphs:
    """A Rich renderable: the number as rows of 3x3 glyphs (or 6x6)."""

    def __init__(self, text: str, style: Style, scale: int = 1) -> None:
        self.text = text
        self.style = style
        self.scale = scale

    def rows(self) -> list[str]:
        rows = ["", "", ""]
        for char in self.text:
            for k, piece in enumerate(glyph(char)):
                rows[k] += piece
        return scaled(rows, self.scale)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for row in self.rows():
            yield Segment(row, self.style)
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = 3 * self.scale * len(self.text)
        return Measurement(width, width)


class TicketDigits(Digits):
    """:class:`textual.widgets.Digits` that can draw every letter A-Z, so any
    department's ticket number ("G012", "T003") shows in large digits, and
    at twice the size (``scale`` 2) on a big touch screen."""

    def __init__(self, value: str = "", *, scale: int = 1, **kwargs) -> None:
        super().__init__(value, **kwargs)
        self._scale = scale

    @property
    def scale(self) -> int:
        return self._scale

    @scale.setter
    def scale(self, value: int) -> None:
        if value != self._scale:
            self._scale = value
            self.refresh(layout=True)

    def render(self):  # type: ignore[override]
        from rich.align import Align

        text_align = self.styles.text_align
        align = text_align if text_align in ("left", "center", "right") else "left"
        return Align(_Glyphs(self.value, self.rich_style, self._scale), align, self.rich_style)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return 3 * self._scale * len(self.value)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 3 * self._scale


class KeyButton(Button, can_focus=False):
    """A key of the on-screen keyboard: pressing it never steals the focus
    from the search box."""


class OnScreenKeyboard(Vertical):
    """Letters, space, backspace and clear, for touch screens without a
    keyboard. Vietnamese is typed without diacritics: search ignores them."""

    ROWS = ("abcdefghijklm", "nopqrstuvwxyz")

    @dataclass
    class Typed(Message):
        """A key was touched: a letter, " ", "backspace" or "clear"."""

        key: str

    def __init__(self, space: str, clear: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self._space = space
        self._clear = clear

    def compose(self) -> ComposeResult:
        for row in self.ROWS:
            with Horizontal(classes="keyrow"):
                for ch in row:
                    yield KeyButton(ch, name=ch, id=f"key-{ch}", classes="key")
        with Horizontal(classes="keyrow"):
            yield KeyButton(self._space, name=" ", id="key-space", classes="key wide")
            yield KeyButton("⌫", name="backspace", id="key-backspace", classes="key")
            yield KeyButton(self._clear, name="clear", id="key-clear", classes="key wide")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.Typed(event.button.name or ""))
