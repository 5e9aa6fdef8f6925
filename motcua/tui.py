"""Textual pieces the apps share: the client's callbacks as Textual messages,
and the ticket number in very large glyphs.

Kept apart from :mod:`motcua.client`, which imports no Textual. An app calls
:func:`bridge` once and handles :class:`ClientEvent`, :class:`ClientConnection`
and :class:`ClientSynced` with ``@on(...)`` like any other message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Iterator

from rich.align import Align
from rich.console import RenderableType
from rich.text import Text
from textual import events
from textual.app import App
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Digits
from textual.widgets import Footer as TextualFooter

from .bigfont import fitting_level, glyph_height, glyph_rows, glyph_width
from .client import AuthError, Event, MotcuaClient


class ClientEvent(Message):
    """A server event reached the client (its mirror is already updated)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class ClientConnection(Message):
    """The connection to the server came up or went down."""

    def __init__(self, connected: bool) -> None:
        super().__init__()
        self.connected = connected


class ClientSynced(Message):
    """A fresh snapshot replaced the client's mirror (connect, reconnect, resync)."""


def bridge(app: App, client: MotcuaClient) -> MotcuaClient:
    """Post the client's callbacks to ``app`` as messages, and return the client."""
    client.on_event = lambda ev: app.post_message(ClientEvent(ev))
    client.on_status = lambda up: app.post_message(ClientConnection(up))
    client.on_welcome = lambda _state: app.post_message(ClientSynced())
    return client


@contextlib.contextmanager
def quiet_terminal_logging(log_file: str | None = None) -> Iterator[None]:
    """While a full-screen app runs, log lines written to the terminal would
    tear through it: send them to ``log_file``, or to Textual's devtools log,
    and put the terminal's handlers back afterwards."""
    from textual.logging import TextualHandler

    root = logging.getLogger()
    terminal = [h for h in root.handlers if isinstance(h, logging.StreamHandler)
                and getattr(h, "stream", None) in (sys.stderr, sys.stdout,
                                                   sys.__stderr__, sys.__stdout__)]
    handler: logging.Handler
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler = TextualHandler(stderr=False)
    level = root.level
    for h in terminal:
        root.removeHandler(h)
    root.addHandler(handler)
    if log_file:
        root.setLevel(min(level, logging.INFO))  # a file has room for more
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(level)
        for h in terminal:
            root.addHandler(h)


async def exit_when_refused(app: App, task: asyncio.Task) -> None:
    """Wait on a client's connection task; leave the app (exit code 2) if the
    server refuses the device. The client retries network trouble forever and
    stops only on a refusal (token, role, counter), which nothing on screen
    could fix, so the command line says why instead."""
    try:
        await task
    except AuthError:
        app.exit(return_code=2)


class PublicApp(App[None], inherit_bindings=False):
    """An app on a device citizens touch: kiosk, waiting-room display, rating pad.

    Textual's own keys are gone (``inherit_bindings=False``): Ctrl+Q would
    quit at once, Ctrl+C pops up "Press Ctrl+Q to quit", Ctrl+P opens an
    English command palette (Quit, Screenshot, Theme). Nothing typed on the
    device leaves it; the operator stops it from outside with SIGTERM or
    SIGINT (``systemctl stop``, ``kill PID``), which end it cleanly and give
    the terminal back.
    """

    ENABLE_COMMAND_PALETTE = False
    _STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def on_mount(self) -> None:
        if self.is_headless:
            return  # tests: leave the test runner's signals alone
        loop = asyncio.get_running_loop()
        for sig in self._STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.exit)

    def on_unmount(self) -> None:
        if self.is_headless:
            return
        loop = asyncio.get_running_loop()
        for sig in self._STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


class SteadyScreen(Screen):
    """A screen that refuses a ``Resize`` for any size but the app's.

    A screen always fills the app, so such an event is stale. Textual lets
    two of them chase each other: when the terminal's size changes while the
    screen is still mounting (a browser through textual-serve reports two
    sizes and may close within a second), a screen can hold resizes to two
    sizes at once. Each one it handles lays the screen out at that size and
    re-posts a resize for it behind the other, and a screen's message loop
    does not yield while its queue is full, so the pair circles forever:
    the process spins, never sees the browser's "quit" and is deaf to
    SIGTERM (textual-serve's driver turns the signal into a message). Refusing
    the stale size ends the circle after one lap.
    """

    def check_message_enabled(self, message: Message) -> bool:
        if isinstance(message, events.Resize) and message.size != self.app.size:
            return False
        return super().check_message_enabled(message)


class BigNumber(Digits):
    """A ticket or counter number in very large glyphs.

    A :class:`~textual.widgets.Digits` that knows every letter a department may
    use (Digits alone knows A–F) and grows with the screen: it uses the largest
    of its fonts, up to ``max_level``, that fits its width.
    """

    max_level: reactive[int] = reactive(0, layout=True)
    """The largest font allowed (0: 3 lines, 1: 7 lines, 2: 14 lines); the app
    raises it on tall screens."""

    def update(self, value: str) -> None:
        """Show ``value`` (layout is redone only when the width changes)."""
        if not isinstance(value, str):
            raise TypeError("value must be a str")
        relayout = len(value) != len(self._value)
        self._value = value
        self.refresh(layout=relayout)

    @property
    def level(self) -> int:
        """The font in use now."""
        return fitting_level(self._value, self.content_size.width, self.max_level)

    def render(self) -> RenderableType:
        style = self.rich_style
        text = Text("\n".join(glyph_rows(self._value, self.level)), style=style,
                    no_wrap=True, end="")
        align = self.styles.text_align
        return Align(text, align if align in ("left", "center", "right") else "left", style=style)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return glyph_width(self._value, fitting_level(self._value, container.width,
                                                      self.max_level))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return glyph_height(fitting_level(self._value, width, self.max_level))


class Footer(TextualFooter):
    """Textual's footer, without the memory it leaks each time the bindings change.

    The footer rebuilds its keys whenever the bindings change (every
    ``refresh_bindings``). Each key is bound to the footer's ``compact``
    with ``data_bind``, which leaves a watcher on the footer; Textual drops
    the watchers of removed keys only when ``compact`` changes, which it
    never does, so every rebuild kept its old keys alive with their styles
    and caches (Textual issue 6666): a console at the login screen grew by
    about 40 KB per server event. Touching ``compact`` after each rebuild
    makes Textual drop them.
    """

    async def recompose(self) -> None:
        await super().recompose()
        if self.is_attached:
            # Public API that runs the watchers and, first, drops those of
            # closed (removed) keys; the live keys get the same value again.
            self.mutate_reactive(TextualFooter.compact)


class LiveTable(DataTable):
    """A DataTable whose cells change all day (the monitor's counters and queues).

    Textual keys its render caches by a counter that every change bumps, so
    once a cell changes each earlier render is dead, but it stays until the
    caches are full (10,000 cells, 1,000 rows and lines): tens of megabytes
    of stale renders on a screen that shows a hundred cells. Call
    :meth:`changed` after a batch of ``update_cell``/``add_row`` calls to
    drop them at once.
    """

    def changed(self) -> None:
        """Drop the renders made stale by the last changes."""
        # What DataTable.clear() does first; the renders of the new contents
        # are made on the next refresh.
        self._clear_caches()
        self.refresh()
