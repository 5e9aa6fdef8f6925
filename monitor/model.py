"""What the supervisor sees, computed from the client's mirror and events.

Pure: no Textual, no network. The app feeds it the shared client's state and
every event; it answers with rows for the counters and departments, the
alerts, today's KPIs and the arrivals/served per hour. Live KPIs are folded
from the events with the same definitions as the reports
(:mod:`reports.facts`); events before the monitor connected are not on the
wire, so those figures cover the time since then, unless the app loads
today's report from the database (see :meth:`Monitor.load_facts`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from motcua.client import CenterState, Event
from motcua.reports.facts import ISSUED, SERVED, DayFold, Fact, HourOf, row_from_data
from motcua.reports.kpi import Kpis, aggregate_with

DEFAULT_TZ = "Asia/Ho_Chi_Minh"
#: A counter paused longer than this raises an alert (seconds).
PAUSE_ALERT_SECONDS = 15 * 60


@dataclass
class CounterRow:
    number: int
    name: str
    status: str  # open | paused | closed
    officer: str | None
    officer_name: str | None
    ticket: str | None
    ticket_status: str | None
    #: Seconds in service (serving), since the call (called), or paused.
    elapsed: float | None
    reason: str | None
    departments: list[str]


@dataclass
class DepartmentRow:
    code: str
    name: str
    waiting: int
    priority: int
    longest: float | None  # seconds the oldest ticket has waited
    target: float  # seconds
    open_counters: int
    estimate: int | None  # minutes, the server's estimate for a new ticket

    @property
    def over(self) -> bool:
        return self.longest is not None and self.longest > self.target


@dataclass
class Alert:
    """``severity`` error | warning; ``key`` a catalogue key with ``params``."""

    severity: str
    key: str
    params: dict[str, Any]
    #: Larger first (how far past the limit, in seconds, or since when).
    weight: float = 0.0


@dataclass
class Figures:
    """Today's KPIs and per-hour counts, and where they come from."""

    kpis: Kpis
    issued: int
    served: int
    waiting: int
    arrivals_by_hour: dict[int, int] = field(default_factory=dict)
    served_by_hour: dict[int, int] = field(default_factory=dict)
    #: Epoch seconds the live figures start at (None: the whole day, from the log).
    since: float | None = None


