"""The ticket kiosk: a citizen picks a department, a procedure and maybe a
priority group, and gets a number the server confirmed, on screen and on paper.

Screens: home (departments, procedure search) → procedures → priority →
issuing → ticket (or a refusal) → maybe the phone keypad ("text me when my
turn is near", where the center sends messages). "Out of service" covers everything while the
server is unreachable. All network traffic goes through the shared
:class:`motcua.client.MotcuaClient`; printing runs in thread workers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, cast

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Center, Grid, Horizontal, Vertical, VerticalScroll
from textual.events import Key, MouseDown, MouseScrollDown, MouseScrollUp
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, Input, Static
from textual.worker import Worker, WorkerState

from motcua.client import AuthError, Event, MotcuaClient, NotConnected, ServerError
from motcua.i18n import Catalogue
from motcua.tui import BigNumber, PublicApp, SteadyScreen

from motcua.waits import wait_phrase_of

from motcua.phone import PhoneError

from .model import (Choice, Closed, IssuedTicket, PhoneEntry, center_tz, counters_for, masked,
                    phone_error_key, search_procedures, ticket_hours)
from .strings import EN, VI
from .widgets import OnScreenKeyboard, PhoneKeypad

log = logging.getLogger("motcua.kiosk")

DEFAULT_URL = "ws://127.0.0.1:8765"
DEFAULT_TOKEN = "kiosk-demo"
SEARCH_LIMIT = 30
#: Seconds without a reply before "Issuing…" is shown.
ISSUING_SCREEN_AFTER = 0.25
#: Longest the ticket screen waits for the top of the ticket to reach the printer.
PAPER_FIRST_WAIT = 0.05

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class PrintOutcome:
    """What a print (or a printer probe) found; ``number`` is None for probes.

    ``status`` is what the printer said before printing: "online",
    "unknown" (it did not answer, as many cheap printers never do) or
    "unchecked"."""

    number: str | None
    ok: bool
    problem: str | None
    detail: str
    status: str = "unchecked"


@dataclass(frozen=True)
class IssueOutcome:
    """How one citizen's attempt ended: a confirmed ticket, a refusal, or no
    answer within the retry window."""

    choice: Choice
    issued: IssuedTicket | None = None
    refused: ServerError | None = None


# --- widgets shared by the screens ------------------------------------------

class Choices(VerticalScroll, can_focus=False):
    """A scrolling list of choices; the buttons inside take the focus."""


class KioskHeader(Horizontal):
    """Center name, clock and the language button, on every screen."""

    def compose(self) -> ComposeResult:
        kiosk = cast("KioskApp", self.app)
        yield Static(kiosk.center_name(), id="center-name")
        yield Static(kiosk.clock_text(), id="clock")
        yield Button(kiosk.t("lang_button"), id="lang", compact=True)

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        kiosk = cast("KioskApp", self.app)
        self.query_one("#clock", Static).update(kiosk.clock_text())
        self.query_one("#center-name", Static).update(kiosk.center_name())
        kiosk.check_hours()


class KioskScreen(SteadyScreen):
    """A kiosk screen: the header, a body, and a line of hints."""

    HINT = "hint_list"

    @property
    def kiosk(self) -> "KioskApp":
        return cast("KioskApp", self.app)

    def t(self, key: str, **params: Any) -> str:
        return self.kiosk.t(key, **params)

    def compose(self) -> ComposeResult:
        yield KioskHeader()
        with Vertical(id="body"):
            yield from self.body()
        yield Static(self.t(self.HINT), classes="hint")

    def body(self) -> Iterable:
        return ()

    def forget(self) -> None:
        """The kiosk goes back to the start: drop anything a citizen typed."""

    def after_recompose(self) -> None:
        """Put the focus back after a language switch rebuilt the screen."""
        self.focus_first()

    def focus_on(self, selector: str) -> None:
        """Focus a button if it is there: a screen dismissed while it mounts
        (the server dropped just then) has lost its children, and a lookup
        error in a handler would close the whole kiosk app."""
        for button in self.query(selector).results(Button):
            button.focus()
            return

    def focus_first(self) -> None:
        choices = self.query(".choice:enabled")  # a closed department can't take focus
        if choices:
            choices.first().focus()

    def key_choice(self, event: Key) -> bool:
        """Digits 1–9 press the matching numbered choice."""
        if event.character and event.character in "123456789":
            buttons = list(self.query(".choice").results(Button))
            index = int(event.character) - 1
            if index < len(buttons):
                event.stop()
                buttons[index].press()
                return True
        return False


# --- screens ----------------------------------------------------------------

class HomeScreen(KioskScreen):
    """Departments with their queues, and the procedure search."""

    HINT = "hint_home"
    AUTO_FOCUS = ".dept:enabled"
    BINDINGS = [
        Binding("down,right", "app.focus_next", show=False),
        Binding("up,left", "app.focus_previous", show=False),
        Binding("escape", "reset", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.search_text = ""
        self.keyboard = False

    def body(self) -> Iterable:
        center = self.kiosk.center
        searching = bool(self.search_text.strip())
        closed = self.kiosk.closed
        if closed is not None:
            yield Static(self.kiosk.closed_text(closed), id="prompt", classes="-closed")
        else:
            yield Static(self.t("home_prompt") if center else self.t("connecting"), id="prompt")
        with Horizontal(id="searchbar"):
            yield Input(self.search_text, placeholder=self._placeholder(), id="search",
                        select_on_focus=False, compact=self.app.size.height < 30)
            yield Button(self.t("keyboard_hide" if self.keyboard else "keyboard_show"),
                         id="kbd-toggle", compact=True)
            if (center.get("booking") or {}).get("departments"):
                yield Button(self.t("booked_button"), id="booked", compact=True)
        yield Static(self.t("printer_warning"), id="printer-warning",
                     classes="" if self.kiosk.printer_ok else "-shown")
        with Choices(id="choices"):
            with Grid(id="departments") as grid:
                grid.display = not searching
                for dept in center.get("departments", []):
                    # A closed department stays visible (citizens look for it)
                    # but can't be chosen; the label says why.
                    yield Button(self._dept_label(dept), id=f"dept-{dept['code']}",
                                 classes="dept choice",
                                 disabled=not dept.get("open", True) or closed is not None)
            with Vertical(id="results") as results:
                results.display = searching
                yield from self._result_widgets()
        if self.keyboard:
            yield OnScreenKeyboard(self.t("key_space"), self.t("key_clear"), id="keyboard")
        elif center.get("notice"):
            yield Static(self.kiosk.t.pick(center, "notice", "notice_en"), id="notice")

    def after_recompose(self) -> None:
        self.focus_on("#lang")

    def on_screen_resume(self) -> None:
        self.refresh_queues()

    def _placeholder(self) -> str:
        # The long example is cut off on a narrow screen: a short one reads better.
        return self.t("search_placeholder" if self.app.size.width >= 70
                      else "search_placeholder_short")

    def on_resize(self) -> None:
        for search in self.query("#search").results(Input):
            search.placeholder = self._placeholder()

    def _dept_label(self, dept: dict[str, Any]) -> str:
        if not dept.get("open", True):
            return f"{dept['letter']} · {self.kiosk.t.pick(dept)}\n{self.t('dept_closed')}"
        live = self.kiosk.client.state.departments.get(dept["code"], {})
        n = int(live.get("waiting", 0))
        waiting = self.t("waiting", n=n) if n else self.t("waiting_none")
        about = self.kiosk.wait_about(live, n)
        if about and not n and live.get("wait_unknown"):
            waiting = about[:1].upper() + about[1:]  # "Chưa có quầy mở": short enough to fit
        elif about:
            waiting += " · " + about
        return f"{dept['letter']} · {self.kiosk.t.pick(dept)}\n{waiting}"

    def refresh_queues(self) -> None:
        """Redraw the waiting counts from the client's mirror."""
        for dept in self.kiosk.center.get("departments", []):
            for button in self.query(f"#dept-{dept['code']}").results(Button):
                button.label = self._dept_label(dept)
        for warning in self.query("#printer-warning"):
            warning.set_class(not self.kiosk.printer_ok, "-shown")

    # search ------------------------------------------------------------------

    @on(Input.Changed, "#search")
    async def _search_changed(self, event: Input.Changed) -> None:
        self.search_text = event.value
        await self._show_results()

    async def _show_results(self) -> None:
        results = self.query("#results").first(Vertical) if self.query("#results") else None
        if results is None:
            return
        searching = bool(self.search_text.strip())
        with self.app.batch_update():
            await results.remove_children()
            self.query_one("#departments", Grid).display = not searching
            results.display = searching
            await results.mount_all(self._result_widgets())

    def _result_widgets(self) -> list:
        if not self.search_text.strip():
            return []
        matches = search_procedures(self.kiosk.center, self.search_text)
        if not matches:
            return [Static(self.t("search_none"), classes="note")]
        widgets: list = [Static(self.t("search_results", n=len(matches)), classes="note")]
        for m in matches[:SEARCH_LIMIT]:
            is_open = m.department.get("open", True)
            label = (f"{self.kiosk.t.pick(m.procedure)}\n"
                     f"{m.department['letter']} · {self.kiosk.t.pick(m.department)}"
                     + ("" if is_open else f" · {self.t('dept_closed')}"))
            widgets.append(Button(label, id=f"result-{m.procedure['code']}",
                                  classes="result choice", name=m.department["code"],
                                  disabled=not is_open or self.kiosk.closed is not None))
        if len(matches) > SEARCH_LIMIT:
            widgets.append(Static(self.t("search_more", n=len(matches) - SEARCH_LIMIT),
                                  classes="note"))
        return widgets

    @on(Input.Submitted, "#search")
    def _search_submitted(self) -> None:
        first = self.query("#results .result").first() if self.query("#results .result") else None
        if isinstance(first, Button):
            first.press()

    @on(OnScreenKeyboard.Typed)
    def _typed(self, event: OnScreenKeyboard.Typed) -> None:
        search = self.query_one("#search", Input)
        if event.key == "backspace":
            search.value = search.value[:-1]
        elif event.key == "clear":
            search.value = ""
        else:
            search.value += event.key
        search.cursor_position = len(search.value)
        search.focus()

    async def action_reset(self) -> None:
        """Back to the plain home screen (Escape, idle)."""
        changed = self.keyboard or self.search_text
        self.keyboard = False
        self.search_text = ""
        if changed:
            await self.recompose()
            self.focus_first()

    def on_key(self, event: Key) -> None:
        focused = self.focused
        if isinstance(focused, Input):
            return
        char = event.character
        if char and char.isdigit():
            self._press_department(int(char))
            event.stop()
        elif char and event.is_printable:
            # Typing anywhere starts a search. Focus moves only after this
            # key, so the rest of a fast burst arrives here too: keep spaces
            # once a word has begun.
            search = self.query_one("#search", Input)
            if char.strip() or search.value:
                search.focus()
                search.insert_text_at_cursor(char)
                event.stop()

    def _press_department(self, n: int) -> None:
        buttons = list(self.query(".dept").results(Button))
        if 1 <= n <= len(buttons) and self.query_one("#departments").display:
            buttons[n - 1].press()

    @on(Button.Pressed)
    async def _pressed(self, event: Button.Pressed) -> None:
        button = event.button
        bid = button.id or ""
        if not self.is_current:
            return  # a second quick tap, after the first one moved on
        if bid == "kbd-toggle":
            self.keyboard = not self.keyboard
            await self.recompose()
            self.query_one("#search", Input).focus()
        elif bid == "booked":
            from .booking import BookingScreen

            self.app.push_screen(BookingScreen())
        elif bid.startswith("dept-"):
            dept = self.kiosk.department(bid[5:])
            if dept is not None:
                self.app.push_screen(DepartmentScreen(dept))
        elif bid.startswith("result-"):
            self.kiosk.choose(Choice(button.name or "", bid[7:]))


