"""Kiosk widgets: an on-screen keyboard, a phone keypad (the big ticket number is
:class:`motcua.tui.BigNumber`, shared with the display)."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button


class KeyButton(Button, can_focus=False):
    """A key of the on-screen keyboard: pressing it never steals the focus
    from the search box."""

    async def _on_click(self, event: events.Click) -> None:
        # A plain Button ignores a click during its 0.2 s "pressed" effect:
        # a key must take every tap, or "22" typed quickly becomes "2".
        event.stop()
        self.press()


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


class PhoneKeypad(Grid):
    """Digits in the telephone layout, "+" (for +84) and delete: big keys for
    a finger. Keys take no focus, so Enter and Escape keep their meaning."""

    KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "0", "backspace")

    @dataclass
    class Typed(Message):
        """A key was touched: a digit, "+" or "backspace"."""

        key: str

    def __init__(self, delete: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self._delete = delete

    def compose(self) -> ComposeResult:
        for key in self.KEYS:
            label = self._delete if key == "backspace" else key
            name = {"+": "plus", "backspace": "backspace"}.get(key, key)
            yield KeyButton(label, name=key, id=f"pad-{name}", classes="pad")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.Typed(event.button.name or ""))
