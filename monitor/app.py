"""``motcua monitor``: the supervisor's live view of the center.

Connects as ``admin`` through the shared client (so it also hears printer
faults), and draws from :class:`monitor.model.Monitor`: counters with their
officer, ticket and time in service; each department's queue and longest
wait against its target; alerts; today's figures; arrivals and services per
hour. The screen is redrawn twice a second (waits grow even when nothing
happens). With ``db`` the whole day's figures come from the event log, read
in a thread worker so the screen never stalls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from motcua.client import AuthError, CenterState, MotcuaClient
from motcua.i18n import format_number, format_percent
from motcua.tui import ClientConnection, ClientEvent, ClientSynced, Footer, LiveTable, bridge
from motcua.reports.facts import Fact

from .model import PAUSE_ALERT_SECONDS, CounterRow, DepartmentRow, Figures, Monitor
from .strings import VI, catalogue

Clock = Callable[[], float]

REDRAW_SECONDS = 0.5
#: Department names are cut to this many characters in the queue table
#: (fewer on a narrow screen).
NAME_WIDTH = 28
NAME_WIDTH_NARROW = 18
REPORT_SECONDS = 60.0
#: Below this size the figures shrink to a few short lines (two below NARROW_WIDTH).
COMPACT_WIDTH, COMPACT_HEIGHT = 120, 36
NARROW_WIDTH = 70

STATUS_STYLE = {"open": "bold green", "paused": "bold yellow", "closed": "dim"}
#: A mark before each counter status, so open and closed differ even when a
#: narrow column shows only the first characters.
STATUS_MARK = {"open": "●", "paused": "◐", "closed": "○"}
COUNTER_COLUMNS = ("col_counter", "col_status", "col_ticket", "col_ticket_status", "col_time",
                   "col_officer")
DEPARTMENT_COLUMNS = ("col_department", "col_waiting", "col_longest", "col_target",
                      "col_estimate", "col_priority", "col_open")
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow"}


def duration(seconds: float | None) -> str:
    """``m:ss`` or ``h:mm:ss``."""
    if seconds is None:
        return ""
    s = int(max(0, seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def bar(value: int, top: int, width: int) -> str:
    """A horizontal bar of eighth-blocks, ``value`` out of ``top``."""
    if top <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / top * width * 8))
    full, part = divmod(eighths, 8)
    return "█" * full + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[part]


class MonitorApp(App[None]):
    """The supervisor monitor."""

    CSS_PATH = "monitor.tcss"
    TITLE = "motcua monitor"
    #: Below 160 columns the per-hour chart gives its room to the alerts;
    #: below 70 the two tables stack; below 36 lines the figures shrink.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_WIDTH, "-medium"), (160, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (COMPACT_HEIGHT, "-tall")]
    BINDINGS = [Binding("l", "toggle_language", "Tiếng Việt / English"),
                Binding("r", "reload_report", "Báo cáo / Report"),
                Binding("a", "administer", "Quản trị / Administer"),
                Binding("q", "quit", "Thoát / Quit")]

    #: Which admin tab deals with each kind of alert.
    ADMIN_TAB = {"alert_printer": "devices", "alert_login_locked": "officers",
                 "alert_wait": "departments", "alert_paused": "departments"}


    @dataclass
    class ReportLoaded(Message):
        """Today's facts were read from the event log."""

        day: str
        facts: list[Fact]
        at: float

    def __init__(self, url: str = "ws://127.0.0.1:8765", token: str = "admin-demo", *,
                 device: str = "monitor-1", language: str = "vi", db: str | Path | None = None,
                 pause_alert: float = PAUSE_ALERT_SECONDS, report_every: float = REPORT_SECONDS,
                 clock: Clock | None = None, state: CenterState | None = None,
                 client_options: dict[str, Any] | None = None) -> None:
        """``clock`` gives epoch seconds (tests move it); with ``state`` the
        app draws that state and never connects (previews, snapshots)."""
        super().__init__()
        self.url, self.token, self.device = url, token, device
        self.client_options = dict(client_options or {})
        self.t = catalogue(language)
        self.db = Path(db) if db else None
        self.report_every = report_every
        self.clock: Clock = clock or time.time
        self.model = Monitor(state, pause_alert)
        self.client: MotcuaClient | None = None
        self._static = state is not None
        self.connected = self._static
        self.was_connected = self._static
        self.stopped: str | None = None
        self.report_at: float | None = None
        self._rows: dict[str, list[tuple[str, list[Any]]]] = {}
        self._dirty = True
        #: A snapshot arrived: until then "no alerts" or "0" would be a claim.
        self.synced = self._static
        self._wide_labels = True

    # --- layout ---------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="topbar"):
            yield Static("", id="center-name")
            yield Static("", id="conn")
            yield Static("", id="clock")
        with Horizontal(id="tables"):
            yield LiveTable(id="counters", cursor_type="row", zebra_stripes=True)
            yield LiveTable(id="departments", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="bottom"):
            yield Static("", id="alerts")
            with Vertical(id="figures"):
                yield Static("", id="kpis")
                yield Static("", id="kpi-note")
            yield Static("", id="chart")
        yield Footer()

    def on_mount(self) -> None:
        self._columns()
        if not self._static:
            self.client = bridge(self, MotcuaClient(self.url, "admin", self.device, self.token,
                                                    **self.client_options))
            self.client.start().add_done_callback(self._client_stopped)
        if self.db is not None:
            self.set_interval(self.report_every, self.action_reload_report)
        self.set_interval(REDRAW_SECONDS, self.redraw)
        self.redraw()

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()

    def on_resize(self, event: events.Resize) -> None:
        if "counters" not in self._rows:
            return  # the first resize comes before on_mount built the tables
        # App's own handler takes the new size after this one: use the event's.
        wide = event.size.width >= 100
        if wide != self._wide_labels:
            self._wide_labels = wide
            self._columns()  # counter names vs numbers: the widths start afresh
        self.call_later(self.redraw)

    @property
    def compact(self) -> bool:
        """Figures in a few short lines (an 80×24 or smaller terminal)."""
        return self.size.width < COMPACT_WIDTH or self.size.height < COMPACT_HEIGHT

    def _columns(self) -> None:
        t = self.t
        # The columns a supervisor needs first come first: on a narrow screen
        # the table scrolls sideways and the last ones are the ones cut.
        for table_id, cols in (("counters", COUNTER_COLUMNS),
                               ("departments", DEPARTMENT_COLUMNS)):
            table = self.query_one(f"#{table_id}", LiveTable)
            table.clear(columns=True)
            for key in cols:
                table.add_column(t(key), key=key)
            self._rows[table_id] = []
        self.query_one("#counters").border_title = t("counters")
        self.query_one("#departments").border_title = t("departments")
        self.query_one("#alerts").border_title = t("alerts")
        self.query_one("#figures").border_title = t("kpis")
        self.query_one("#chart").border_title = t("chart")

    # --- from the client ------------------------------------------------

    def _admin_screens(self) -> list[Any]:
        from motcua.admin.app import AdminScreen

        return [s for s in self.screen_stack if isinstance(s, AdminScreen)]

    @on(ClientEvent)
    def _event(self, message: ClientEvent) -> None:
        self.model.event(message.event)
        self._dirty = True
        for screen in self._admin_screens():
            screen.client_event(message.event.type, message.event.raw)

    @on(ClientSynced)
    def _state_loaded(self) -> None:
        self.synced = True
        if self.client is not None:
            first = not self.model.day
            self.model.welcome(self.client.state)
            if first and self.db is not None:
                self.action_reload_report()
        self._dirty = True
        for screen in self._admin_screens():
            screen.client_synced()

    @on(ClientConnection)
    def _connection(self, message: ClientConnection) -> None:
        self.connected = message.connected
        self.was_connected = self.was_connected or message.connected
        self._dirty = True
        for screen in self._admin_screens():
            screen.client_connection(message.connected)

    def action_administer(self) -> None:
        """Open the manager's admin screen on this connection, at the tab
        for the worst alert (a printer: devices; a lock-out: officers; a long
        wait or pause: departments and counters)."""
        from motcua.admin.app import AdminScreen

        if self.client is None or self._admin_screens():
            return
        alerts = self.model.alerts(self.clock(), self.t.language)
        tab = self.ADMIN_TAB.get(alerts[0].key, "devices") if alerts else "devices"
        self.push_screen(AdminScreen(self.client, language=self.t.language, tab=tab,
                                     closable=True))

    def _client_stopped(self, task: Any) -> None:
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        if isinstance(exc, AuthError):
            self.stopped = self.t("refused", reason=exc.error.text(self.t.language))
        else:
            self.stopped = self.t("stopped", reason=str(exc) or type(exc).__name__)

    # --- the day's report from the database ------------------------------

    def action_reload_report(self) -> None:
        """Read today's facts from the event log (in a thread)."""
        if self.db is not None and self.model.day and self.model.state.center:
            self._load_report(self.model.day, dict(self.model.state.center))

    @work(thread=True, exclusive=True, group="report")
    def _load_report(self, day: str, center: dict[str, Any]) -> None:
        from motcua.reports.center import config_from_public
        from motcua.reports.engine import ReportEngine

        assert self.db is not None
        with ReportEngine(self.db, config_from_public(center), cache=False) as engine:
            facts = engine.facts(day, day)
        self.post_message(self.ReportLoaded(day, facts, self.clock()))

    @on(ReportLoaded)
    def _report_loaded(self, message: ReportLoaded) -> None:
        self.model.load_facts(message.day, message.facts)
        self.report_at = message.at
        self._dirty = True

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(f"{event.worker.name}: {event.worker.error}", severity="warning",
                        timeout=10)

    # --- actions --------------------------------------------------------

    def action_toggle_language(self) -> None:
        self.t.toggle()
        self._columns()
        self.redraw()

    # --- drawing --------------------------------------------------------

    def redraw(self) -> None:
        """Draw everything from the model at the clock's time."""
        try:
            self._redraw()
        except NoMatches:
            pass  # a last redraw while the app takes its widgets down

    def _redraw(self) -> None:
        now = self.clock()
        lang = self.t.language
        self._topbar(now)
        self._sync("counters", [(str(r.number), self._counter_cells(r))
                                for r in self.model.counters(now)])
        self._sync("departments", [(r.code, self._department_cells(r))
                                   for r in self.model.departments(now, lang)])
        self._alerts(now)
        self._figures(self.model.figures())
        self._dirty = False

    def _topbar(self, now: float) -> None:
        center = self.model.state.center
        name = center.get("name_en" if self.t.language == "en" else "name") or ""
        self.query_one("#center-name", Static).update(f"{self.t('title')} — {name}")
        if self.stopped:
            conn, cls = self.stopped, "-down"
        elif self.connected:
            conn, cls = self.t("connected"), ""
        elif self.was_connected:
            conn, cls = self.t("connection_lost"), "-down"
        else:
            conn, cls = self.t("connecting"), "-down"
        w = self.query_one("#conn", Static)
        w.update(conn)
        w.set_class(bool(cls), "-down")
        local = datetime.fromtimestamp(now, timezone.utc).astimezone(self.model.tz)
        self.query_one("#clock", Static).update(f"{local:%H:%M:%S %d/%m/%Y}")

    def _counter_cells(self, r: CounterRow) -> list[Any]:
        t = self.t
        status = Text(f"{STATUS_MARK.get(r.status, '?')} {t(f'status_{r.status}')}",
                      style=STATUS_STYLE.get(r.status, ""))
        officer = (r.officer_name or r.officer or "") if r.officer else ""
        if r.status == "paused":
            ticket, state = Text(""), Text(r.reason or "", style="yellow")
        elif r.ticket:
            ticket = Text(r.ticket, style="bold")
            state = t(f"ticket_{r.ticket_status}") if r.ticket_status in ("called", "serving") \
                else (r.ticket_status or "")
        else:
            ticket = Text("")
            state = t("idle") if r.status == "open" else ""
        # A narrow table has no room for "Quầy 12 - Tổng hợp": the number says it.
        label = r.name if self.size.width >= 100 else str(r.number)
        return [Text(label), status, ticket, state, duration(r.elapsed), officer]

    def _department_cells(self, r: DepartmentRow) -> list[Any]:
        t = self.t
        longest = Text(duration(r.longest))
        if r.over:
            longest.stylize("bold red" if r.longest >= 2 * r.target else "bold yellow")  # type: ignore[operator]
        name = f"{r.code} – {r.name}"
        width = NAME_WIDTH if self.size.width >= 100 else NAME_WIDTH_NARROW
        if len(name) > width:
            name = name[: width - 1] + "…"
        return [name, str(r.waiting), longest, t("minutes", m=int(r.target // 60)),
                t("minutes", m=r.estimate) if r.estimate is not None and r.waiting else "",
                str(r.priority) if r.priority else "", str(r.open_counters)]

    def _sync(self, table_id: str, rows: list[tuple[str, list[Any]]]) -> None:
        """Update a table in place (rebuild only when its rows change)."""
        table = self.query_one(f"#{table_id}", LiveTable)
        old = self._rows.get(table_id, [])
        if [k for k, _ in old] != [k for k, _ in rows]:
            table.clear()
            for key, cells in rows:
                table.add_row(*cells, key=key)
        else:
            columns = list(table.columns)
            changed = False
            for (key, cells), (_, before) in zip(rows, old):
                for col, value, prev in zip(columns, cells, before):
                    if value != prev:
                        table.update_cell(key, col, value, update_width=True)
                        changed = True
            if changed:
                table.changed()
        self._rows[table_id] = rows

    def _alert_params(self, params: dict) -> dict:
        """A device fault's code in words ("paper_out" → "hết giấy"), and its
        detail only when it says more than that."""
        code = params.get("problem")
        if code is None or f"problem_{code}" not in VI:
            return params
        words = self.t(f"problem_{code}")
        detail = str(params.get("detail") or "")
        if detail.strip().casefold() == words.casefold():
            detail = ""
        return {**params, "problem": words, "detail": f"— {detail}" if detail else ""}

    def _alerts(self, now: float) -> None:
        alerts = self.model.alerts(now, self.t.language)
        text = Text()
        if not self.synced:
            text.append(self.t("connecting"), style="dim")
        elif not alerts:
            text.append(self.t("no_alerts"), style="green")
        for i, a in enumerate(alerts):
            if i:
                text.append("\n")
            text.append("● ", style=SEVERITY_STYLE[a.severity])
            text.append(" ".join(self.t(a.key, **self._alert_params(a.params)).split()))
        w = self.query_one("#alerts", Static)
        w.update(text)
        w.set_class(any(a.severity == "error" for a in alerts), "-error")

    def _figures(self, f: Figures) -> None:
        t, k, lang = self.t, f.kpis, self.t.language

        def mins(v: float | None) -> str:
            return "–" if v is None else format_number(v / 60, 1, lang)

        def pct(v: float | None) -> str:
            return "–" if v is None else format_percent(v, 1, lang)

        def num(v: int) -> str:
            return format_number(v, 0, lang)

        if not self.synced:
            self.query_one("#kpis", Static).update(Text(t("connecting"), style="dim"))
            self.query_one("#kpi-note", Static).update("")
            self.query_one("#chart", Static).update("")
            return
        if self.compact:
            # Four short lines: an 80x24 terminal keeps its room for the tables.
            rows = [
                [(t("kc_issued"), num(f.issued)), (t("kc_served"), num(f.served)),
                 (t("kc_waiting"), num(f.waiting))],
                [(t("kc_no_show"), num(k.no_show)), (t("kc_transferred"), num(k.transferred)),
                 (t("kc_cancelled"), num(k.cancelled))],
                [(t("kc_wait"), t("kc_minutes", mean=mins(k.wait_mean), p90=mins(k.wait_p90)))],
                [(t("kc_within"), pct(k.within_share)),
                 (t("kc_satisfaction"), pct(k.satisfaction) + f" ({num(k.rated)})")],
            ]
            if self.size.width < NARROW_WIDTH:
                rows = [[*rows[0], rows[1][0]],
                        [(t("kc_wait"), t("kc_minutes_short", mean=mins(k.wait_mean))),
                         (t("kc_satisfaction"), pct(k.satisfaction))]]
            text = Text()
            for i, row in enumerate(rows):
                if i:
                    text.append("\n")
                for j, (label, value) in enumerate(row):
                    if j:
                        text.append(" · ", style="dim")
                    text.append(label + " ", style="dim")
                    text.append(value, style="bold")
            self.query_one("#kpis", Static).update(text)
            self.query_one("#kpi-note", Static).update("")
            self.query_one("#chart", Static).update("")
            return

        lines = [
            (t("kpi_issued"), num(f.issued)),
            (t("kpi_served"), num(f.served)),
            (t("kpi_waiting"), num(f.waiting)),
            (t("kpi_no_show"), num(k.no_show)),
            (t("kpi_transferred"), num(k.transferred)),
            (t("kpi_cancelled"), num(k.cancelled)),
            (t("kpi_wait"), f"{mins(k.wait_mean)} / {mins(k.wait_median)} / {mins(k.wait_p90)}"),
            (t("kpi_within"), pct(k.within_share)),
            (t("kpi_service"),
             f"{mins(k.service_mean)} / {mins(k.service_median)} / {mins(k.service_p90)}"),
            (t("kpi_satisfaction"), pct(k.satisfaction)),
            (t("kpi_rated"), num(k.rated)),
        ]
        width = max(len(a) for a, _ in lines)
        text = Text()
        for i, (label, value) in enumerate(lines):
            if i:
                text.append("\n")
            text.append(label.ljust(width + 1), style="dim")
            text.append(value, style="bold")
        self.query_one("#kpis", Static).update(text)
        if f.since is None and self.report_at is not None:
            note = t("whole_day", time=self.model.local_time(self.report_at))
        else:
            note = t("since", time=self.model.local_time(f.since or self.clock()))
        self.query_one("#kpi-note", Static).update(note)
        self.query_one("#chart", Static).update(self._chart(f))

    def _chart(self, f: Figures) -> Text:
        hours = self.model.hours(f)
        top = max([*f.arrivals_by_hour.values(), *f.served_by_hour.values(), 1])
        width = 14
        text = Text()
        text.append("    ")
        text.append(f"{self.t('chart_arrivals'):<{width + 5}}", style="cyan")
        text.append(self.t("chart_served"), style="green")
        for h in hours:
            a, s = f.arrivals_by_hour.get(h, 0), f.served_by_hour.get(h, 0)
            text.append(f"\n{h:02d}h ")
            text.append(f"{bar(a, top, width):<{width}}", style="cyan")
            text.append(f"{a:>4} ")
            text.append(f"{bar(s, top, width):<{width}}", style="green")
            text.append(f"{s:>4}")
        return text