class ChoiceScreen(KioskScreen):
    """A list of numbered choices with a back button: digits pick, Escape goes
    back, and a tap lands only while the screen is still the current one."""

    BINDINGS = [
        Binding("escape", "back", show=False),
        Binding("down", "app.focus_next", show=False),
        Binding("up", "app.focus_previous", show=False),
    ]

    def on_mount(self) -> None:
        self.focus_first()

    def on_key(self, event: Key) -> None:
        self.key_choice(event)

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if not self.is_current:
            return  # a second quick tap, after the first one moved on
        if bid == "back":
            self.action_back()
        else:
            self.chosen(bid)

    def chosen(self, button_id: str) -> None:
        """A choice button (not "back") was pressed."""
        raise NotImplementedError


class DepartmentScreen(ChoiceScreen):
    """The procedures of one department."""

    def __init__(self, dept: dict[str, Any]) -> None:
        super().__init__()
        self.dept = dept

    def body(self) -> Iterable:
        pick = self.kiosk.t.pick
        yield Static(f"{self.dept['letter']} · {pick(self.dept)}", classes="title")
        yield Static(self.t("procedure_prompt"), classes="prompt")
        with Choices():
            procs = self.dept.get("procedures", [])
            for i, proc in enumerate(procs, 1):
                yield Button(f"{i}. {pick(proc)}", id=f"proc-{proc['code']}", classes="choice")
            yield Button(f"{len(procs) + 1}. {self.t('procedure_other')}", id="proc-other",
                         classes="choice")
        with Horizontal(classes="nav"):
            yield Button(self.t("back"), id="back")

    def chosen(self, bid: str) -> None:
        if bid == "proc-other":
            self.kiosk.choose(Choice(self.dept["code"]))
        elif bid.startswith("proc-"):
            self.kiosk.choose(Choice(self.dept["code"], bid[5:]))


