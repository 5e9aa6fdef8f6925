"""``motcua province``: every site of the province on one screen.

One row per site: waiting now, served today, the longest wait against its
department's target, satisfaction today, alerts, and when the site was last
heard from (a site silent for more than a minute is marked as such). Enter
opens the site: its departments, counters and alerts, drawn with the center
monitor's own model and wording.

The hub is read with asyncpg in an async worker every few seconds; the
screen never waits for it, and a lost hub is shown, not fatal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from motcua.monitor.app import duration
from motcua.monitor.strings import catalogue as monitor_catalogue

from .live import SILENT_AFTER, SiteLive, fetch, site_rows, totals
from .strings import catalogue

PROVINCE_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow"}
STATUS_STYLE = {"open": "bold green", "paused": "bold yellow", "closed": "dim"}
COLUMNS = ("col_site", "col_waiting", "col_served", "col_longest", "col_satisfaction",
           "col_alerts", "col_heard")
#: Below this width the site column shows the code alone.
NARROW = 70


def heard(t: Any, age: float | None) -> str:
    if age is None:
        return t("never_heard")
    if age < 120:
        return t("heard_ago", seconds=int(max(0, age)))
    return t("heard_minutes", minutes=int(age // 60))


class SiteScreen(Screen[None]):
    """One site: its departments, counters and alerts."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Quay lại / Back")]

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    def compose(self) -> ComposeResult:
        yield Static("", id="site-title")
        yield Static("", id="site-note")
        with Horizontal(id="site-tables"):
            yield DataTable(id="site-departments", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="site-counters", cursor_type="row", zebra_stripes=True)
        yield Static("", id="site-alerts")
        yield Footer()

    def on_mount(self) -> None:
        self.show(self.app.site(self.code))  # type: ignore[attr-defined]

    def show(self, site: SiteLive | None) -> None:
        """Draw the site (called again on every refresh)."""
        app: ProvinceApp = self.app  # type: ignore[assignment]
        t, mt = app.t, monitor_catalogue(app.t.language)
        if site is None or not self.is_attached:
            return
        self.query_one("#site-title", Static).update(
            Text(t("detail_title", code=site.code, name=site.name), style="bold"))
        note = ""
        if site.monitor is None:
            note = t("no_live")
        elif site.silent and site.as_of:
            at = datetime.fromtimestamp(site.as_of, timezone.utc).astimezone(PROVINCE_TZ)
            note = t("stale_detail", at=f"{at:%H:%M:%S %d/%m}", ago=heard(t, site.heard_age))
        w = self.query_one("#site-note", Static)
        w.update(note)
        w.set_class(site.silent, "-silent")
        depts = self.query_one("#site-departments", DataTable)
        depts.border_title = mt("departments")
        if not depts.columns:
            for key in ("col_department", "col_waiting", "col_longest", "col_target",
                        "col_open", "col_estimate"):
                depts.add_column(mt(key), key=key)
        at = depts.cursor_row
        depts.clear()
        for d in site.departments:
            longest = Text(duration(d.longest))
            if d.over:
                longest.stylize("bold red" if d.longest >= 2 * d.target else "bold yellow")  # type: ignore[operator]
            name = f"{d.code} – {d.name}"
            depts.add_row(name if len(name) <= 26 else name[:25] + "…", str(d.waiting), longest,
                          mt("minutes", m=int(d.target // 60)), str(d.open_counters),
                          mt("minutes", m=d.estimate) if d.estimate is not None and d.waiting
                          else "", key=d.code)
        if site.departments:
            depts.move_cursor(row=min(at, len(site.departments) - 1))
        counters = self.query_one("#site-counters", DataTable)
        counters.border_title = mt("counters")
        if not counters.columns:
            for key in ("col_counter", "col_status", "col_officer", "col_ticket", "col_time"):
                counters.add_column(mt(key), key=key)
        at = counters.cursor_row
        counters.clear()
        for c in site.counters:
            counters.add_row(c.name, Text(mt(f"status_{c.status}"),
                                          style=STATUS_STYLE.get(c.status, "")),
                             c.officer_name or c.officer or "", c.ticket or "",
                             duration(c.elapsed), key=str(c.number))
        if site.counters:
            counters.move_cursor(row=min(at, len(site.counters) - 1))
        text = Text()
        if site.silent:
            text.append("● ", style="bold red")
            text.append(t("silent") + " — " + heard(t, site.heard_age))
        if not site.alerts and not site.silent:
            text.append(mt("no_alerts"), style="green")
        for a in site.alerts:
            if text:
                text.append("\n")
            text.append("● ", style=SEVERITY_STYLE[a.severity])
            text.append(" ".join(mt(a.key, **a.params).split()))
        alerts = self.query_one("#site-alerts", Static)
        alerts.border_title = mt("alerts")
        alerts.update(text)


class ProvinceApp(App[None]):
    """The province's live view of every site."""

    CSS_PATH = "province.tcss"
    TITLE = "motcua province"
    #: Below 120 columns a site's two tables stack instead of sitting side by side.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    BINDINGS = [Binding("l", "toggle_language", "Tiếng Việt / English"),
                Binding("q", "quit", "Thoát / Quit")]

    @dataclass
    class SitesLoaded(Message):
        """A fresh read of the hub."""

        sites: list[SiteLive]
        at: datetime

    @dataclass
    class HubLost(Message):
        """The hub could not be read."""

        error: str

    def __init__(self, url: str, *, language: str = "vi", silent_after: float = SILENT_AFTER,
                 every: float = 2.0) -> None:
        super().__init__()
        self.url = url
        self.t = catalogue(language)
        self.silent_after = silent_after
        self.every = every
        self.sites: list[SiteLive] = []
        self.error: str | None = None
        self.loaded_at: datetime | None = None
        self._conn: Any = None
        self._configs: dict[int, dict[str, Any]] = {}
        self._stamps: dict[int, Any] = {}
        self._keys: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="title")
        yield Static("", id="totals")
        yield DataTable(id="sites", cursor_type="row", zebra_stripes=True)
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        # Held, not queried: while a site's screen is on top (or the app is
        # closing) the main screen's widgets are not the active screen's.
        self._title = self.query_one("#title", Static)
        self._totals = self.query_one("#totals", Static)
        self._table = self.query_one("#sites", DataTable)
        self._status = self.query_one("#status", Static)
        self._columns()
        self._draw()
        self.refresh_sites()
        self.set_interval(self.every, self.refresh_sites)

    async def on_unmount(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.close(timeout=2)
            except Exception:
                self._conn.terminate()

    def on_resize(self) -> None:
        self._draw()

    def site(self, code: str) -> SiteLive | None:
        return next((s for s in self.sites if s.code == code), None)

    # --- reading the hub (async worker: asyncpg on the app's loop) -----------

    @work(exclusive=True, group="hub")
    async def refresh_sites(self) -> None:
        import asyncpg

        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self.url, timeout=10)
            today = datetime.now(PROVINCE_TZ).date()
            rows, figures = await fetch(self._conn, today, self._configs, self._stamps)
        except Exception as e:  # the hub is away: say so, keep the last figures
            if self._conn is not None:
                self._conn.terminate()
                self._conn = None
            self.post_message(self.HubLost(f"{type(e).__name__}: {e}"))
            return
        sites = site_rows(rows, self._configs, figures, self.silent_after, self.t.language)
        self.post_message(self.SitesLoaded(sites, datetime.now(PROVINCE_TZ)))

    @on(SitesLoaded)
    def _loaded(self, message: SitesLoaded) -> None:
        self.sites, self.loaded_at, self.error = message.sites, message.at, None
        self._draw()
        if not self.screen_stack:  # the app is closing: nothing to redraw
            return
        screen = self.screen
        if isinstance(screen, SiteScreen):
            screen.show(self.site(screen.code))

    @on(HubLost)
    def _lost(self, message: HubLost) -> None:
        self.error = message.error
        self._draw()

    # --- drawing --------------------------------------------------------

    def _columns(self) -> None:
        table = self._table
        table.clear(columns=True)
        for key in COLUMNS:
            table.add_column(self.t(key), key=key)
        self._keys = []

    def _cells(self, s: SiteLive, narrow: bool) -> list[Any]:
        t = self.t
        name = s.code if narrow else f"{s.code} – {s.name}"
        if len(name) > 24:
            name = name[:23] + "…"
        label = Text(name, style="bold red" if s.silent else "")
        if s.longest is not None and s.target:
            longest = Text(f"{int(s.longest // 60)}/{int(s.target // 60)}′ "
                           f"{s.longest_department}")
            if s.over:
                longest.stylize("bold red" if s.longest >= 2 * s.target else "bold yellow")
        else:
            longest = Text("–")
        sat = "–" if s.satisfaction is None else f"{s.satisfaction * 100:.0f}%"
        n_alerts = len(s.alerts) + (1 if s.silent else 0)
        alerts = Text(str(n_alerts) if n_alerts else "",
                      style="bold red" if any(a.severity == "error" for a in s.alerts)
                      or s.silent else "yellow")
        when = Text(heard(t, s.heard_age))
        if s.silent:
            when = Text(f"{t('silent')} {heard(t, s.heard_age)}", style="bold red")
        waiting = "–" if s.waiting is None else str(s.waiting)
        return [label, waiting, str(s.served_today), longest, sat, alerts, when]

    def _draw(self) -> None:
        if not hasattr(self, "_table") or not self._table.is_attached:
            return
        t = self.t
        self._title.update(Text(t("app_title"), style="bold"))
        tot = totals(self.sites)
        self._totals.update(
            t("totals", sites=tot.sites, silent=tot.silent, waiting=tot.waiting,
              served=tot.served, alerts=tot.alerts))
        table = self._table
        narrow = self.size.width < NARROW
        keys = [s.code for s in self.sites]
        rows = [self._cells(s, narrow) for s in self.sites]
        if keys != self._keys:
            cursor = table.cursor_row
            table.clear()
            for key, cells in zip(keys, rows):
                table.add_row(*cells, key=key)
            if keys:
                table.move_cursor(row=min(cursor, len(keys) - 1))
            self._keys = keys
        else:
            for key, cells in zip(keys, rows):
                for col, value in zip(COLUMNS, cells):
                    table.update_cell(key, col, value)
        status = self._status
        if self.error:
            status.update(Text(t("hub_down", error=self.error), style="bold red"))
        elif self.loaded_at is None:
            status.update(t("connecting"))
        else:
            status.update(f"{t('updated', at=f'{self.loaded_at:%H:%M:%S}')} · {t('help')}")
        status.set_class(bool(self.error), "-down")

    @on(DataTable.RowSelected, "#sites")
    def _open(self, event: DataTable.RowSelected) -> None:
        code = event.row_key.value
        if code is not None and self.site(code) is not None:
            self.push_screen(SiteScreen(code))

    def action_toggle_language(self) -> None:
        self.t.toggle()
        self._columns()
        # Alerts and names are worded when the rows are built: rebuild now.
        self.sites = [*self.sites]
        self._draw()
        self.refresh_sites()
        screen = self.screen
        if isinstance(screen, SiteScreen):
            screen.query_one("#site-departments", DataTable).clear(columns=True)
            screen.query_one("#site-counters", DataTable).clear(columns=True)
            screen.show(self.site(screen.code))

