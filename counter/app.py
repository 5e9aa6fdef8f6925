"""The counter console: an officer calls, serves, transfers and pauses.

Everything on screen is drawn from the shared client's mirror of the center
(``client.state``), kept live by server events; the console never polls.
Commands go out through ``client.request``; a refusal is shown in the
officer's language. While the connection is down the console says so, locks
every action, and the client reconnects by itself.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Center, Grid, Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.geometry import Size
from textual.reactive import reactive
from textual.widgets import Button, ContentSwitcher, DataTable, Input, Label, Static

from motcua.client import CenterState, MotcuaClient, NotConnected, ServerError
from motcua.i18n import Catalogue, format_number, format_percent
from motcua.tui import (ClientConnection, ClientEvent, ClientSynced, Footer, bridge,
                        exit_when_refused)
from motcua.waits import wait_phrase_of

from .dialogs import ChangePinDialog, NumberDialog, PauseDialog, TransferDialog
from .model import OfficerTally, big_text, clock_text, queue_lines, satisfied_values
from .strings import EN, VI

Clock = Callable[[], float]

#: Below this many columns the action buttons go two a row, with short labels.
NARROW_WIDTH = 75

#: (key, action, label) in the order of the footer and the button grid.
ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("f1", "call_next", "a_call_next"),
    ("f2", "recall", "a_recall"),
    ("f3", "start", "a_start"),
    ("f4", "finish", "a_finish"),
    ("f5", "no_show", "a_no_show"),
    ("f6", "requeue", "a_requeue"),
    ("f7", "transfer", "a_transfer"),
    ("f8", "call_number", "a_call_number"),
    ("f9", "pause", "a_pause"),
    ("f9", "resume", "a_resume"),
    ("f10", "logout", "a_logout"),
)
_WORK = {action for _, action, _ in ACTIONS}
_LABEL = {action: label for _, action, label in ACTIONS}
_ACTIONS_ORDER = tuple(action for _, action, _ in ACTIONS)


def _bindings() -> list[Binding]:
    # One binding per action and language; check_action hides the other
    # language's, so the footer speaks the officer's language with public API.
    out = []
    for lang, table in (("vi", VI), ("en", EN)):
        for key, action, label in ACTIONS:
            out.append(Binding(key, f"{action}('{lang}')", table["f" + label[1:]],
                               key_display=key.upper()))
        out.append(Binding("f11", f"change_pin('{lang}')", table["f_change_pin"],
                           key_display="F11"))
        out.append(Binding("f12", f"language('{lang}')", table["f_language"], key_display="F12"))
    return out


def _show(widget: Static, text: str) -> None:
    """Put ``text`` on a label only if it changed: each update lays the whole
    screen out again, and most events of the day change none of them."""
    if widget.content != text:
        widget.update(text)


class WorkArea(Horizontal):
    """The logged-in layout; tells the app when the terminal changes size."""

    def on_resize(self) -> None:
        self.app.fit()  # type: ignore[attr-defined]


class BigNumber(Static):
    """A ticket number three rows high (letters included)."""

    def show(self, number: str | None) -> None:
        """Draw ``number``, or nothing when there is none."""
        self.update(big_text(number) if number else "")


class CounterConsole(App[None]):
    """The officer's console at one counter.

    ``client`` is the shared reconnecting client (started on mount, closed on
    exit). For previews and snapshot tests pass ``client=None`` with a
    ``state`` (and ``officer`` to show the logged-in view); ``clock`` gives
    epoch seconds and is injected so timers can be pinned.
    """

    CSS_PATH = "counter.tcss"
    TITLE = "motcua"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = _bindings()

    connected: reactive[bool] = reactive(False)
    """Whether the server connection is up (actions are locked when not)."""
    busy: reactive[bool] = reactive(False)
    """A command is on its way; further actions wait for its answer."""


    def __init__(self, client: MotcuaClient | None, counter: int, language: str = "vi",
                 clock: Clock = time.time, *, state: CenterState | None = None,
                 officer: str | None = None, connected: bool | None = None,
                 tally: OfficerTally | None = None,
                 waiting: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.client = client
        self.counter = counter
        self.t = Catalogue(VI, EN, language)
        self.clock = clock
        self.state = client.state if client is not None else (state or CenterState())
        self.officer = officer
        self.tally = tally or OfficerTally()
        if officer and tally is None:
            self.tally.reset(officer)
        self.message_text = ""
        self.message_error = False
        self.last_no_show: str | None = None
        #: The counter's waiting tickets in call order (``waiting_list``).
        self.waiting: list[dict[str, Any]] = list(waiting or [])
        self._fetching = False
        self._refetch = False
        self._stats_fetching = False
        self._stats_refetch = False
        self._connected_preset = connected if connected is not None else client is None
        #: What the footer showed at the last redraw (see :meth:`redraw`).
        self._bindings_shown: tuple[Any, ...] = ()

    # --- layout ---------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="topbar"):
            yield Label("", id="top-counter")
            yield Label("", id="top-officer")
            yield Label("", id="top-status")
            yield Label("", id="top-link")
        yield Static("", id="offline")
        with ContentSwitcher(initial="login", id="views"):
            with Center(id="login"):
                with Vertical(id="login-box"):
                    yield Label("", id="login-title")
                    yield Label("", id="login-serves")
                    yield Label("", id="login-id-label", classes="field-label")
                    yield Input(id="officer-id", max_length=40)
                    yield Label("", id="login-pin-label", classes="field-label")
                    yield Input(id="pin", password=True, max_length=12)
                    yield Button("", id="login-button", variant="primary")
                    yield Label("", id="login-hint")
            with WorkArea(id="work"):
                with Vertical(id="main"):
                    with Vertical(id="ticket"):
                        yield BigNumber(id="number")
                        yield Label("", id="ticket-status")
                        yield Static("", id="ticket-info")
                    with Grid(id="actions"):
                        for _, action, _ in ACTIONS:
                            if action != "resume":
                                yield Button("", id=f"b-{action}", compact=True)
                    yield DataTable(id="upcoming", cursor_type="none", zebra_stripes=True)
                with VerticalScroll(id="side"):
                    yield Static("", id="queues")
                    yield Static("", id="stats")
        yield Label("", id="message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.title = self.t("app_title")
        if self.client is not None:
            bridge(self, self.client)
            self.run_worker(exit_when_refused(self, self.client.start()), group="client")
        else:
            self.connected = self._connected_preset
        self.set_interval(1.0, self._tick)
        self.fit()
        self.redraw()
        self.query_one("#officer-id", Input).focus()

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()

    def on_resize(self, event: events.Resize) -> None:
        # This runs before App's own handler has taken the new size: use the event's.
        self.fit(event.size)

    # --- what the counter is doing ----------------------------------------

    @property
    def view(self) -> dict[str, Any]:
        """This counter as the server last described it."""
        return self.state.counters.get(self.counter) or {"number": self.counter,
                                                          "status": "closed"}

    @property
    def ticket(self) -> dict[str, Any] | None:
        """The counter's current ticket (called or being served)."""
        return self.view.get("ticket")

    @property
    def logged_in(self) -> bool:
        """This console's officer holds the counter."""
        return self.officer is not None and self.view.get("officer") == self.officer

    @property
    def served_departments(self) -> list[str]:
        """The department codes this counter calls from."""
        for c in self.state.center.get("counters", []):
            if c["number"] == self.counter:
                return list(c["departments"])
        return list(self.view.get("departments", []))

    def applicable(self, action: str) -> bool:
        """Whether a work action makes sense for the counter's state now."""
        if not self.logged_in:
            return False
        view, ticket = self.view, self.ticket
        status = ticket["status"] if ticket else None
        if action in ("call_next", "call_number", "pause"):
            return view.get("status") == "open" and ticket is None
        if action in ("recall", "start", "no_show"):
            return status == "called"
        if action in ("finish", "transfer"):
            return status in ("called", "serving")
        if action == "requeue":
            return status == "called" or (ticket is None and self.last_no_show is not None)
        if action == "resume":
            return view.get("status") == "paused"
        if action == "logout":
            return ticket is None
        return False

    def allowed(self, action: str) -> bool:
        """Applicable, and the console can send it now (buttons and keys agree)."""
        return self.connected and not self.busy and self.applicable(action)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # True: shown and enabled; None: shown greyed out; False: hidden.
        # The footer lists only what can be done with the current ticket, so
        # it fits on one line even at 80 columns; the buttons show them all.
        if parameters and parameters[0] != self.t.language:
            return False  # the other language's twin of this binding
        if action == "change_pin":
            # Only between citizens: the footer stays one line at 80 columns.
            return self.logged_in and self.ticket is None and len(self.screen_stack) == 1
        if action not in _WORK:
            return True
        if not self.applicable(action):
            return False
        if not self.connected or self.busy or len(self.screen_stack) > 1:
            return None
        return True

    # --- drawing --------------------------------------------------------

    def _dept_name(self, code: str) -> str:
        return self.state.department_name(code, self.t.language)

    def redraw(self) -> None:
        """Draw everything from the mirror and this console's own state."""
        if not self.is_mounted:
            return
        t, view = self.t, self.view
        _show(self.query_one("#top-counter", Label), 
            f" {view.get('name') or t('counter', number=self.counter)} ")
        if self.logged_in:
            _show(self.query_one("#top-officer", Label), 
                t("officer", name=view.get("officer_name") or self.officer, id=self.officer))
        else:
            _show(self.query_one("#top-officer", Label), "")
        status = view.get("status", "closed")
        if status == "paused":
            text = (t("status_paused", reason=view["reason"]) if view.get("reason")
                    else t("status_paused_plain"))
        else:
            text = t("status_open") if status == "open" else t("status_closed")
        top_status = self.query_one("#top-status", Label)
        _show(top_status, text)
        top_status.set_class(status == "paused", "-paused")
        top_status.set_class(status == "open", "-open")
        link = self.query_one("#top-link", Label)
        _show(link, t("busy") if self.busy else t("online") if self.connected else "⚠")
        link.set_class(not self.connected, "-down")
        offline = self.query_one("#offline", Static)
        _show(offline, t("offline"))
        offline.display = not self.connected
        self.query_one("#views", ContentSwitcher).current = "work" if self.logged_in else "login"
        if self.logged_in:
            self._draw_ticket()
            self._draw_side()
            self._draw_buttons()
            self._draw_upcoming()
        else:
            # The work area is hidden: drawing it (the waiting table is
            # rebuilt each time) on every event of the day was most of the
            # console's CPU at the login screen. Login redraws it.
            self._draw_login()
        message = self.query_one("#message", Label)
        _show(message, self.message_text)
        message.set_class(self.message_error, "-error")
        # The footer rebuilds all its keys on every refresh_bindings: only
        # when what it shows changed, not on each of the day's events.
        shown = (self.t.language, *(self.check_action(action, (self.t.language,))
                                    for action in _ACTIONS_ORDER))
        if shown != self._bindings_shown:
            self._bindings_shown = shown
            self.refresh_bindings()

    def _draw_login(self) -> None:
        t = self.t
        names = ", ".join(self._dept_name(code) for code in self.served_departments)
        _show(self.query_one("#login-title", Label), 
            f"{t('login_title')} — {self.view.get('name') or t('counter', number=self.counter)}")
        _show(self.query_one("#login-serves", Label), t("serves", departments=names))
        _show(self.query_one("#login-id-label", Label), t("officer_id"))
        _show(self.query_one("#login-pin-label", Label), t("pin"))
        self.query_one("#officer-id", Input).placeholder = t("officer_id_placeholder")
        button = self.query_one("#login-button", Button)
        button.label = t("login")
        button.disabled = not self.connected or self.busy
        held = self.view.get("officer")
        _show(self.query_one("#login-hint", Label), 
            t("login_held", name=self.view.get("officer_name") or held, id=held) if held
            else t("login_hint"))

    def _draw_ticket(self) -> None:
        t, ticket, now = self.t, self.ticket, self.clock()
        box = self.query_one("#ticket")
        box.border_title = t("current")
        number = self.query_one("#number", BigNumber)
        label = self.query_one("#ticket-status", Label)
        info = self.query_one("#ticket-info", Static)
        box.set_class(ticket is not None and ticket["status"] == "called", "-called")
        box.set_class(ticket is not None and ticket["status"] == "serving", "-serving")
        if ticket is None:
            number.show(None)
            paused = self.view.get("status") == "paused"
            label.update(t("no_ticket_paused") if paused else t("no_ticket"))
            info.update("")
            return
        number.show(ticket["number"])
        label.update(t("t_called") if ticket["status"] == "called" else t("t_serving"))
        proc = self.state.procedure_info(ticket.get("procedure"))
        prio = next((g for g in self.state.center.get("priority_groups", [])
                     if g["code"] == ticket.get("priority")), None)
        called = ticket.get("called_at") or now
        started = ticket.get("started_at")
        lines = [
            f"{t('department')}: {self._dept_name(ticket['department'])}",
            f"{t('procedure')}: {t.pick(proc) if proc else t('no_procedure')}",
            f"{t('priority')}: "
            + (f"[b]{t.pick(prio)}[/b]" if prio else ticket.get("priority") or t("no_priority")),
            f"{t('waited')}: {clock_text(called - ticket['queued_at'])}   "
            + (f"{t('in_service')}: [b]{clock_text(now - started)}[/b]" if started
               else f"{t('since_call')}: [b]{clock_text(now - called)}[/b]"),
        ]
        extra = []
        if ticket.get("recalls"):
            extra.append(t("recalls", n=ticket["recalls"]))
        if ticket.get("transfers"):
            extra.append(t("transferred", n=ticket["transfers"]))
        if ticket.get("note"):
            extra.append(t("note", note=ticket["note"]))
        if extra:
            lines.append(" · ".join(extra))
        info.update("\n".join(lines))

    def _draw_side(self) -> None:
        t, now = self.t, self.clock()
        queues = self.query_one("#queues", Static)
        queues.border_title = t("queue_title")
        rows = []
        over_any = False
        for q in queue_lines(self.state.center, self.state.departments,
                             self.served_departments, now, t.language):
            rows.append(f"[b]{q.name}[/b]")
            if q.waiting:
                detail = t("q_waiting", n=q.waiting)
                if q.priority:
                    detail += f" ({t('q_priority', n=q.priority)})"
                rows.append(f"  {detail}")
                rows.append(f"  {t('q_longest', time=clock_text(q.longest))}"
                            + (f" / {t('q_target', target=self._minutes(q.target_minutes))}"
                               if q.target_minutes and not q.over_target else ""))
            else:
                rows.append(f"  {t('q_empty')}")
            if q.over_target:
                over_any = True
                rows.append(f"  [b reverse] {t('q_over', target=self._minutes(q.target_minutes))} [/]")
        queues.update("\n".join(rows))
        queues.set_class(over_any, "-over")
        stats = self.query_one("#stats", Static)
        stats.border_title = t("stats_title")
        tally = self.tally
        tally.satisfied_values = satisfied_values(self.state.center)
        avg = tally.average_service
        share = tally.satisfaction_share
        lines = [
            f"{t('s_served')}: [b]{tally.served}[/b]",
            f"{t('s_transferred')}: {tally.transferred}   {t('s_no_show')}: {tally.no_shows}",
            f"{t('s_avg')}: {clock_text(avg) if avg is not None else t('s_none')}",
            f"{t('s_ratings')}: {t('s_ratings_value', n=tally.rated)}",
            f"{t('s_satisfied')}: " + (f"[b]{format_percent(share, 1, t.language)}[/b]"
                                       if share is not None else t("s_none")),
        ]
        stats.update("\n".join(lines))

    def _minutes(self, minutes: float) -> str:
        """A target in minutes: "20", "7,5" (Vietnamese decimals)."""
        return format_number(minutes, 0 if float(minutes).is_integer() else 1, self.t.language)

    def _draw_buttons(self) -> None:
        paused = self.view.get("status") == "paused"
        # Narrow screens get the footer's short words ("Gọi tiếp", "Trả về"),
        # which fit two buttons a row without cutting a word in half.
        prefix = "f" if self.has_class("-narrow") else "a"
        for key, action, label in ACTIONS:
            if action == "resume":
                continue
            button = self.query_one(f"#b-{action}", Button)
            shown = "resume" if action == "pause" and paused else action
            text = f"{key.upper()} {self.t(prefix + _LABEL[shown][1:])}"
            # Assigning refreshes the button even when nothing changed.
            if str(button.label) != text:
                button.label = text
            disabled = not self.allowed(shown)
            if button.disabled != disabled:
                button.disabled = disabled

    def fit(self, size: Size | None = None) -> None:
        """One-line buttons on short terminals (80x24); two a row with short
        words on narrow ones (under 75 columns)."""
        size = size or self.size
        compact = size.height < 32
        narrow = size.width < NARROW_WIDTH
        changed = narrow != self.has_class("-narrow")
        self.set_class(compact, "-compact")
        self.set_class(narrow, "-narrow")
        for button in self.query("#actions Button, #login-button").results(Button):
            button.compact = compact
        for field in self.query("#login-box Input").results(Input):
            field.compact = compact
        if changed and self.is_mounted:
            self._draw_buttons()

    def _draw_upcoming(self) -> None:
        t, now = self.t, self.clock()
        table = self.query_one("#upcoming", DataTable)
        table.border_title = t("upcoming_title", n=len(self.waiting))
        # Rows are few and their waits tick, so the table is rebuilt each
        # time (columns too: their labels follow the language).
        table.clear(columns=True)
        table.add_columns(*[t(key) for key in
                            ("col_number", "waited", "priority", "department", "procedure")])
        groups = {g["code"]: g for g in self.state.center.get("priority_groups", [])}
        for ticket in self.waiting[:50]:
            prio = groups.get(ticket.get("priority") or "")
            proc = self.state.procedure_info(ticket.get("procedure"))
            table.add_row(ticket["number"], clock_text(now - ticket["queued_at"]),
                          t.pick(prio) if prio else "",
                          self._dept_name(ticket["department"]),
                          t.pick(proc) if proc else "")

    def fetch_waiting(self) -> None:
        """Ask the server for this counter's waiting list (after a change
        to one of its queues); overlapping asks collapse into one more."""
        if self.client is None or not self.logged_in:
            return
        if self._fetching:
            self._refetch = True
            return
        self._fetching = True

        async def go() -> None:
            try:
                while True:
                    self._refetch = False
                    try:
                        reply = await self.client.request("waiting_list")
                    except (ServerError, NotConnected, TimeoutError):
                        return
                    self.waiting = reply.get("tickets", [])
                    self._draw_upcoming()
                    if not self._refetch:
                        return
            finally:
                self._fetching = False
        self.run_worker(go(), group="waiting")

    def fetch_stats(self) -> None:
        """Load the officer's figures for today from the server
        (``officer_stats``); overlapping asks collapse into one more."""
        if self.client is None or self.officer is None:
            return
        if self._stats_fetching:
            self._stats_refetch = True
            return
        self._stats_fetching = True

        async def go() -> None:
            try:
                while True:
                    self._stats_refetch = False
                    try:
                        reply = await self.client.request("officer_stats")
                    except (ServerError, NotConnected, TimeoutError):
                        return
                    if self.tally.load(reply.get("stats")):
                        self._draw_side()
                    if not self._stats_refetch:
                        return
            finally:
                self._stats_fetching = False
        self.run_worker(go(), group="stats")

    def _tick(self) -> None:
        # Only the timers move by themselves; everything else waits for events.
        if not self.logged_in:
            return
        try:
            self._draw_ticket()
            self._draw_side()
            self._draw_upcoming()
        except NoMatches:
            pass  # a last tick while the app tears its widgets down


    def say(self, text: str, error: bool = False) -> None:
        """Show one line of feedback under the work area."""
        self.message_text, self.message_error = text, error
        message = self.query_one("#message", Label)
        message.update(text)
        message.set_class(error, "-error")

    # --- server messages ------------------------------------------------

    @on(ClientEvent)
    def _event(self, message: ClientEvent) -> None:
        ev = message.event
        if ev.type == "session_ended":
            # Another device logged in here (or the counter was closed): this
            # console no longer acts in the officer's name.
            if self.officer is not None:
                self.officer = None
                self.say(self.t("session_taken_over" if ev.raw.get("reason") == "taken_over"
                                else "logged_out_elsewhere"), error=True)
            self.redraw()
            return
        if self.tally.add(ev.type, ev.raw):
            # Shown at once; the server's figures follow and replace it.
            self.fetch_stats()
        if ev.type == "ticket_no_show" and ev.raw.get("officer") == self.officer:
            self.last_no_show = (ev.ticket or {}).get("number")
        elif ev.type == "ticket_requeued" and ev.ticket \
                and ev.ticket.get("number") == self.last_no_show:
            self.last_no_show = None
        self._check_session()
        self.redraw()
        if any(d.get("code") in self.served_departments
               for d in ev.raw.get("departments") or ()):
            self.fetch_waiting()

    @on(ClientConnection)
    def _connection(self, message: ClientConnection) -> None:
        self.connected = message.connected

    @on(ClientSynced)
    def _loaded(self) -> None:
        self._check_session()
        self.redraw()
        self.fetch_waiting()
        if self.logged_in:
            self.fetch_stats()

    def _check_session(self) -> None:
        if self.officer is not None and self.view.get("officer") != self.officer:
            self.officer = None
            self.say(self.t("logged_out_elsewhere"), error=True)

    def watch_connected(self) -> None:
        self.redraw()

    def watch_busy(self) -> None:
        self.redraw()

    # --- sending commands -----------------------------------------------

    async def send(self, type_: str, **fields: Any) -> dict[str, Any] | None:
        """Send one command; on refusal or no connection say why, return None."""
        if self.client is None:
            self.say(self.t("not_connected"), error=True)
            return None
        self.busy = True
        try:
            return await self.client.request(type_, **fields)
        except ServerError as e:
            self.say(e.text(self.t.language), error=True)
        except NotConnected:
            self.say(self.t("not_connected"), error=True)
        except TimeoutError:
            self.say(self.t("timeout"), error=True)
        finally:
            self.busy = False
        return None

    def _run(self, type_: str, done: str | None = None, extra: dict[str, str] | None = None,
             **fields: Any) -> None:
        async def go() -> None:
            reply = await self.send(type_, **fields)
            if reply is not None and done:
                ticket = reply.get("ticket") or {}
                self.say(self.t(done, number=ticket.get("number", ""), **(extra or {})))
                self.redraw()
        self.run_worker(go(), group="command")

    # --- login ------------------------------------------------------------

    @on(Input.Submitted, "#officer-id")
    def _to_pin(self) -> None:
        self.query_one("#pin", Input).focus()

    @on(Input.Submitted, "#pin")
    @on(Button.Pressed, "#login-button")
    def _login(self) -> None:
        officer = self.query_one("#officer-id", Input).value.strip()
        pin = self.query_one("#pin", Input).value.strip()
        if not officer or not pin:
            self.say(self.t("login_missing"), error=True)
            return
        if not self.connected or self.busy:
            self.say(self.t("not_connected"), error=True)
            return

        async def go() -> None:
            reply = await self.send("login", officer=officer, pin=pin)
            self.query_one("#pin", Input).value = ""
            if reply is None:
                self.query_one("#pin", Input).focus()
                return
            view = reply.get("counter") or {}
            self.officer = view.get("officer") or officer
            self.tally.reset(self.officer)
            self.last_no_show = None
            self.say(self.t("logged_in", name=view.get("officer_name") or self.officer))
            self.redraw()
            self.fetch_waiting()
            self.fetch_stats()
            self.set_focus(None)
        self.run_worker(go(), group="command")

    # --- the work actions (keys and buttons) ------------------------------

    @on(Button.Pressed, "#actions Button")
    def _button(self, event: Button.Pressed) -> None:
        action = (event.button.id or "").removeprefix("b-")
        if action == "pause" and self.view.get("status") == "paused":
            action = "resume"
        if self.allowed(action):
            getattr(self, f"action_{action}")()

    def action_language(self, _lang: str = "") -> None:
        self.t.toggle()
        self.say("")
        self.redraw()

    def action_call_next(self, _lang: str = "") -> None:
        self._run("call_next", "did_call")

    def action_recall(self, _lang: str = "") -> None:
        self._run("recall", "did_recall")

    def action_start(self, _lang: str = "") -> None:
        self._run("start", "did_start")

    def action_finish(self, _lang: str = "") -> None:
        self._run("finish", "did_finish")

    def action_no_show(self, _lang: str = "") -> None:
        self._run("no_show", "did_no_show")

    def action_requeue(self, _lang: str = "") -> None:
        ticket = self.ticket
        if ticket is not None and ticket["status"] == "called":
            self._run("requeue", "did_requeue", number=ticket["number"])
            return
        # No current ticket: a no-show who turned up late; confirm the number.
        self._ask_number("requeue_title", "requeue", prefill=self.last_no_show or "")

    def action_transfer(self, _lang: str = "") -> None:
        ticket = self.ticket
        if ticket is None:
            return
        choices = [(d["code"], self.t.pick(d)) for d in self.state.center.get("departments", [])
                   if d["code"] != ticket["department"]]

        def done(result: tuple[str, str | None] | None) -> None:
            if result is None:
                return
            code, note = result
            fields: dict[str, Any] = {"department": code}
            if note:
                fields["note"] = note

            async def go() -> None:
                reply = await self.send("transfer", **fields)
                if reply is None:
                    return
                said = self.t("did_transfer", number=(reply.get("ticket") or {}).get("number", ""),
                              department=self._dept_name(code))
                # The citizen walks to the next queue: tell them how long it is.
                wait = self.wait_text(reply)
                self.say(f"{said} {self.t('transfer_wait', wait=wait)}" if wait else said)
                self.redraw()
            self.run_worker(go(), group="command")
        self.push_screen(TransferDialog(self.t, ticket["number"], choices), done)

    def wait_text(self, view: dict[str, Any]) -> str | None:
        """A wait estimate in words (a reply or event with ``wait_*`` fields)."""
        phrase = wait_phrase_of(view)
        if phrase is None:
            return None
        key, params = phrase
        if key == "wait_unknown":
            code = params["why"]
            why = self.t(f"why_{code}") if f"why_{code}" in VI else self.t("why_other")
            return self.t(key, why=why)
        return self.t(key, **params)

    def action_call_number(self, _lang: str = "") -> None:
        self._ask_number("call_title", "call_ticket")

    def _ask_number(self, title: str, command: str, prefill: str = "") -> None:
        async def go() -> None:
            tickets: list[dict[str, Any]] = []
            if command == "call_ticket":
                reply = await self.send("waiting_list")
                if reply is None:
                    return
                tickets = reply.get("tickets", [])

            def done(number: str | None) -> None:
                if number:
                    self._run(command, "did_call" if command == "call_ticket" else "did_requeue",
                              number=number)
            self.push_screen(NumberDialog(self.t, self.t(title), tickets, self._dept_name,
                                          self.clock(), prefill), done)
        self.run_worker(go(), group="command")

    def action_pause(self, _lang: str = "") -> None:
        def done(reason: str | None) -> None:
            if reason:
                self._run("pause", "did_pause", reason=reason)
        self.push_screen(PauseDialog(self.t), done)

    def action_change_pin(self, _lang: str = "") -> None:
        """The officer changes their own PIN (the current one is required)."""
        def done(pins: tuple[str, str] | None) -> None:
            if pins is None:
                return

            async def go() -> None:
                if await self.send("change_pin", old_pin=pins[0], new_pin=pins[1]) is not None:
                    self.say(self.t("did_change_pin"))
            self.run_worker(go(), group="command")
        self.push_screen(ChangePinDialog(self.t), done)

    def action_resume(self, _lang: str = "") -> None:
        self._run("resume", "did_resume")

    def action_logout(self, _lang: str = "") -> None:
        async def go() -> None:
            if await self.send("logout") is not None:
                self.officer = None
                self.say(self.t("logged_out"))
                self.redraw()
                self.query_one("#officer-id", Input).focus()
        self.run_worker(go(), group="command")
