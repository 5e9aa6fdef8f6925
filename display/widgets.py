"""Widgets of the waiting-room display. They draw what they are given and
never talk to the server; the app feeds them rows from :mod:`display.board`."""

from __future__ import annotations

import math
from rich.console import RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from motcua.i18n import Catalogue
from motcua.tui import BigNumber

from .board import Call, CounterRow, DepartmentRow

# Rich styles (tables are Rich renderables, which don't see TCSS variables).
# Style objects, not strings: Textual parses a string style with its own
# parser, which knows neither "grey50" nor "bright_yellow" nor "dark_orange".
# It drops such a style (the text loses its colour) after looking for a
# spelling suggestion, which cost milliseconds on every redraw.
NUMBER = Style.parse("bold bright_yellow")
CALLING = Style.parse("bold bright_yellow")
SERVING = Style.parse("bold bright_green")
FREE = Style.parse("green")
PAUSED = Style.parse("bold dark_orange")
CLOSED = Style.parse("grey50")
RECALL = Style.parse("bold magenta")
HEADER = Style.parse("bold bright_white")
HIGHLIGHT = Style.parse("bold black on bright_yellow")
BOLD = Style.parse("bold")
PLAIN = Style()
WARN = Style.parse("bold yellow")


def _cell(text: str, style: Style, highlighted: bool) -> Text:
    # A highlighted row is drawn in one colour: a cell's own colour would win
    # over the row's and could vanish into the highlight (yellow on yellow).
    return Text(text, style=HIGHLIGHT if highlighted else style)


def counter_state(row: CounterRow, t: Catalogue, short: bool = False) -> tuple[str, Style]:
    """The words and style for a counter's state (``short``: a word or two,
    for a narrow column)."""
    end = "_short" if short else ""
    if row.status == "paused":
        return (t("state_paused_reason", reason=row.reason) if row.reason and not short
                else t("state_paused" + end)), PAUSED
    if row.status != "open":
        return t("state_closed"), CLOSED
    if row.ticket_status == "called":
        return t("state_calling" + end), CALLING
    if row.ticket_status == "serving":
        return t("state_serving" + end), SERVING
    return t("state_free" + end), FREE