class Monitor:
    """The supervisor's picture of the center."""

    def __init__(self, state: CenterState | None = None,
                 pause_alert: float = PAUSE_ALERT_SECONDS) -> None:
        self.state = state or CenterState()
        self.pause_alert = pause_alert
        self.tz = ZoneInfo(DEFAULT_TZ)
        self.printers: dict[str, dict[str, Any]] = {}
        #: PIN lock-outs in force: (scope, officer, source) -> the event.
        self.locks: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.voices: dict[str, dict[str, Any]] = {}
        self.day = ""
        self._fold: DayFold | None = None
        self._since: float | None = None
        self._day_facts: list[Fact] | None = None
        self._hour_of = HourOf(self.tz)
        if state is not None:
            self.welcome(state)

    # --- input ----------------------------------------------------------

    def welcome(self, state: CenterState) -> None:
        """A (re)connection's snapshot."""
        self.state = state
        tz = state.center.get("timezone")
        if tz:
            try:
                self.tz = ZoneInfo(tz)
                self._hour_of = HourOf(self.tz)
            except (ZoneInfoNotFoundError, ValueError):
                pass
        self.printers = {p["device"]: p for p in state.printers if p.get("device")}
        self.voices = {v["device"]: v for v in state.voices if v.get("device")}
        if state.day != self.day:
            self._new_day(state.day)

    def _new_day(self, day: str) -> None:
        self.day = day
        self._fold = DayFold(self._hour_of)
        self._since = None
        self._day_facts = None

    def event(self, ev: Event) -> None:
        """One broadcast event (after the client updated its mirror)."""
        raw = ev.raw
        if ev.type == "login_locked":
            key = (raw.get("scope"), raw.get("officer"), raw.get("source"))
            self.locks[key] = {**raw, "until": float(ev.at or 0) + float(raw.get("seconds") or 0)}
            return
        if ev.type in ("printer_fault", "printer_ok") and isinstance(raw.get("printer"), dict):
            p = raw["printer"]
            self.printers[p.get("device") or raw.get("device") or "?"] = p
            return
        if ev.type in ("voice_fault", "voice_ok") and isinstance(raw.get("voice"), dict):
            v = raw["voice"]
            self.voices[v.get("device") or "?"] = v
            return
        if ev.type == "day_started":
            self._new_day(raw.get("day") or self.state.day)
            return
        if ev.at is None or self._fold is None:
            return
        if self._since is None:
            self._since = ev.at
        counter = raw.get("counter")
        number = counter.get("number") if isinstance(counter, dict) else counter
        ticket = raw.get("ticket")
        tid = ticket.get("id") if isinstance(ticket, dict) else None
        if (ev.type == "ticket_called" and tid is not None and not self._fold.knows(tid)
                and not raw.get("recall")):
            # Issued before the monitor connected: its view says since when
            # it has been waiting (in this queue, if it was transferred).
            start = ticket.get("issued_at") if not ticket.get("transfers") \
                else ticket.get("queued_at")
            if start is not None:
                self._fold.begin_wait(tid, self.day, float(start), ticket.get("department"),
                                      ticket.get("procedure"))
        self._fold.add(row_from_data(self.day, ev.type, ev.at, tid, number,
                                     raw.get("officer"), raw))

    def load_facts(self, day: str, facts: list[Fact]) -> None:
        """The whole day's facts from the event log (replace the live ones)."""
        if day == self.day or not self.day:
            self.day = day
            self._day_facts = facts

    # --- output ---------------------------------------------------------

    def _center_list(self, key: str) -> list[dict[str, Any]]:
        return list(self.state.center.get(key, []))

    def department_name(self, code: str, language: str = "vi") -> str:
        return self.state.department_name(code, language)

    def counters(self, now: float) -> list[CounterRow]:
        """Every counter, in number order."""
        rows = []
        for number in sorted(self.state.counters):
            c = self.state.counters[number]
            t = c.get("ticket") or None
            elapsed = None
            if c.get("status") == "paused":
                elapsed = now - float(c.get("since") or now)
            elif t:
                start = t.get("started_at") if t.get("status") == "serving" else t.get("called_at")
                elapsed = now - float(start) if start else None
            rows.append(CounterRow(
                number, c.get("name") or str(number), c.get("status", "closed"),
                c.get("officer"), c.get("officer_name"), t.get("number") if t else None,
                t.get("status") if t else None, elapsed, c.get("reason"),
                list(c.get("departments", []))))
        return rows

    def departments(self, now: float, language: str = "vi") -> list[DepartmentRow]:
        """Every department in configuration order with its queue."""
        rows = []
        for info in self._center_list("departments"):
            code = info["code"]
            d = self.state.departments.get(code, {})
            oldest = d.get("oldest_since")
            rows.append(DepartmentRow(
                code, self.department_name(code, language), int(d.get("waiting", 0)),
                int(d.get("priority_waiting", 0)),
                None if oldest is None or not d.get("waiting") else max(0.0, now - oldest),
                float(info.get("target_wait", 15)) * 60, int(d.get("open_counters", 0)),
                d.get("wait_minutes")))
        return rows

    def alerts(self, now: float, language: str = "vi") -> list[Alert]:
        """What needs the supervisor's attention, worst first."""
        out: list[Alert] = []
        for d in self.departments(now, language):
            if d.over:
                late = d.longest - d.target  # type: ignore[operator]
                out.append(Alert("error" if d.longest >= 2 * d.target else "warning",  # type: ignore[operator]
                                 "alert_wait", {"code": d.code, "name": d.name,
                                                "minutes": int(d.longest // 60),  # type: ignore[operator]
                                                "target": int(d.target // 60),
                                                "waiting": d.waiting}, late))
        for device, p in sorted(self.printers.items()):
            if not p.get("ok", True):
                since = p.get("since")
                out.append(Alert("error", "alert_printer",
                                 {"device": device, "problem": p.get("problem") or "error",
                                  "detail": p.get("detail") or "",
                                  "since": self.local_time(since) if since else "?"},
                                 1e9 + (now - since if since else 0)))
        for key, lock in list(self.locks.items()):
            if lock["until"] <= now:
                del self.locks[key]
                continue
            out.append(Alert("error", "alert_login_locked",
                             {"who": lock.get("officer") or lock.get("device") or "?",
                              "until": self.local_time(lock["until"]),
                              "failures": lock.get("failures", "?"),
                              "source": lock.get("source") or "?"}, 2e9))
        for device, v in sorted(self.voices.items()):
            if not v.get("ok", True):
                since = v.get("since")
                out.append(Alert("error", "alert_voice",
                                 {"device": device, "problem": v.get("problem") or "error",
                                  "detail": v.get("detail") or "",
                                  "since": self.local_time(since) if since else "?"},
                                 1e9 + (now - since if since else 0)))
        for c in self.counters(now):
            if c.status == "paused" and c.elapsed is not None and c.elapsed > self.pause_alert:
                out.append(Alert("warning", "alert_paused",
                                 {"counter": c.name, "minutes": int(c.elapsed // 60),
                                  "reason": c.reason or "", "officer": c.officer_name or ""},
                                 c.elapsed - self.pause_alert))
        out.sort(key=lambda a: (a.severity != "error", -a.weight))
        return out

    def figures(self) -> Figures:
        """Today's KPIs (whole day from the log when loaded, else live since
        the monitor connected) and arrivals/served per hour."""
        if self._day_facts is not None:
            facts, since = self._day_facts, None
        else:
            facts = self._fold.current() if self._fold is not None else []
            since = self._since
        targets = {d["code"]: float(d.get("target_wait", 15)) * 60
                   for d in self._center_list("departments")}
        happy = {lv["value"] for lv in self.state.center.get("rating", {}).get("levels", [])
                 if lv.get("satisfied")}
        _, kpis = aggregate_with(facts, targets, happy, None)
        arrivals = Counter(f.hour for f in facts if f.kind == ISSUED)
        served = Counter(f.hour for f in facts if f.kind == SERVED)
        totals = self.state.totals
        return Figures(kpis, int(totals.get("issued", kpis.issued)),
                       int(totals.get("served", kpis.served)), int(totals.get("waiting", 0)),
                       dict(arrivals), dict(served), since)

    def local_time(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, timezone.utc).astimezone(self.tz).strftime("%H:%M")

    def hours(self, figures: Figures | None = None) -> list[int]:
        """The hours to chart, in order: the center's opening hours, and
        every hour that had arrivals or services (a ticket issued at 03:15
        under ``--ignore-hours``, a visit served past closing time)."""
        opens = self.state.center.get("opens", "07:30")
        closes = self.state.center.get("closes", "17:00")
        first, last = int(opens[:2]), int(closes[:2])
        if first == 0 and last == 23:  # a server run with --ignore-hours
            first, last = 7, 17
        hours = set(range(first, last + 1))
        if figures is not None:
            hours |= {h for h, n in figures.arrivals_by_hour.items() if n}
            hours |= {h for h, n in figures.served_by_hour.items() if n}
        return sorted(hours)
