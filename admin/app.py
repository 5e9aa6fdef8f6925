"""``motcua admin``: the manager's app (Textual).

One screen, :class:`AdminScreen`, on an admin device's connection: the
manager logs in (ID and password), then tabs for devices, officers,
departments and counters, the notice on the displays, and today's actions
(log a counter out, cancel or requeue a ticket, the history of changes).
Every destructive action asks first, and every change is a command to the
server, which applies it live, records who did it and tells every client.
The monitor pushes the same screen on its own connection (``a``).

The screen never touches the network itself: requests go through the shared
client in workers; the hosting app forwards the client's messages to it
(:meth:`AdminScreen.client_event`, :meth:`AdminScreen.client_synced`).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import (Button, ContentSwitcher, DataTable, Footer, Input, Label, Static,
                             TabbedContent, TabPane)

from motcua.client import AuthError, CenterState, MotcuaClient, NotConnected, ServerError
from motcua.tui import ClientConnection, ClientEvent, ClientSynced, bridge

from .dialogs import Body, Field, FormDialog, SecretDialog
from .model import (center_tz, counter_rows, department_rows, device_rows, history_rows,
                    officer_rows, parse_codes, parse_numbers)
from .strings import catalogue

Clock = Callable[[], float]

TABS = ("devices", "officers", "departments", "notice", "today")
#: The events after which the server's lists are asked again.
_DEVICE_EVENTS = {"device_enrolled", "device_revoked"}


class AdminScreen(Screen[None]):
    """The manager's screen over one admin connection."""

    CSS_PATH = "admin.tcss"
    BINDINGS = [
        Binding("f5", "refresh", "Làm mới / Refresh"),
        Binding("f8", "language", "Tiếng Việt / English"),
        Binding("f10", "manager_logout", "Đăng xuất / Log out"),
        Binding("escape", "close", "Quay lại / Back", show=False),
    ]

    def __init__(self, client: MotcuaClient | None, *, language: str = "vi",
                 tab: str = "devices", clock: Clock | None = None,
                 preview: dict[str, Any] | None = None, closable: bool = False) -> None:
        """``preview`` draws fixed data and never connects (snapshots):
        ``state`` (a CenterState), ``manager``, ``devices``, ``officers``,
        ``versions``. ``closable``: pushed by another app (the monitor), Esc
        logs the manager out and goes back."""
        super().__init__()
        self.closable = closable
        self.client = client
        self.t = catalogue(language)
        self.clock: Clock = clock or time.time
        self.first_tab = tab if tab in TABS else "devices"
        self.preview = preview
        self.manager: str | None = preview.get("manager") if preview else None
        self.devices: list[dict[str, Any]] = list(preview.get("devices", [])) if preview else []
        self.officers: list[dict[str, Any]] = list(preview.get("officers", [])) if preview else []
        self.versions: list[dict[str, Any]] = list(preview.get("versions", [])) if preview else []
        self.connected = preview is not None
        self.refused: str | None = None
        #: The last command a form sent and its reply.
        self.last_reply: tuple[str, dict[str, Any]] | None = None
        #: Rows each table shows now.
        self._filled: dict[str, list[tuple[str, list[str]]]] = {}

    @property
    def state(self) -> CenterState:
        if self.preview is not None:
            return self.preview["state"]
        return self.client.state if self.client is not None else CenterState()

    # --- layout ---------------------------------------------------------

    def compose(self) -> ComposeResult:
        t = self.t
        with Horizontal(id="topbar"):
            yield Static("", id="center-name")
            yield Static("", id="who")
            yield Static("", id="conn")
        with ContentSwitcher(initial="main" if self.manager else "login", id="switcher"):
            with Vertical(id="login"):
                yield Label(t("login_title"), classes="title", id="login-title")
                yield Label(t("login_hint"), id="login-hint")
                yield Label(t("manager_id"), classes="field-label", id="l-manager")
                yield Input(id="manager-id")
                yield Label(t("password"), classes="field-label", id="l-password")
                yield Input(password=True, id="manager-password")
                yield Label("", id="login-error")
                yield Button(t("login"), variant="primary", id="login-button")
            with TabbedContent(initial=self.first_tab, id="main"):
                with TabPane(t("tab_devices"), id="devices"):
                    yield DataTable(id="devices-table", cursor_type="row", zebra_stripes=True)
                    with Horizontal(classes="actions"):
                        yield Button(t("add_device"), id="add-device", variant="primary")
                        yield Button(t("revoke"), id="revoke-device", variant="error")
                        yield Button(t("refresh"), id="refresh-devices")
                with TabPane(t("tab_officers"), id="officers"):
                    yield DataTable(id="officers-table", cursor_type="row", zebra_stripes=True)
                    with Horizontal(classes="actions"):
                        yield Button(t("add_officer"), id="add-officer", variant="primary")
                        yield Button(t("rename"), id="rename-officer")
                        yield Button(t("disable"), id="toggle-officer", variant="warning")
                        yield Button(t("reset_pin"), id="reset-pin")
                        yield Button(t("set_counters"), id="officer-counters")
                with TabPane(t("tab_departments"), id="departments"):
                    yield DataTable(id="departments-table", cursor_type="row",
                                    zebra_stripes=True)
                    with Horizontal(classes="actions"):
                        yield Button(t("close_department"), id="close-department",
                                     variant="error")
                        yield Button(t("open_department"), id="open-department",
                                     variant="success")
                        yield Button(t("set_cap"), id="set-cap")
                    yield DataTable(id="counters-table", cursor_type="row", zebra_stripes=True)
                    with Horizontal(classes="actions"):
                        yield Button(t("counter_departments"), id="counter-departments")
                        yield Button(t("logout_counter"), id="logout-counter", variant="warning")
                with TabPane(t("tab_notice"), id="notice"):
                    with Body():
                        yield Label(t("notice_now"), classes="field-label")
                        yield Static("", id="notice-current")
                        yield Label(t("notice_vi"), classes="field-label")
                        yield Input(id="notice-vi")
                        yield Label(t("notice_en"), classes="field-label")
                        yield Input(id="notice-en")
                        yield Label(t("reason"), classes="field-label")
                        yield Input(id="notice-reason")
                        yield Button(t("update_notice"), id="update-notice", variant="primary")
                with TabPane(t("tab_today"), id="today"):
                    with Body():
                        yield Label(t("today_actions"), classes="field-label")
                        with Horizontal(classes="today-row"):
                            yield Input(placeholder=t("ticket_number"), id="today-number")
                            yield Button(t("cancel_ticket"), id="cancel-ticket",
                                         variant="error")
                            yield Button(t("requeue_ticket"), id="requeue-ticket")
                        with Horizontal(classes="today-row"):
                            yield Input(placeholder=t("counter_number"), id="today-counter")
                            yield Button(t("logout_counter"), id="today-logout",
                                         variant="warning")
                        yield Label(t("history"), classes="field-label")
                        yield DataTable(id="history-table", cursor_type="row",
                                        zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self._columns()
        self.redraw()
        if self.manager is None:
            self.query_one("#manager-id", Input).focus()
        elif self.client is not None:
            self.load_lists()

    def _columns(self) -> None:
        t = self.t
        self._filled = {}
        for table_id, keys in (
                ("devices-table", ("col_name", "col_role", "col_counter", "col_last_seen",
                                   "col_address", "col_status")),
                ("officers-table", ("col_id", "col_name", "col_counters", "col_at",
                                    "col_status")),
                ("departments-table", ("col_code", "col_department", "col_status", "col_cap",
                                       "col_waiting", "col_served_by")),
                ("counters-table", ("col_counter", "col_name", "col_department", "col_status",
                                    "col_officer")),
                ("history-table", ("col_version", "col_at_time", "col_by", "col_change",
                                   "col_reason"))):
            table = self.query_one(f"#{table_id}", DataTable)
            table.clear(columns=True)
            for key in keys:
                table.add_column(t(key), key=key)

    # --- drawing --------------------------------------------------------

    def redraw(self) -> None:
        t, center = self.t, self.state.center
        name = center.get("name_en" if t.language == "en" else "name") or ""
        self.query_one("#center-name", Static).update(f"{t('title')} — {name}")
        self.query_one("#who", Static).update(
            t("logged_in_as", name=self.manager) if self.manager else t("not_logged_in"))
        if self.refused:
            conn, down = self.refused, True
        elif self.connected:
            conn, down = t("connected"), False
        else:
            conn, down = t("connecting"), True
        if center and self.client is not None and self.client.welcome.get("demo"):
            conn = f"{t('demo')} · {conn}"
        w = self.query_one("#conn", Static)
        w.update(conn)
        w.set_class(down, "-down")
        switcher = self.query_one("#switcher", ContentSwitcher)
        showing = "main" if self.manager else "login"
        if switcher.current != showing:
            switcher.current = showing
            if showing == "main":
                # Rows added while a table was hidden get its columns' widths
                # wrong: fill them again once they are on screen.
                self.call_after_refresh(self._refill)
        if not self.manager:
            return
        tz = center_tz(center)
        now = self.clock()
        self._fill("devices-table", device_rows(self.devices, tz, t))
        self._fill("officers-table", officer_rows(self.officers, t))
        self._fill("departments-table", department_rows(self.state, now, t, t.language))
        self._fill("counters-table", counter_rows(self.state, t))
        self._fill("history-table", history_rows(self.versions, tz, t))
        self.query_one("#notice-current", Static).update(
            center.get("notice" if t.language == "vi" else "notice_en") or "—")
        officer = self._selected_officer()
        self.query_one("#toggle-officer", Button).label = (
            t("enable") if officer and officer.get("disabled") else t("disable"))

    def _fill(self, table_id: str, rows: list[tuple[str, list[str]]],
              force: bool = False) -> None:
        if not force and self._filled.get(table_id) == rows:
            return  # unchanged: keep the cursor and the scroll where they are
        self._filled[table_id] = rows
        table = self.query_one(f"#{table_id}", DataTable)
        keep = table.cursor_row
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if rows:
            table.move_cursor(row=min(keep, len(rows) - 1))

    def _selected(self, table_id: str) -> str | None:
        table = self.query_one(f"#{table_id}", DataTable)
        if table.row_count == 0:
            return None
        key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return str(key.value) if key.value is not None else None

    def _selected_officer(self) -> dict[str, Any] | None:
        oid = self._selected("officers-table") if self.officers else None
        return next((o for o in self.officers if o["id"] == oid), None)

    def _dept(self, code: str | None) -> dict[str, Any] | None:
        return self.state.department_info(code) if code else None

    # --- from the client (forwarded by the hosting app) -------------------

    def client_event(self, kind: str, raw: dict[str, Any]) -> None:
        if kind in _DEVICE_EVENTS or kind == "config_changed":
            self.load_lists()
        self.redraw()

    def client_synced(self) -> None:
        if self.client is not None:
            self.manager = self.client.welcome.get("manager") or (
                self.manager if self.client.welcome.get("session_resumed") else None)
            if self.manager:
                self.load_lists()
        self.redraw()

    def client_connection(self, up: bool) -> None:
        self.connected = up
        self.redraw()

    def client_refused(self, reason: str) -> None:
        self.refused = self.t("refused", reason=reason)
        self.redraw()

    # --- talking to the server -------------------------------------------

    async def send(self, type_: str, **fields: Any) -> dict[str, Any]:
        """A command; raises ServerError/NotConnected (callers show them)."""
        if self.client is None:
            raise NotConnected("preview")
        return await self.client.request(type_, **fields)

    def problem(self, e: Exception) -> str:
        if isinstance(e, ServerError):
            return e.text(self.t.language)
        if isinstance(e, (NotConnected, TimeoutError)):
            return self.t("not_connected")
        return str(e)

    async def attempt(self, type_: str, what: str, **fields: Any) -> str | None:
        """Send a command for a dialog: None when done, else the reason."""
        try:
            reply = await self.send(type_, **fields)
        except (ServerError, NotConnected, TimeoutError) as e:
            return self.problem(e)
        self.last_reply = (type_, reply)
        self.notify(self.t("done", what=what), timeout=4)
        self.load_lists()
        return None

    def _form_closed(self, values: dict[str, str] | None) -> None:
        """After a form closed: a new device's secret is shown now (never
        under the form)."""
        done, self.last_reply = self.last_reply, None
        if values is not None and done is not None and done[0] == "enrol_device":
            self.app.push_screen(SecretDialog(self.t, done[1]))

    @work(exclusive=True, group="lists")
    async def load_lists(self) -> None:
        if self.client is None or not self.manager:
            return
        try:
            self.devices = (await self.send("list_devices"))["devices"]
            self.officers = (await self.send("list_officers"))["officers"]
            self.versions = (await self.send("config_history", limit=50))["versions"]
        except ServerError as e:
            if e.code == "manager_required":
                self.manager = None
            else:
                self.notify(self.problem(e), severity="warning")
        except (NotConnected, TimeoutError):
            pass
        self.redraw()

    # --- login ----------------------------------------------------------

    @on(Input.Submitted, "#manager-id")
    def _to_password(self) -> None:
        self.query_one("#manager-password", Input).focus()

    @on(Input.Submitted, "#manager-password")
    @on(Button.Pressed, "#login-button")
    def _login(self) -> None:
        manager = self.query_one("#manager-id", Input).value.strip()
        password = self.query_one("#manager-password", Input).value
        if not manager or not password:
            self.query_one("#login-error", Label).update(
                self.t("required", field=self.t("manager_id" if not manager else "password")))
            return
        self.query_one("#login-error", Label).update(self.t("logging_in"))
        self._do_login(manager, password)

    @work(exclusive=True, group="login")
    async def _do_login(self, manager: str, password: str) -> None:
        try:
            reply = await self.send("manager_login", manager=manager, password=password)
        except (ServerError, NotConnected, TimeoutError) as e:
            self.query_one("#login-error", Label).update(self.problem(e))
            self.query_one("#manager-password", Input).value = ""
            return
        self.query_one("#manager-password", Input).value = ""
        self.query_one("#login-error", Label).update("")
        self.manager = reply["manager"]["id"]
        self.redraw()
        self.load_lists()
        first = {"notice": "#notice-vi", "today": "#today-number"}.get(
            self.first_tab, f"#{self.first_tab}-table")
        self.query_one(first).focus()

    def action_close(self) -> None:
        if self.closable:
            self._close()

    @work(exclusive=True, group="login")
    async def _close(self) -> None:
        if self.manager:
            try:
                await self.send("manager_logout")
            except (ServerError, NotConnected, TimeoutError):
                pass
            self.manager = None
        self.dismiss(None)

    def action_manager_logout(self) -> None:
        if not self.manager:
            return
        self._do_logout()

    @work(exclusive=True, group="login")
    async def _do_logout(self) -> None:
        try:
            await self.send("manager_logout")
        except (ServerError, NotConnected, TimeoutError):
            pass
        self.manager = None
        self.devices, self.officers, self.versions = [], [], []
        self.redraw()
        self.query_one("#manager-id", Input).focus()

    # --- actions ----------------------------------------------------------

    def action_refresh(self) -> None:
        self.load_lists()
        self.redraw()

    def action_language(self) -> None:
        self.t.toggle()
        self.app.refresh_bindings()
        self.recompose_later()

    def recompose_later(self) -> None:
        async def go() -> None:
            await self.recompose()
            self._columns()
            self.redraw()
        self.call_later(go)

    def form(self, title: str, fields: list[Field], command: Callable[[dict[str, str]], tuple[str, dict[str, Any]] | str],
             what: str, warning: str = "", danger: bool = False) -> None:
        """Open a form; on Confirm, ``command(values)`` gives (type, fields)
        to send, or a problem to show."""
        async def submit(values: dict[str, str]) -> str | None:
            built = command(values)
            if isinstance(built, str):
                return built
            type_, fields_ = built
            return await self.attempt(type_, what, **fields_)
        self.last_reply = None
        self.app.push_screen(FormDialog(self.t, title, fields, submit, warning, danger),
                             self._form_closed)

    def _need(self, value: Any) -> bool:
        if value is None:
            self.notify(self.t("select_row"), severity="warning")
            return False
        return True

    def _reason(self) -> Field:
        return Field("reason", self.t("reason"))

    @staticmethod
    def _with_reason(fields: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
        if values.get("reason"):
            fields["reason"] = values["reason"]
        return fields

    @on(Button.Pressed, "#refresh-devices")
    def _refresh_devices(self) -> None:
        self.action_refresh()

    @on(Button.Pressed, "#add-device")
    def _add_device(self) -> None:
        t = self.t
        roles = [(t(f"role_{r}"), r) for r in ("kiosk", "counter", "display", "rating", "admin")]

        def command(v: dict[str, str]) -> tuple[str, dict[str, Any]] | str:
            fields: dict[str, Any] = {"role": v["role"], "name": v["name"]}
            if v["counter"]:
                if not v["counter"].isdigit():
                    return t("required", field=t("device_counter"))
                fields["counter"] = int(v["counter"])
            return "enrol_device", fields
        self.form(t("enrol_title"), [Field("role", t("device_role"), choices=roles),
                                     Field("name", t("device_name"), required=True),
                                     Field("counter", t("device_counter"))],
                  command, t("add_device"))

    @on(Button.Pressed, "#revoke-device")
    def _revoke_device(self) -> None:
        name = self._selected("devices-table") if self.devices else None
        if not self._need(name):
            return
        t = self.t
        self.form(t("revoke_title", name=name), [self._reason()],
                  lambda v: ("revoke_device", self._with_reason({"name": name}, v)),
                  t("revoke"), warning=t("revoke_text"), danger=True)

    @on(Button.Pressed, "#add-officer")
    def _add_officer(self) -> None:
        t = self.t

        def command(v: dict[str, str]) -> tuple[str, dict[str, Any]] | str:
            counters = parse_numbers(v["counters"])
            if counters is None:
                return t("required", field=t("counters_list"))
            fields: dict[str, Any] = {"officer": v["officer"], "name": v["name"], "pin": v["pin"]}
            if counters:
                fields["counters"] = counters
            return "add_officer", fields
        self.form(t("officer_title"), [Field("officer", t("officer_id"), required=True),
                                       Field("name", t("officer_name"), required=True),
                                       Field("pin", t("pin"), password=True, required=True),
                                       Field("counters", t("counters_list"))],
                  command, t("add_officer"))

    @on(Button.Pressed, "#rename-officer")
    def _rename_officer(self) -> None:
        o = self._selected_officer()
        if not self._need(o):
            return
        assert o is not None
        t = self.t
        self.form(t("rename_title", id=o["id"]),
                  [Field("name", t("officer_name"), o["name"], required=True), self._reason()],
                  lambda v: ("update_officer", self._with_reason(
                      {"officer": o["id"], "name": v["name"]}, v)), t("rename"))

    @on(Button.Pressed, "#toggle-officer")
    def _toggle_officer(self) -> None:
        o = self._selected_officer()
        if not self._need(o):
            return
        assert o is not None
        t = self.t
        disable = not o.get("disabled")
        self.form(t("disable_title" if disable else "enable_title", name=o["name"]),
                  [self._reason()],
                  lambda v: ("update_officer", self._with_reason(
                      {"officer": o["id"], "disabled": disable}, v)),
                  t("disable" if disable else "enable"),
                  warning=t("disable_text") if disable else "", danger=disable)

    @on(Button.Pressed, "#reset-pin")
    def _reset_pin(self) -> None:
        o = self._selected_officer()
        if not self._need(o):
            return
        assert o is not None
        t = self.t
        self.form(t("pin_title", name=o["name"]),
                  [Field("pin", t("pin"), password=True, required=True), self._reason()],
                  lambda v: ("reset_pin", self._with_reason(
                      {"officer": o["id"], "pin": v["pin"]}, v)),
                  t("reset_pin"), warning=t("pin_text"), danger=True)

    @on(Button.Pressed, "#officer-counters")
    def _officer_counters(self) -> None:
        o = self._selected_officer()
        if not self._need(o):
            return
        assert o is not None
        t = self.t

        def command(v: dict[str, str]) -> tuple[str, dict[str, Any]] | str:
            counters = parse_numbers(v["counters"])
            if counters is None:
                return t("required", field=t("counters_list"))
            return "update_officer", self._with_reason({"officer": o["id"],
                                                        "counters": counters}, v)
        self.form(t("counters_title", name=o["name"]),
                  [Field("counters", t("counters_list"),
                         ", ".join(str(n) for n in o.get("counters") or ())), self._reason()],
                  command, t("set_counters"))

    @on(Button.Pressed, "#close-department")
    def _close_department(self) -> None:
        d = self._dept(self._selected("departments-table"))
        if not self._need(d):
            return
        assert d is not None
        t = self.t
        name = t.pick(d)

        def command(v: dict[str, str]) -> tuple[str, dict[str, Any]] | str:
            until = v["until"] if v["until"] != "time" else v["clock"]
            if not until:
                return t("required", field=t("until_clock"))
            return "close_department", self._with_reason(
                {"department": d["code"], "until": until}, v)
        self.form(t("close_title", name=name),
                  [Field("until", t("until"), "today",
                         choices=[(t("until_today"), "today"), (t("until_time"), "time"),
                                  (t("until_forever"), "indefinitely")]),
                   Field("clock", t("until_clock")), self._reason()],
                  command, t("close_department"), warning=t("close_text"), danger=True)

    @on(Button.Pressed, "#open-department")
    def _open_department(self) -> None:
        d = self._dept(self._selected("departments-table"))
        if not self._need(d):
            return
        assert d is not None
        t = self.t
        self.form(t("open_title", name=t.pick(d)), [self._reason()],
                  lambda v: ("open_department", self._with_reason({"department": d["code"]}, v)),
                  t("open_department"))

    @on(Button.Pressed, "#set-cap")
    def _set_cap(self) -> None:
        d = self._dept(self._selected("departments-table"))
        if not self._need(d):
            return
        assert d is not None
        t = self.t

        def command(v: dict[str, str]) -> tuple[str, dict[str, Any]] | str:
            if not v["cap"].isdigit():
                return t("required", field=t("cap"))
            return "set_daily_cap", self._with_reason(
                {"department": d["code"], "cap": int(v["cap"])}, v)
        self.form(t("cap_title", name=t.pick(d)),
                  [Field("cap", t("cap"), str(d.get("daily_cap") or 0), required=True),
                   self._reason()], command, t("set_cap"))

    def _counter_info(self, number: int | None) -> dict[str, Any] | None:
        return next((c for c in self.state.center.get("counters", [])
                     if c["number"] == number), None)

    @on(Button.Pressed, "#counter-departments")
    def _counter_departments(self) -> None:
        key = self._selected("counters-table")
        c = self._counter_info(int(key)) if key else None
        if not self._need(c):
            return
        assert c is not None
        t = self.t

        def command(v: dict[str, str]) -> tuple[str, dict[str, Any]] | str:
            codes = parse_codes(v["codes"])
            if not codes:
                return t("required", field=t("counter_codes"))
            return "set_counter_departments", self._with_reason(
                {"counter": c["number"], "departments": codes}, v)
        self.form(t("counter_title", number=c["number"]),
                  [Field("codes", t("counter_codes"), ", ".join(c["departments"]),
                         required=True), self._reason()],
                  command, t("counter_departments"))

    @on(Button.Pressed, "#logout-counter")
    def _logout_counter(self) -> None:
        key = self._selected("counters-table")
        self._confirm_logout(int(key) if key else None)

    @on(Button.Pressed, "#today-logout")
    def _today_logout(self) -> None:
        text = self.query_one("#today-counter", Input).value.strip()
        self._confirm_logout(int(text) if text.isdigit() else None)

    def _confirm_logout(self, number: int | None) -> None:
        if not self._need(self._counter_info(number)):
            return
        t = self.t
        view = self.state.counters.get(number or 0, {})
        officer = view.get("officer_name") or view.get("officer") or "—"
        self.form(t("logout_title", number=number), [self._reason()],
                  lambda v: ("logout", self._with_reason({"counter": number}, v)),
                  t("logout_counter"), warning=t("logout_text", officer=officer), danger=True)

    @on(Button.Pressed, "#cancel-ticket")
    def _cancel_ticket(self) -> None:
        number = self.query_one("#today-number", Input).value.strip().upper()
        if not self._need(number or None):
            return
        t = self.t
        self.form(t("cancel_title", number=number), [self._reason()],
                  lambda v: ("cancel", self._with_reason({"number": number}, v)),
                  t("cancel_ticket"), warning=t("cancel_text"), danger=True)

    @on(Button.Pressed, "#requeue-ticket")
    def _requeue_ticket(self) -> None:
        number = self.query_one("#today-number", Input).value.strip().upper()
        if not self._need(number or None):
            return
        t = self.t
        self.form(t("requeue_title", number=number), [self._reason()],
                  lambda v: ("requeue", self._with_reason({"number": number}, v)),
                  t("requeue_ticket"))

    @on(Button.Pressed, "#update-notice")
    def _update_notice(self) -> None:
        t = self.t
        vi = self.query_one("#notice-vi", Input).value.strip()
        en = self.query_one("#notice-en", Input).value.strip()
        reason = self.query_one("#notice-reason", Input).value.strip()
        fields: dict[str, Any] = {"notice": vi}
        if en:
            fields["notice_en"] = en
        if reason:
            fields["reason"] = reason
        self.form(t("notice_title"), [], lambda v: ("set_notice", fields), t("update_notice"))

    @on(TabbedContent.TabActivated)
    def _tab_shown(self) -> None:
        self.call_after_refresh(self._refill)  # see redraw: hidden tables' widths

    def _refill(self) -> None:
        self._filled.clear()
        self.redraw()

    @on(DataTable.RowHighlighted, "#officers-table")
    def _officer_highlighted(self) -> None:
        officer = self._selected_officer()
        self.query_one("#toggle-officer", Button).label = (
            self.t("enable") if officer and officer.get("disabled") else self.t("disable"))


class AdminApp(App[None]):
    """``motcua admin``: the AdminScreen on its own admin connection."""

    TITLE = "motcua admin"
    BINDINGS = [Binding("ctrl+q", "quit", "Thoát / Quit")]

    def __init__(self, url: str = "ws://127.0.0.1:8765", token: str = "admin-demo", *,
                 device: str = "admin-1", language: str = "vi", tab: str = "devices",
                 client_options: dict[str, Any] | None = None,
                 preview: dict[str, Any] | None = None, clock: Clock | None = None) -> None:
        super().__init__()
        self.client: MotcuaClient | None = None
        if preview is None:
            self.client = bridge(self, MotcuaClient(url, "admin", device, token,
                                                    **(client_options or {})))
        self.admin = AdminScreen(self.client, language=language, tab=tab, preview=preview,
                                 clock=clock)

    def on_mount(self) -> None:
        self.push_screen(self.admin)
        if self.client is not None:
            self.client.start().add_done_callback(self._client_stopped)

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()

    def _client_stopped(self, task: Any) -> None:
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        reason = exc.error.text(self.admin.t.language) if isinstance(exc, AuthError) else str(exc)
        self.admin.client_refused(reason)

    @on(ClientEvent)
    def _event(self, message: ClientEvent) -> None:
        self.admin.client_event(message.event.type, message.event.raw)

    @on(ClientSynced)
    def _synced(self) -> None:
        self.admin.client_synced()

    @on(ClientConnection)
    def _connection(self, message: ClientConnection) -> None:
        self.admin.client_connection(message.connected)
