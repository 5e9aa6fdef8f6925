"""The counter console's modal dialogs: transfer, a number, a pause reason.

Each dialog only collects input and dismisses with it; the console sends
the command. Every dialog works from the keyboard alone (arrows, Tab, Enter,
Esc) as well as with the mouse.
"""

from __future__ import annotations

from typing import Any, Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, OptionList
from textual.widgets.option_list import Option

from motcua.i18n import Catalogue

from .model import clock_text
from .strings import PAUSE_REASONS


class _Dialog(ModalScreen[Any]):
    """Shared frame: a title, an error line, Confirm/Cancel, Esc to cancel."""

    BINDINGS = [Binding("escape", "cancel", show=False)]

    def __init__(self, t: Catalogue, title: str) -> None:
        super().__init__()
        self.t = t
        self.title_text = title

    def body(self) -> ComposeResult:
        yield from ()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield from self.body()
            yield Label("", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.t("ok"), variant="primary", id="ok")
                yield Button(self.t("cancel"), id="cancel")

    def complain(self, text: str) -> None:
        self.query_one(".dialog-error", Label).update(text)

    def submit(self) -> None:
        raise NotImplementedError

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.submit()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class TransferDialog(_Dialog):
    """Pick the department to send the citizen to, with an optional note.
    Dismisses with ``(department, note or None)``."""

    def __init__(self, t: Catalogue, number: str, departments: list[tuple[str, str]]) -> None:
        super().__init__(t, t("transfer_title", number=number))
        self.departments = departments

    def body(self) -> ComposeResult:
        yield OptionList(*[Option(f"{name} ({code})", id=code) for code, name in self.departments],
                         id="departments")
        yield Input(placeholder=self.t("transfer_note"), id="note", max_length=500)

    def on_mount(self) -> None:
        options = self.query_one("#departments", OptionList)
        options.highlighted = 0 if self.departments else None
        options.focus()

    @on(OptionList.OptionSelected)
    def _picked(self) -> None:
        self.query_one("#note", Input).focus()

    @on(Input.Submitted)
    def _entered(self) -> None:
        self.submit()

    def submit(self) -> None:
        option = self.query_one("#departments", OptionList).highlighted_option
        if option is None:
            self.complain(self.t("transfer_pick"))
            return
        note = self.query_one("#note", Input).value.strip()
        self.dismiss((option.id, note or None))


class NumberDialog(_Dialog):
    """Type a ticket number, or pick one from the waiting list.
    Dismisses with the number (upper case)."""

    def __init__(self, t: Catalogue, title: str, tickets: list[dict[str, Any]],
                 name_of: Callable[[str], str], now: float, prefill: str = "") -> None:
        super().__init__(t, title)
        self.tickets = tickets
        self.name_of = name_of
        self.now = now
        self.prefill = prefill

    def body(self) -> ComposeResult:
        yield Input(self.prefill, placeholder=self.t("number_placeholder"), id="number",
                    max_length=8)
        yield Label(self.t("waiting_list") if self.tickets else self.t("waiting_empty"),
                    classes="dialog-subtitle")
        table: DataTable = DataTable(id="waiting", cursor_type="row", zebra_stripes=True)
        table.display = bool(self.tickets)
        yield table

    def on_mount(self) -> None:
        table = self.query_one("#waiting", DataTable)
        table.add_columns(self.t("col_number"), self.t("department"),
                          self.t("priority"), self.t("waited"))
        for ticket in self.tickets:
            table.add_row(ticket["number"], self.name_of(ticket["department"]),
                          "★" if ticket.get("priority") else "",
                          clock_text(self.now - ticket["queued_at"]), key=ticket["number"])
        self.query_one("#number", Input).focus()

    @on(DataTable.RowSelected)
    def _row(self, event: DataTable.RowSelected) -> None:
        self.dismiss(str(event.row_key.value))

    @on(Input.Submitted)
    def _entered(self) -> None:
        self.submit()

    def submit(self) -> None:
        number = self.query_one("#number", Input).value.strip().upper()
        if not number:
            self.complain(self.t("number_missing"))
            return
        self.dismiss(number)


class PauseDialog(_Dialog):
    """Pick a preset reason or type one. Dismisses with the reason text."""

    def __init__(self, t: Catalogue) -> None:
        super().__init__(t, t("pause_title"))

    def body(self) -> ComposeResult:
        yield OptionList(*[Option(self.t(key), id=key) for key in PAUSE_REASONS], id="reasons")
        yield Input(placeholder=self.t("pause_other"), id="other", max_length=200)

    def on_mount(self) -> None:
        options = self.query_one("#reasons", OptionList)
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.t(str(event.option.id)))

    @on(Input.Submitted)
    def _entered(self) -> None:
        self.submit()

    def submit(self) -> None:
        other = self.query_one("#other", Input).value.strip()
        if other:
            self.dismiss(other)
            return
        option = self.query_one("#reasons", OptionList).highlighted_option
        if option is None:
            self.complain(self.t("pause_missing"))
            return
        self.dismiss(self.t(str(option.id)))


class ChangePinDialog(_Dialog):
    """The officer's own PIN: the current one and the new one twice.
    Dismisses with (current, new); the console sends ``change_pin``."""

    def __init__(self, t: Catalogue) -> None:
        super().__init__(t, t("pin_change_title"))

    def body(self) -> ComposeResult:
        for key in ("pin_old", "pin_new", "pin_again"):
            yield Label(self.t(key), classes="dialog-subtitle")
            yield Input(password=True, id=key, max_length=12)

    def on_mount(self) -> None:
        self.query_one("#pin_old", Input).focus()

    @on(Input.Submitted, "#pin_old")
    def _to_new(self) -> None:
        self.query_one("#pin_new", Input).focus()

    @on(Input.Submitted, "#pin_new")
    def _to_again(self) -> None:
        self.query_one("#pin_again", Input).focus()

    @on(Input.Submitted, "#pin_again")
    def _entered(self) -> None:
        self.submit()

    def submit(self) -> None:
        old, new, again = (self.query_one(f"#{k}", Input).value.strip()
                           for k in ("pin_old", "pin_new", "pin_again"))
        if not old or not new:
            self.complain(self.t("pin_missing"))
        elif new != again:
            self.complain(self.t("pin_mismatch"))
        else:
            self.dismiss((old, new))