class PriorityScreen(ChoiceScreen):
    """"Do you belong to a priority group?" — a plain "no" first."""

    def __init__(self, choice: Choice) -> None:
        super().__init__()
        self.choice = choice

    def body(self) -> Iterable:
        k = self.kiosk
        proc = k.procedure(self.choice.procedure)
        yield Static(k.department_name(self.choice.department), classes="title")
        if proc:
            yield Static(k.t.pick(proc), classes="subtitle")
        yield Static(self.t("priority_prompt"), classes="prompt")
        with Choices():
            yield Button(f"1. {self.t('priority_no')}", id="prio-no", classes="choice")
            for i, group in enumerate(k.center.get("priority_groups", []), 2):
                yield Button(f"{i}. {k.t.pick(group)}", id=f"prio-{group['code']}",
                             classes="choice priority")
        yield Static(self.t("priority_note"), classes="note")
        with Horizontal(classes="nav"):
            yield Button(self.t("back"), id="back")

    def chosen(self, bid: str) -> None:
        if bid == "prio-no":
            self.kiosk.start_issue(self.choice)
        elif bid.startswith("prio-"):
            self.choice.priority = bid[5:]
            self.kiosk.start_issue(self.choice)


class IssuingScreen(KioskScreen):
    """Shown while the server is asked for a number (usually a blink)."""

    HINT = "watch_screen"

    def body(self) -> Iterable:
        with Vertical(id="issuing"):
            yield Static(self.t("issuing"), classes="prompt")


class TicketScreen(KioskScreen):
    """The confirmed number in large digits, and what the citizen needs."""

    HINT = "watch_screen"
    BINDINGS = [Binding("escape,enter", "done", show=False)]

    def __init__(self, issued: IssuedTicket, print_state: str) -> None:
        super().__init__()
        self.issued = issued
        self.print_state = print_state  # printing | printed | failed | none
        self._home_timer: Timer | None = None
        #: After a phone number was taken: the masked number and the
        #: "people ahead" threshold (the number itself is not kept).
        self.notified: tuple[str, int] | None = None
        self._phone: PhoneScreen | None = None

    def body(self) -> Iterable:
        k = self.kiosk
        t = self.issued.ticket
        local = self.issued.issued_local(k.center)
        yield Static(self.t("ticket_title"), id="ticket-title")
        number = BigNumber(self.issued.number, id="number")
        # Sized before the first layout: a later change would move the
        # buttons under a citizen's finger just as the screen appears.
        number.set_reactive(BigNumber.max_level, self._number_level())
        yield number
        yield Static(f"{k.department_name(t['department'])}", id="t-dept", classes="title")
        proc = k.procedure(t.get("procedure"))
        if proc:
            yield Static(k.t.pick(proc), id="t-proc", classes="subtitle")
        group = k.priority_group(t.get("priority"))
        if group:
            yield Static(self.t("ticket_priority", p=k.t.pick(group)), id="t-prio")
        with Vertical(id="facts"):
            yield Static(self.t("ahead", n=self.issued.ahead), id="t-ahead")
            phrase = k.wait_text(self.issued.wait_phrase())
            if phrase:
                yield Static(phrase, id="t-wait")
            counters = counters_for(k.center, t["department"])
            if counters:
                names = ", ".join(self.t("counter_name", n=n) for n in counters)
                yield Static(self.t("counters", c=names), id="t-counters")
            yield Static(self.t("issued_at", time=f"{local:%H:%M}", date=f"{local:%d/%m/%Y}"),
                         id="t-issued")
            if self.issued.link:
                yield Static(self.t("follow_link", link=self.issued.link), id="t-link")
        yield Static(self._print_text(), id="print-state", classes=f"-{self.print_state}")
        if self.notified is not None:
            yield Static(self._notified_text(), id="t-notify")
        with Horizontal(id="ticket-actions"):
            if self.notified is None and self.issued.can_notify:
                yield Button(self.t("notify_offer"), id="notify")
            yield Button(self.t("done"), id="done", variant="primary")
        yield Static(self.t("auto_home", n=round(k.home_after)), classes="note")

    def _notified_text(self) -> str:
        assert self.notified is not None
        phone, threshold = self.notified
        if self.issued.ahead <= threshold:
            return self.t("notify_done_now", phone=phone)
        if threshold in (0, 1):
            return self.t(("notify_done_next", "notify_done_one")[threshold], phone=phone)
        return self.t("notify_done", phone=phone, n=threshold)

    def _print_text(self) -> str:
        return self.t({"printing": "printing", "printed": "printed", "failed": "print_failed",
                       "none": "no_printer"}[self.print_state])

    def on_mount(self) -> None:
        self._home_timer = self.set_timer(self.kiosk.home_after, self.kiosk.go_home)
        self.focus_on("#done")

    def on_resize(self) -> None:
        self._fit_number()

    def _number_level(self) -> int:
        # The 7-line font where the screen has room (a touch screen).
        width, height = self.app.size
        return 1 if width >= 100 and height >= 32 else 0

    def _fit_number(self) -> None:
        for digits in self.query("#number").results(BigNumber):
            digits.max_level = self._number_level()

    def after_recompose(self) -> None:
        self.focus_on("#lang")
        self._fit_number()

    def set_print_state(self, state: str) -> None:
        """The printer finished: say so; on a failure give the citizen the
        full time again to note the number."""
        self.print_state = state
        # The print may finish before the screen is composed: then compose
        # shows the new state.
        for line in self.query("#print-state").results(Static):
            line.update(self._print_text())
            line.set_classes(f"-{state}")
        if state == "failed" and self._home_timer is not None:
            self._home_timer.reset()

    def action_done(self) -> None:
        self.kiosk.go_home()

    @on(Button.Pressed, "#done")
    def _done(self) -> None:
        self.kiosk.go_home()

    @on(Button.Pressed, "#notify")
    def _notify(self) -> None:
        self.ask_phone()

    def on_key(self, event: Key) -> None:
        # A digit typed on a keyboard starts the number at once.
        if event.character and (event.character.isdigit() or event.character == "+"):
            event.stop()
            self.ask_phone(event.character)

    def ask_phone(self, first: str = "") -> None:
        """Open the keypad; the way back to the start waits meanwhile (the
        kiosk's idle timeout still applies)."""
        if self._phone is not None and self._phone in self.app.screen_stack:
            # Keys typed fast, before the keypad screen took over the input.
            if first:
                self._phone.type_key(first)
            return
        if not self.is_current or self.notified is not None or not self.issued.can_notify:
            return
        if self._home_timer is not None:
            self._home_timer.pause()
        self._phone = PhoneScreen(self.issued, first)
        self.app.push_screen(self._phone)

    def on_screen_resume(self) -> None:
        if self._home_timer is not None:
            self._home_timer.reset()  # the full time again to read what it says

    async def phone_taken(self, phone: str, threshold: int) -> None:
        """The server keeps the number: say where the messages go, masked."""
        self.notified = (phone, threshold)
        await self.recompose()
        self._fit_number()
        self.focus_on("#done")