class Panel(Widget):
    """A panel that lays its rows out for whatever size it is given."""

    def __init__(self, t: Catalogue, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.t = t
        self._loading_text: str | None = None

    @property
    def loading_text(self) -> str | None:
        """Shown instead of the rows until the server has sent any (None: rows)."""
        return self._loading_text

    @loading_text.setter
    def loading_text(self, text: str | None) -> None:
        if text != self._loading_text:
            self._loading_text = text
            self.refresh()

    def _table(self, **kwargs: object) -> Table:
        return Table(box=None, expand=True, pad_edge=False, show_edge=False,
                     header_style=HEADER, padding=(0, 1), **kwargs)  # type: ignore[arg-type]


class CountersPanel(Panel):
    """Every counter in scope: its ticket and whether it is open, paused or closed.

    When the counters don't fit one under another they flow into several
    columns, so 14 counters still fit an 80×24 terminal.
    """

    def __init__(self, t: Catalogue, *, id: str | None = None) -> None:
        super().__init__(t, id=id)
        self.rows: list[CounterRow] = []
        self.highlight: int | None = None

    def show(self, rows: list[CounterRow], highlight: int | None) -> None:
        if rows != self.rows or highlight != self.highlight:
            self.rows, self.highlight = rows, highlight
            self.refresh()

    def render(self) -> RenderableType:
        t = self.t
        if self.loading_text:
            return Text(self.loading_text, style=CLOSED)
        if not self.rows:
            return Text(t("empty"), style=CLOSED)
        lines = max(1, self.content_size.height - 1)  # one line for the header
        groups = max(1, math.ceil(len(self.rows) / lines))
        per_group = math.ceil(len(self.rows) / groups)
        width = self.content_size.width // groups
        # Names ("Quầy 12 - Tổng hợp") only when each column has room for them;
        # short state words when the column would cut the long ones.
        with_names = width >= 44
        with_officer = width >= 70
        short = width < 30
        outer = Table.grid(expand=True, padding=(0, 2))
        for _ in range(groups):
            outer.add_column(ratio=1)
        tables = []
        for g in range(groups):
            # A narrow column keeps one space between cells, not two.
            table = self._table(collapse_padding=short)
            table.add_column(t("col_counter"), no_wrap=True, overflow="ellipsis",
                             ratio=3 if with_names else None, justify="left" if with_names else "right")
            table.add_column(t("col_ticket"), no_wrap=True)
            table.add_column(t("col_state"), no_wrap=True, overflow="ellipsis", ratio=3)
            if with_officer:
                table.add_column(t("col_officer"), no_wrap=True, overflow="ellipsis", ratio=3)
            for row in self.rows[g * per_group:(g + 1) * per_group]:
                words, style = counter_state(row, t, short)
                label = row.name if with_names else str(row.number)
                hl = row.number == self.highlight
                cells = [_cell(label, BOLD, hl),
                         _cell(row.ticket or "", NUMBER if row.status == "open" else CLOSED, hl),
                         _cell(words, style, hl)]
                if with_officer:
                    cells.append(_cell(row.officer or "",
                                       PLAIN if row.status != "closed" else CLOSED, hl))
                table.add_row(*cells, style=HIGHLIGHT if hl else None)
            tables.append(table)
        outer.add_row(*tables)
        return outer


class RecentPanel(Panel):
    """The last calls, newest first (people who missed theirs look here)."""

    def __init__(self, t: Catalogue, *, id: str | None = None) -> None:
        super().__init__(t, id=id)
        self.calls: list[Call] = []
        self.times: list[str] = []
        self.highlight_first = False

    def show(self, calls: list[Call], times: list[str], highlight_first: bool) -> None:
        if (calls, times, highlight_first) != (self.calls, self.times, self.highlight_first):
            self.calls, self.times, self.highlight_first = calls, times, highlight_first
            self.refresh()

    def render(self) -> RenderableType:
        t = self.t
        if self.loading_text:
            return Text(self.loading_text, style=CLOSED)
        if not self.calls:
            return Text(t("no_call_yet"), style=CLOSED)
        fit = max(1, self.content_size.height - 1)
        table = self._table()
        table.add_column(t("col_ticket"), no_wrap=True)
        table.add_column(t("col_counter"), no_wrap=True, justify="right")
        table.add_column(t("col_time"), no_wrap=True, justify="right")
        table.add_column("", no_wrap=True, overflow="ellipsis", ratio=1)
        narrow = self.content_size.width < 28
        for i, (call, at) in enumerate(zip(self.calls[:fit], self.times)):
            hl = i == 0 and self.highlight_first
            recall = (t("recall_mark") if narrow else t("recall_short")) if call.get("recall") \
                else ""
            table.add_row(_cell(call["number"], NUMBER, hl), _cell(str(call["counter"]), BOLD, hl),
                          _cell(at, PLAIN, hl), _cell(recall, RECALL, hl),
                          style=HIGHLIGHT if hl else None)
        return table


class DepartmentsPanel(Panel):
    """How many people wait in each department, and the estimated wait."""

    def __init__(self, t: Catalogue, *, id: str | None = None) -> None:
        super().__init__(t, id=id)
        self.rows: list[DepartmentRow] = []

    def show(self, rows: list[DepartmentRow]) -> None:
        if rows != self.rows:
            self.rows = rows
            self.refresh()

    def render(self) -> RenderableType:
        t = self.t
        if self.loading_text:
            return Text(self.loading_text, style=CLOSED)
        if not self.rows:
            return Text(t("empty"), style=CLOSED)
        table = self._table()
        table.add_column(t("col_department"), no_wrap=True, overflow="ellipsis", ratio=1)
        table.add_column(t("col_waiting"), no_wrap=True, justify="right")
        table.add_column(t("col_wait_time"), no_wrap=True, justify="right")
        for row in self.rows[: max(1, self.content_size.height - 1)]:
            quiet = row.waiting == 0
            minutes = (t("minutes", n=row.wait_minutes)
                       if row.waiting and row.wait_minutes is not None else "")
            table.add_row(Text(row.name, style=CLOSED if quiet else PLAIN),
                          Text(str(row.waiting), style=CLOSED if quiet else HEADER),
                          Text(t("dept_closed"), style=WARN) if not row.open
                          else Text(minutes, style=CLOSED))
        return table


class Marquee(Widget):
    """One line of text that scrolls when it is wider than the screen.

    The position comes from the wall clock the app passes in, so a snapshot
    taken with a fixed clock is always the same.
    """

    GAP = "   •   "

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = ""
        self.phase = 0

    def show(self, text: str, phase: int) -> None:
        if text != self.text:
            self.text = text
            self.refresh()
        if phase != self.phase:
            self.phase = phase
            if self._scrolls():
                self.refresh()

    def _scrolls(self) -> bool:
        return len(self.text) > self.content_size.width > 0

    def render(self) -> RenderableType:
        if not self._scrolls():
            return Text(self.text, no_wrap=True, overflow="ellipsis", end="")
        loop = self.text + self.GAP
        start = self.phase % len(loop)
        window = (loop[start:] + loop)[: self.content_size.width]
        return Text(window, no_wrap=True, end="")


__all__ = ["BigNumber", "CountersPanel", "RecentPanel", "DepartmentsPanel",
                          "Marquee", "counter_state"]
