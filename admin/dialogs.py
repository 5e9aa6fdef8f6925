"""The admin app's dialogs: a form (which is also the confirmation of a
destructive action) and the one-time display of a new device's secret.

A form does not close on a refusal: its ``submit`` callback sends the
command and returns the server's message, shown in the form so that the
manager corrects it in place. Keyboard (Tab, Enter, Esc) and mouse alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from motcua.i18n import Catalogue

from .model import qr_lines


@dataclass
class Field:
    """One input of a form: text (``password`` hides it) or a choice."""

    key: str
    label: str
    value: str = ""
    password: bool = False
    choices: list[tuple[str, str]] | None = None  # (label, value)
    required: bool = False


Submit = Callable[[dict[str, str]], Awaitable[str | None]]


class Body(VerticalScroll, can_focus=False):
    """A dialog's body: scrolls on small screens, never takes the focus
    itself (Tab goes from field to field)."""


class FormDialog(ModalScreen[dict[str, str] | None]):
    """A title, a warning for destructive actions, fields, Confirm/Cancel."""

    BINDINGS = [Binding("escape", "cancel", show=False)]

    def __init__(self, t: Catalogue, title: str, fields: list[Field], submit: Submit,
                 warning: str = "", danger: bool = False) -> None:
        super().__init__()
        self.t = t
        self.title_text = title
        self.fields = fields
        self.submit_cb = submit
        self.warning = warning
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Body(classes="dialog" + (" -danger" if self.danger else "")):
            yield Label(self.title_text, classes="dialog-title")
            if self.warning:
                yield Label(self.warning, classes="dialog-warning")
            for f in self.fields:
                yield Label(f.label, classes="field-label")
                if f.choices is not None:
                    yield Select(f.choices, value=f.value or f.choices[0][1], allow_blank=False,
                                 id=f"f-{f.key}")
                else:
                    yield Input(f.value, password=f.password, id=f"f-{f.key}")
            yield Label("", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.t("confirm"), variant="error" if self.danger else "primary",
                             id="ok")
                yield Button(self.t("cancel"), id="cancel")

    def on_mount(self) -> None:
        first = self.query("Input, Select")
        (first.first() if first else self.query_one("#ok", Button)).focus()

    def values(self) -> dict[str, str]:
        out = {}
        for f in self.fields:
            w = self.query_one(f"#f-{f.key}")
            out[f.key] = str(w.value if isinstance(w, Select) else w.value).strip()  # type: ignore[attr-defined]
        return out

    def complain(self, text: str) -> None:
        self.query_one(".dialog-error", Label).update(text)

    @on(Input.Submitted)
    def _enter(self) -> None:
        self._send()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self._send()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def _send(self) -> None:
        values = self.values()
        for f in self.fields:
            if f.required and not values[f.key]:
                self.complain(self.t("required", field=f.label))
                return
        self.query_one("#ok", Button).disabled = True
        self._run(values)

    @work(exclusive=True, group="form")
    async def _run(self, values: dict[str, str]) -> None:
        try:
            problem = await self.submit_cb(values)
        finally:
            self.query_one("#ok", Button).disabled = False
        if problem:
            self.complain(problem)
        else:
            self.dismiss(values)


class SecretDialog(ModalScreen[None]):
    """A new device's secret, enrolment code and QR — shown once."""

    BINDINGS = [Binding("escape", "close", show=False)]

    def __init__(self, t: Catalogue, reply: dict[str, Any]) -> None:
        super().__init__()
        self.t = t
        self.reply = reply

    def compose(self) -> ComposeResult:
        t, r = self.t, self.reply
        with Body(classes="dialog secret"):
            yield Label(t("secret_title", name=r["device"]["name"]), classes="dialog-title")
            yield Label(t("secret_once"), classes="dialog-warning")
            yield Label(t("secret"), classes="field-label")
            yield Input(r["secret"], id="secret-text")
            yield Label(t("enrolment"), classes="field-label")
            yield Input(r["enrolment"], id="enrolment-text")
            if r.get("fingerprint"):
                yield Label(t("fingerprint"), classes="field-label")
                yield Static(r["fingerprint"], id="fingerprint-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(t("noted"), variant="primary", id="ok")
            yield Static("\n".join(qr_lines(r["enrolment"])), id="qr")

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    @on(Button.Pressed, "#ok")
    def action_close(self) -> None:
        self.dismiss(None)


__all__ = ["Field", "FormDialog", "SecretDialog"]