class PhoneScreen(KioskScreen):
    """"Text me when my turn is near": a number typed on big keys (or a
    keyboard), checked, and sent to the server for this ticket. The number is
    on screen only while it is typed: the ticket screen then shows it masked,
    and cancelling, sending, or the kiosk's idle timeout forget it."""

    HINT = "hint_phone"
    AUTO_FOCUS = "#phone-ok"
    BINDINGS = [
        Binding("escape", "cancel", show=False),
        Binding("enter", "confirm", show=False),
        Binding("left,up", "app.focus_previous", show=False),
        Binding("right,down", "app.focus_next", show=False),
    ]

    def __init__(self, issued: IssuedTicket, first: str = "") -> None:
        super().__init__()
        self.issued = issued
        self.entry = PhoneEntry()
        if first:
            self.entry.press(first)
        #: What is wrong with the entry (a sentence), or None.
        self.error: str | None = None
        self.sending = False

    def body(self) -> Iterable:
        with Vertical(id="phone-panel"):
            yield Static(self.t("phone_title"), classes="title")
            yield Static(self.t("phone_prompt"), id="phone-prompt")
            yield Static(self._entry_text(), id="phone-entry",
                         classes="" if self.entry or self.sending else "-empty")
            yield Static(self.error or "", id="phone-error",
                         classes="-shown" if self.error else "")
            yield PhoneKeypad(self.t("key_delete"), id="keypad")
            with Horizontal(id="phone-actions"):
                yield Button(self.t("phone_cancel"), id="phone-cancel")
                yield Button(self.t("phone_confirm"), id="phone-ok", variant="primary")
            yield Static(self.t("phone_privacy"), id="phone-privacy", classes="note")

    def _entry_text(self) -> str:
        if self.sending:
            return self.t("phone_sending")
        return self.entry.grouped() if self.entry else self.t("phone_empty")

    def after_recompose(self) -> None:
        self.focus_on("#phone-ok")

    def _redraw(self) -> None:
        for line in self.query("#phone-entry").results(Static):
            line.update(self._entry_text())
            line.set_class(not self.entry and not self.sending, "-empty")
        for line in self.query("#phone-error").results(Static):
            line.update(self.error or "")
            line.set_class(bool(self.error), "-shown")

    def on_mount(self) -> None:
        self._fit()
        self._redraw()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        # Framed keys (three lines each) wherever they fit, down to 80×24.
        self.set_class(self.app.size.height < 24, "-small-keys")

    def type_key(self, key: str) -> None:
        """A digit, "+", "backspace" or "clear" (from the keypad or a keyboard)."""
        if self.sending:
            return
        self.entry.press(key)
        self.error = None  # the citizen is correcting it
        self._redraw()

    @on(PhoneKeypad.Typed)
    def _typed(self, event: PhoneKeypad.Typed) -> None:
        self.type_key(event.key)

    def on_key(self, event: Key) -> None:
        char = event.character
        if char and (char.isdigit() or char == "+"):
            event.stop()
            self.type_key(char)
        elif event.key == "backspace":
            event.stop()
            self.type_key("backspace")
        elif event.key == "delete":
            event.stop()
            self.type_key("clear")

    @on(Button.Pressed, "#phone-cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    @on(Button.Pressed, "#phone-ok")
    def _ok_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_confirm()

    def action_cancel(self) -> None:
        if not self.is_current:
            return
        self.entry.clear()
        self.app.pop_screen()

    def action_confirm(self) -> None:
        """Check the entry here (the server's own rule), then send it."""
        if not self.is_current or self.sending:
            return
        try:
            phone = self.entry.check()
        except PhoneError as e:
            key, params = phone_error_key(e)
            self.error = self.t(key, **params)
            self._redraw()
            return
        self.sending = True
        self._redraw()
        self._send(phone)

    @work(exclusive=True, group="notify", exit_on_error=False)
    async def _send(self, phone: str) -> None:
        kiosk = self.kiosk
        shown = masked(phone)
        try:
            reply = await kiosk.client.request("notify", timeout=kiosk.reply_timeout,
                                               ticket=self.issued.link_secret, phone=phone,
                                               lang=kiosk.t.language)
        except ServerError as e:
            self._failed(e.text(kiosk.t.language))
            return
        except (NotConnected, TimeoutError):
            self._failed(self.t("phone_err_offline"))
            return
        self.entry.clear()
        if self not in self.app.screen_stack:
            return  # the kiosk went back to the start meanwhile
        threshold = (reply.get("alert") or {}).get("ahead")
        if not isinstance(threshold, int):
            threshold = self.issued.notify_ahead or 0
        stack = self.app.screen_stack
        ticket = stack[-2] if len(stack) >= 2 and stack[-1] is self else None
        if isinstance(ticket, TicketScreen):
            # Run by the ticket screen: this screen's workers end as it is popped.
            ticket.call_later(ticket.phone_taken, shown, threshold)
        self.app.pop_screen()

    def _failed(self, message: str) -> None:
        self.sending = False
        self.error = message
        self._redraw()

    def forget(self) -> None:
        self.entry.clear()
        self.error = None

    def on_unmount(self) -> None:
        self.forget()


class MessageScreen(KioskScreen):
    """A refusal or failure in plain words, then back to the start."""

    HINT = "watch_screen"
    BINDINGS = [Binding("escape,enter", "done", show=False)]

    def __init__(self, title_key: str, message: str) -> None:
        super().__init__()
        self.title_key = title_key
        self.message = message

    def body(self) -> Iterable:
        yield Static(self.t(self.title_key), classes="title refusal")
        yield Static(self.message, id="message", classes="prompt")
        yield Static(self.t("refused_hint"), classes="note")
        with Center():
            yield Button(self.t("ok"), id="ok", variant="primary")
        yield Static(self.t("auto_home", n=round(self.kiosk.home_after)), classes="note")

    def on_mount(self) -> None:
        self.set_timer(self.kiosk.home_after, self.kiosk.go_home)
        self.focus_on("#ok")

    def after_recompose(self) -> None:
        self.focus_on("#ok")

    def action_done(self) -> None:
        self.kiosk.go_home()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.kiosk.go_home()


class OutOfServiceScreen(KioskScreen):
    """Covers everything while the server is unreachable."""

    HINT = "oos_retrying"

    def body(self) -> Iterable:
        with Vertical(id="oos"):
            with Center():
                yield Static(self.t("oos_title"), id="oos-title")
            yield Static(self.t("oos_body"), classes="prompt")
            if self.kiosk.pending is not None:
                yield Static(self.t("oos_pending"), id="oos-pending", classes="note")
            if self.kiosk.fatal:
                yield Static(self.t("oos_config", detail=self.kiosk.fatal), id="oos-config",
                             classes="note")

    def after_recompose(self) -> None:
        self.focus_on("#lang")


# --- the app ----------------------------------------------------------------

class KioskApp(PublicApp):
    """The kiosk. Everything is injectable for tests: the server, the printer,
    the timings and the clock that the header shows."""

    CSS_PATH = "kiosk.tcss"
    TITLE = "motcua kiosk"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    #: Below 30 lines (an 80×24 terminal) buttons lose their frames so that a
    #: screen's choices fit without scrolling.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    BINDINGS = [Binding("f2", "toggle_language", show=False, priority=True)]

    @dataclass
    class ServerChanged(Message):
        """The connection came or went (``connected``), or a snapshot or
        queue change arrived (``connected`` is None)."""

        connected: bool | None
        snapshot: bool = False

    def __init__(self, url: str = DEFAULT_URL, token: str = DEFAULT_TOKEN,
                 device: str = "kiosk-1", printer_spec: str = "none",
                 paper_mm: int | None = None,
                 language: str = "vi", home_after: float = 15.0, idle_after: float = 60.0,
                 *, clock: Clock | None = None, retry_for: float = 60.0,
                 reply_timeout: float = 5.0, print_timeout: float = 5.0,
                 probe_every: float = 30.0, connect_grace: float = 1.5,
                 printer_settings: dict[str, Any] | None = None,
                 client_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.t = Catalogue(VI, EN, language)
        #: The language each citizen starts in.
        self.language = language
        self.url = url
        self.device = device
        self.printer_spec = printer_spec
        #: This kiosk's own printer settings (paper, dots, qr, image_align,
        #: check_status); what is not given here comes from the center's
        #: ``[printer]`` section, then the defaults.
        self.printer_settings: dict[str, Any] = dict(printer_settings or {})
        if paper_mm is not None:
            self.printer_settings["paper"] = paper_mm
        self.home_after = home_after
        self.idle_after = idle_after
        self.clock = clock or utc_now
        self.retry_for = retry_for
        self.reply_timeout = reply_timeout
        self.print_timeout = print_timeout
        self.probe_every = probe_every
        self.connect_grace = connect_grace
        self.client = MotcuaClient(url, "kiosk", device, token,
                                   on_event=self._client_event, on_status=self._client_status,
                                   on_welcome=self._client_welcome, **(client_options or {}))
        self.online = False
        #: The citizen's attempt being issued (kept across disconnections).
        self.pending: Choice | None = None
        #: A configuration problem the client cannot recover from (bad token).
        self.fatal: str | None = None
        self.printer_ok = True
        #: Whether the printer's state was ever observed (a print or a probe).
        self._printer_observed = False
        self._printer_problem: tuple[str, str] | None = None
        self._printer_reported: tuple[bool, str | None] | None = None
        #: "online", "unknown" (the printer never answers DLE EOT) or "unchecked".
        #: "unknown" is reported to the server as problem "status_unknown" (ok).
        self.printer_status = "unchecked"
        self._status_detail = ""
        # One ticket on the printer at a time (a 9,600 baud printer takes
        # seconds per ticket), and no probe in the middle of one.
        self._printer_lock = threading.Lock()
        # Outcomes of prints that finished before their ticket screen showed.
        self._print_states: dict[str, str] = {}
        self._warmed_for: str | None = None
        self._last_input = time.monotonic()
        self._center_seen: dict[str, Any] | None = None
        #: Why tickets can't be taken now (outside the center's hours), or None.
        self.closed: Closed | None = None
        self._clock_offset = 0.0

    # --- lookups for the screens ---------------------------------------

    @property
    def center(self) -> dict[str, Any]:
        return self.client.state.center

    def center_name(self) -> str:
        if not self.center:
            return "motcua"
        return self.t.pick(self.center, "name", "name_en")

    def now(self) -> datetime:
        """The center's local time by the server's clock: the welcome's
        ``server_time`` says how far this kiosk's clock is off."""
        moment = self.clock() + timedelta(seconds=self._clock_offset)
        return moment.astimezone(center_tz(self.center))

    def clock_text(self) -> str:
        now = self.now()
        if self.size.width < 100:
            return f"{now:%H:%M}"  # the center's name needs the room
        weekday = self.t("weekdays").split(",")[now.weekday()]
        return self.t("clock", time=f"{now:%H:%M}", weekday=weekday, date=f"{now:%d/%m/%Y}")

    def closed_text(self, closed: Closed) -> str:
        """Why no ticket can be taken now, and when to come back."""
        if closed.reason == "before":
            return self.t("hours_before", opens=closed.opens)
        if closed.next_days == 1:
            back = self.t("hours_next_tomorrow", opens=closed.opens)
        elif closed.next_weekday is not None:
            back = self.t("hours_next", opens=closed.opens,
                          weekday=self.t("weekdays").split(",")[closed.next_weekday])
        else:
            back = ""
        key = "hours_after" if closed.reason == "after" else "hours_closed"
        text = self.t(key, last_ticket=closed.last_ticket, next=back)
        return text if back else text.split(". ")[0] + "."

    def check_hours(self) -> None:
        """Follow the center's ticket hours: when they open or close, the
        home screen says so (and its buttons follow) at once."""
        closed = ticket_hours(self.center, self.now()) if self.center else None
        if closed != self.closed:
            self.closed = closed
            self.call_later(self._hours_changed)

    async def _hours_changed(self) -> None:
        home = self.home
        focused = self.screen is home
        await home.recompose()
        if focused:
            home.focus_first()

    def department(self, code: str) -> dict[str, Any] | None:
        return self.client.state.department_info(code)

    def why(self, code: str) -> str:
        """Why a wait is unknown, from the server's ``wait_unknown`` code."""
        try:
            return self.t(f"why_{code}")
        except KeyError:
            return self.t("why_other")

    def wait_text(self, phrase: tuple[str, dict[str, Any]] | None) -> str | None:
        """The ticket's wait line from :func:`model.wait_phrase`."""
        if phrase is None:
            return None
        key, params = phrase
        if key == "wait_unknown":
            return self.t(key, why=self.why(params["why"]))
        return self.t(key, **params)

    def wait_about(self, view: dict[str, Any], waiting: int) -> str | None:
        """The short wait on a department button: a range, or why unknown."""
        phrase = wait_phrase_of(view)
        if phrase is None:
            return None
        key, params = phrase
        if key == "wait_unknown":
            return self.why(params["why"])
        if not waiting or key == "wait_under":
            return None
        if key == "wait" and not params["n"]:
            return None
        return self.t({"wait": "wait_about", "wait_upto": "wait_about_upto",
                       "wait_range": "wait_about_range"}[key], **params)

    def department_name(self, code: str) -> str:
        dept = self.department(code)
        return self.t.pick(dept) if dept else code

    def procedure(self, code: str | None) -> dict[str, Any] | None:
        return self.client.state.procedure_info(code)

    def priority_group(self, code: str | None) -> dict[str, Any] | None:
        return next((g for g in self.center.get("priority_groups", []) if g["code"] == code),
                    None)

    # --- lifecycle -------------------------------------------------------

    def get_default_screen(self) -> Screen:
        return HomeScreen()

    @property
    def home(self) -> HomeScreen:
        return cast(HomeScreen, self.screen_stack[0])

    def on_mount(self) -> None:
        task = self.client.start()
        task.add_done_callback(self._client_stopped)
        self.set_timer(self.connect_grace, self._grace_over)
        self.set_interval(min(1.0, max(0.05, self.idle_after / 5)), self._check_idle)
        if self.printing:
            self._warm_printer(None)  # fonts loaded before the first citizen, not during
        if self._printer_probeable():
            self._probe_printer()
            self.set_interval(self.probe_every, self._maybe_probe)

    async def on_unmount(self) -> None:
        await self.client.close()

    def _grace_over(self) -> None:
        if not self.online:
            self._show_oos()

    # --- client callbacks (on the app's event loop) ----------------------

    def _client_status(self, connected: bool) -> None:
        self.post_message(self.ServerChanged(connected))

    def _client_welcome(self, state: Any) -> None:
        if state.server_time is not None:
            # Measured here, against the kiosk's own clock, as the welcome arrives.
            self._clock_offset = state.server_time - self.clock().timestamp()
        self.post_message(self.ServerChanged(None, snapshot=True))

    def _client_event(self, ev: Event) -> None:
        if ev.type in ("queue_changed", "day_started"):
            self.post_message(self.ServerChanged(None))
        elif ev.type == "config_changed":
            # A department closed or opened live, a new notice: redraw as
            # after a welcome (the home screen is rebuilt from the center).
            self.post_message(self.ServerChanged(None, snapshot=True))

    def _client_stopped(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, AuthError):
            self.fatal = exc.error.text(self.t.language)
        else:
            self.fatal = f"{type(exc).__name__}: {exc}"
        log.error("kiosk client stopped: %s", self.fatal)
        self.post_message(self.ServerChanged(False))

    async def on_kiosk_app_server_changed(self, message: ServerChanged) -> None:
        if message.connected is True:
            self.online = True
            self._hide_oos()
            self._report_printer()
        elif message.connected is False:
            self.online = False
            shown = next((s for s in self.screen_stack if isinstance(s, OutOfServiceScreen)),
                         None)
            if shown is None:
                self._show_oos()
            elif self.fatal:
                await shown.recompose()  # add the reason the kiosk gave up
        if message.snapshot and self.center != self._center_seen:
            # First contact, or the center's configuration changed.
            self._center_seen = dict(self.center)
            if self.printing:
                self._warm_printer(dict(self.center))
            self.closed = ticket_hours(self.center, self.now())
            await self.home.recompose()
            self.home.focus_first()
        self.home.refresh_queues()

    # --- navigation ------------------------------------------------------

    def _show_oos(self) -> None:
        if not any(isinstance(s, OutOfServiceScreen) for s in self.screen_stack):
            self.push_screen(OutOfServiceScreen())

    def _hide_oos(self) -> None:
        if isinstance(self.screen, OutOfServiceScreen):
            self.pop_screen()

    def show(self, screen: Screen | None = None) -> None:
        """Leave whatever flow is on screen for ``screen`` (home if None),
        keeping "out of service" on top while the server is away."""
        while len(self.screen_stack) > 1:
            left = self.screen_stack[-1]
            if isinstance(left, KioskScreen):
                left.forget()
            self.pop_screen()
        if screen is not None:
            self.push_screen(screen)
        if not self.online:
            self._show_oos()

    def go_home(self) -> None:
        """Back to the start for the next citizen (never mid-issue), in the
        kiosk's own language."""
        if self.pending is not None:
            return
        self.show(None)
        self.call_later(self._fresh_start)

    async def _fresh_start(self) -> None:
        home = self.home
        if self.t.language != self.language:
            self.t.language = self.language
            for screen in list(self.screen_stack):
                await screen.recompose()
            home.focus_first()
        await home.action_reset()

    def choose(self, choice: Choice) -> None:
        """A procedure (or "other") was chosen: ask about priority, if the
        center has priority groups."""
        if self.center.get("priority_groups"):
            self.push_screen(PriorityScreen(choice))
        else:
            self.start_issue(choice)

    # --- idle --------------------------------------------------------------

    async def on_event(self, event) -> None:
        if isinstance(event, (Key, MouseDown, MouseScrollDown, MouseScrollUp)):
            self._last_input = time.monotonic()
        await super().on_event(event)

    def _check_idle(self) -> None:
        if time.monotonic() - self._last_input < self.idle_after or self.pending is not None:
            return
        self._last_input = time.monotonic()
        home = self.home
        if len(self.screen_stack) > 1 and not (
                len(self.screen_stack) == 2 and isinstance(self.screen, OutOfServiceScreen)):
            self.go_home()
        elif home.search_text or home.keyboard:
            self.call_later(home.action_reset)

    # --- language ------------------------------------------------------------

    async def action_toggle_language(self) -> None:
        self.t.toggle()
        for screen in list(self.screen_stack):
            await screen.recompose()
        cast(KioskScreen, self.screen).after_recompose()

    @on(Button.Pressed, "#lang")
    async def _lang_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        await self.action_toggle_language()

    # --- issuing -------------------------------------------------------------

    def start_issue(self, choice: Choice) -> None:
        """Ask the server for a number; the same ``request_id`` is used for
        every retry of this attempt."""
        if self.pending is not None:
            return
        self.pending = choice
        self._issue(choice)
        # "Issuing…" only if the server takes a moment: it usually answers in
        # a few milliseconds, and drawing a screen meanwhile would hold up
        # the reply, the paper and the number on screen.
        self.set_timer(ISSUING_SCREEN_AFTER, lambda: self._show_issuing(choice))

    def _show_issuing(self, choice: Choice) -> None:
        if self.pending is choice and not isinstance(self.screen, IssuingScreen):
            self.show(IssuingScreen())

    @work(exclusive=True, group="issue", exit_on_error=False)
    async def _issue(self, choice: Choice) -> IssueOutcome:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_for
        while True:
            left = deadline - loop.time()
            if left <= 0:
                return IssueOutcome(choice)
            try:
                await self.client.wait_ready(timeout=left)
                reply = await self.client.request("issue", timeout=min(self.reply_timeout, left),
                                                  **choice.fields())
                issued = IssuedTicket.from_reply(reply)
                if self.printing:
                    await self._paper_first(issued)
                return IssueOutcome(choice, issued=issued)
            except ServerError as e:
                return IssueOutcome(choice, refused=e)
            except AuthError:
                return IssueOutcome(choice)
            except (NotConnected, TimeoutError):
                # The reply may have been lost after the server issued the
                # ticket: the retry carries the same request_id.
                log.info("issue %s: no reply yet, retrying", choice.request_id)
                await asyncio.sleep(0.1)

    def _issue_finished(self, outcome: IssueOutcome | None) -> None:
        self.pending = None
        if outcome is not None and outcome.issued is not None:
            issued = outcome.issued
            state = self._print_states.pop(issued.number, "printing") if self.printing else "none"
            self.show(TicketScreen(issued, state))
        elif outcome is not None and outcome.refused is not None:
            self.show(MessageScreen("refused_title", outcome.refused.text(self.t.language)))
        else:
            self.show(MessageScreen("refused_title", self.t("issue_failed")))

    # --- printing ------------------------------------------------------------

    @property
    def printing(self) -> bool:
        """Whether this kiosk has a printer."""
        return self.printer_spec.strip().lower() not in ("none", "off", "no", "")

    def print_options(self) -> Any:
        """The printer's options: this kiosk's settings over the center's ``[printer]``."""
        from motcua.printer import PrinterOptions

        center = self.center.get("printer") if self.center else None
        try:
            return PrinterOptions.from_settings(center, self.printer_settings)
        except (TypeError, ValueError) as e:
            log.error("printer settings %r over the center's %r: %s; using this kiosk's only",
                      self.printer_settings, center, e)
            return PrinterOptions.from_settings(self.printer_settings)

    def make_slip(self, issued: IssuedTicket) -> Any:
        """The printed ticket for a confirmed number, in the current language."""
        from .slip import build_slip

        return build_slip(self.center, issued, self.t)

    async def _paper_first(self, issued: IssuedTicket) -> None:
        """Start printing, and keep the event loop idle until the top of the
        ticket is on its way (at most PAPER_FIRST_WAIT): the ticket screen,
        composed next, would otherwise hold the print thread back."""
        started = self._start_print(issued)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PAPER_FIRST_WAIT
        while started is not None and not started.is_set() and loop.time() < deadline:
            await asyncio.sleep(0.001)

    def _start_print(self, issued: IssuedTicket) -> threading.Event | None:
        try:
            slip = self.make_slip(issued)
            options = self.print_options()
        except Exception as e:  # noqa: BLE001 - a broken printer module must not stop the kiosk
            log.exception("could not build the ticket slip")
            self._printed(PrintOutcome(issued.number, False, "error", str(e)))
            return None
        started = threading.Event()
        self._print_slip(issued.number, slip, options, started)
        return started

    @work(thread=True, group="print", exit_on_error=False)
    def _print_slip(self, number: str, slip: Any, options: Any,
                    started: threading.Event | None = None) -> PrintOutcome:
        from motcua.printer import print_ticket

        # After a printer left a status query unanswered, ask again (it may
        # have been busy) but do not keep each citizen waiting long for it.
        wait = 0.1 if self.printer_status == "unknown" else 0.5
        with self._printer_lock:
            result = print_ticket(slip, self.printer_spec, options, timeout=self.print_timeout,
                                  status_wait=wait, started=started)
        return PrintOutcome(number, result.ok, result.problem, result.detail, result.status)

    @work(thread=True, group="print-warm", exit_on_error=False)
    def _warm_printer(self, center: dict[str, Any] | None) -> None:
        """Load the printer code and fonts, and draw the lines every ticket of
        this center repeats (its name, the labels), while nobody waits."""
        from motcua.printer import ticket_bytes, warm_up

        with self._printer_lock:
            options = self.print_options()
            if center is None:
                warm_up(options)
                return
            for dept in center.get("departments", []):
                sample = IssuedTicket({"id": 0, "day": "", "number": f"{dept['letter']}000",
                                       "department": dept["code"], "issued_at": time.time()},
                                      0, None, False)
                ticket_bytes(self.make_slip(sample), options)

    def _printer_probeable(self) -> bool:
        kind = self.printer_spec.split(":", 1)[0].strip().lower()
        return kind in ("tcp", "usb", "serial")

    def _maybe_probe(self) -> None:
        busy = any(w.group in ("print", "probe") and w.state in (WorkerState.PENDING,
                                                                 WorkerState.RUNNING)
                   for w in self.workers)
        if not self.printer_ok and not busy:
            self._probe_printer()

    @work(thread=True, exclusive=True, group="probe", exit_on_error=False)
    def _probe_printer(self) -> PrintOutcome:
        """Ask the printer whether it can print (at start, and while it is
        faulty, so staff see it recover without waiting for a citizen).
        A printer that does not answer is taken as able: it prints."""
        from motcua.printer import check_status, open_printer

        printer = None
        with self._printer_lock:
            try:
                printer = open_printer(self.printer_spec, timeout=self.print_timeout)
                if not self.print_options().check_status:
                    return PrintOutcome(None, True, None, "connected (status not checked)")
                st = check_status(printer)
                return PrintOutcome(None, st.problem is None, st.problem, st.detail,
                                    "online" if st.known else "unknown")
            except Exception as e:  # noqa: BLE001 - any failure means "cannot print"
                problem = "timeout" if isinstance(e, TimeoutError) else "offline"
                return PrintOutcome(None, False, problem, f"{type(e).__name__}: {e}")
            finally:
                if printer is not None:
                    try:
                        printer.close()
                    except Exception:  # noqa: BLE001
                        pass

    def _printed(self, outcome: PrintOutcome) -> None:
        if outcome.number is not None:
            state = "printed" if outcome.ok else "failed"
            if isinstance(self.screen, TicketScreen) and self.screen.issued.number == outcome.number:
                self.screen.set_print_state(state)
            elif self.pending is not None:
                # Printed before its ticket screen came up: it will show this.
                self._print_states[outcome.number] = state
        if not outcome.ok:
            log.warning("printer problem: %s (%s)", outcome.problem, outcome.detail)
        elif outcome.status != self.printer_status and outcome.status != "unchecked":
            if outcome.status == "unknown":
                log.warning("printer %s does not answer status queries: printing without "
                            "knowing its paper (%s)", self.printer_spec, outcome.detail)
            else:
                log.info("printer %s answers status queries again", self.printer_spec)
        if outcome.ok and outcome.status != "unchecked":
            self.printer_status = outcome.status
            if outcome.status == "unknown":
                self._status_detail = outcome.detail
        self.printer_ok = outcome.ok
        self._printer_observed = True
        self._printer_problem = None if outcome.ok else (outcome.problem or "error",
                                                         outcome.detail)
        self.home.refresh_queues()
        self._report_printer()

    @work(exclusive=True, group="printer-report", exit_on_error=False)
    async def _report_printer(self) -> None:
        """Tell the server the printer's state when it differs from what the
        server knows, so staff see a printer alert (and its end)."""
        problem = self._printer_problem
        if self.printer_ok and self.printer_status == "unknown":
            # It prints, but would not tell us it ran out of paper: staff
            # should know to look at it now and then.
            problem = ("status_unknown", self._status_detail)
        want = (self.printer_ok, problem[0] if problem else None)
        if not self._printer_observed or want == self._printer_reported \
                or not self.client.connected:
            return
        known = next((p for p in self.client.state.printers if p.get("device") == self.device),
                     None)
        if self._printer_reported is None and want == (True, None) \
                and (known is None or known["ok"]):
            return  # a healthy printer nobody worried about: nothing to say
        fields: dict[str, Any] = {"ok": self.printer_ok}
        if problem:
            fields["problem"] = problem[0][:40]
            fields["detail"] = problem[1][:200]
        try:
            await self.client.request("printer_status", **fields)
            self._printer_reported = want
        except (NotConnected, TimeoutError, ServerError) as e:
            log.info("printer status not reported yet: %s", e)

    # --- workers -------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.SUCCESS:
            if worker.group == "issue":
                self._issue_finished(worker.result)
            elif worker.group in ("print", "probe"):
                self._printed(worker.result)
        elif event.state == WorkerState.ERROR:
            log.error("%s worker failed: %r", worker.group, worker.error)
            if worker.group == "issue":
                self._issue_finished(None)
            elif worker.group == "print":
                number = self.screen.issued.number if isinstance(self.screen, TicketScreen) \
                    else None
                self._printed(PrintOutcome(number, False, "error", repr(worker.error)))
