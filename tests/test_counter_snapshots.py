"""Snapshots of the counter console, drawn from a fixed state and clock.

The state comes from the real queue core driven with an injected clock (no
server, no network), so every run draws the same screen. Update with
``pytest --snapshot-update`` after checking the SVGs by eye.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from motcua.counter.app import CounterConsole
from motcua.counter.model import OfficerTally
from motcua.client import CenterState
from motcua.server.app import always_open
from motcua.server.config import load_config
from motcua.server.core import QueueCore

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
#: A Friday morning at the center.
T0 = datetime(2025, 11, 21, 7, 30, tzinfo=TZ)


class Day:
    """The real queue core on a clock the test moves by hand."""

    def __init__(self) -> None:
        self.config = always_open(load_config(None))
        self.now = T0
        self.core = QueueCore(self.config, lambda: self.now)
        self._rid = 0

    def at(self, hh: int, mm: int, ss: int = 0) -> "Day":
        self.now = self.now.replace(hour=hh, minute=mm, second=ss)
        return self

    def issue(self, department: str, **kw: Any) -> str:
        self._rid += 1
        out = self.core.execute("issue", department=department, device="kiosk-1",
                                request_id=f"r{self._rid}", **kw)
        return out.result["ticket"]["number"]

    def do(self, command: str, **kw: Any) -> dict[str, Any]:
        return self.core.execute(command, **kw).result

    def state(self) -> CenterState:
        state = CenterState(center=self.config.public())
        state.load(self.core.snapshot())
        return state

    def waiting(self, counter: int) -> list[dict[str, Any]]:
        """What ``waiting_list`` would answer for ``counter``."""
        return self.core.waiting_tickets(self.config.counter(counter).departments)

    def clock(self, hh: int, mm: int, ss: int = 0):
        ts = self.now.replace(hour=hh, minute=mm, second=ss).timestamp()
        return lambda: ts


def tally(officer: str = "cb01") -> OfficerTally:
    t = OfficerTally()
    t.reset(officer)
    t.served, t.transferred, t.no_shows = 14, 2, 1
    t.service_seconds = 14 * 372.0
    t.ratings = {4: 6, 3: 3, 2: 1, 1: 1}
    return t


def serving_day() -> Day:
    day = Day().at(7, 35)
    day.do("login", counter=1, officer="cb01")
    day.at(7, 40)
    day.issue("TP", procedure="TP01", priority="elderly75")
    day.at(7, 44)
    for _ in range(4):
        day.issue("TP")
    day.at(7, 58, 10)
    day.do("call_next", counter=1)
    day.at(7, 59, 2)
    day.do("start", counter=1)
    return day


def test_login_screen(snap_compare):
    day = Day()
    app = CounterConsole(None, 3, state=day.state(), clock=day.clock(7, 31))
    assert snap_compare(app, terminal_size=(80, 24))


def test_serving_a_priority_ticket(snap_compare):
    day = serving_day()
    app = CounterConsole(None, 1, state=day.state(), officer="cb01",
                         clock=day.clock(8, 5, 12), tally=tally(), waiting=day.waiting(1))
    assert snap_compare(app, terminal_size=(120, 40))


def test_called_with_a_queue_over_its_target_80x24(snap_compare):
    day = Day().at(7, 31)
    day.do("login", counter=3, officer="cb03")
    day.issue("KHDT")                  # B001: 27 min by the clock below, over 20
    day.issue("CT")                    # L001
    day.at(7, 45)
    day.issue("CT")                    # L002: 13 min, within target
    day.at(7, 50)
    day.do("call_ticket", counter=3, number="L001")
    app = CounterConsole(None, 3, state=day.state(), officer="cb03",
                         clock=day.clock(7, 58, 30), tally=tally("cb03"))
    assert snap_compare(app, terminal_size=(80, 24))


def test_offline_locks_the_console(snap_compare):
    day = serving_day()
    app = CounterConsole(None, 1, state=day.state(), officer="cb01", connected=False,
                         clock=day.clock(8, 5, 12), tally=tally())
    assert snap_compare(app, terminal_size=(80, 24))


def test_transfer_dialog(snap_compare):
    day = serving_day()
    app = CounterConsole(None, 1, state=day.state(), officer="cb01",
                         clock=day.clock(8, 5, 12), tally=tally())
    assert snap_compare(app, press=["f7", "down", "down"], terminal_size=(80, 24))


def test_paused_in_english(snap_compare):
    day = Day().at(7, 35)
    day.do("login", counter=1, officer="cb01")
    day.do("pause", counter=1, reason="Họp giao ban")
    day.issue("TP")
    app = CounterConsole(None, 1, "en", state=day.state(), officer="cb01",
                         clock=day.clock(7, 50), tally=tally())
    assert snap_compare(app, terminal_size=(100, 30))


def test_snapshot_inputs_are_what_they_claim():
    # Guards the fixtures the snapshots rely on, so a changed sample center
    # fails here in words rather than as a pixel diff.
    day = serving_day()
    view = day.state().counters[1]
    assert view["ticket"]["number"] == "A001" and view["ticket"]["status"] == "serving"
    assert view["ticket"]["priority"] == "elderly75"
    assert timedelta(minutes=20) == timedelta(minutes=day.config.department("TP").target_wait)


def test_serving_at_70_columns(snap_compare):
    day = serving_day()
    app = CounterConsole(None, 1, state=day.state(), officer="cb01",
                         clock=day.clock(8, 5, 12), tally=tally())
    assert snap_compare(app, terminal_size=(70, 24))


def test_serving_at_60x20(snap_compare):
    day = serving_day()
    app = CounterConsole(None, 1, state=day.state(), officer="cb01",
                         clock=day.clock(8, 5, 12), tally=tally())
    assert snap_compare(app, terminal_size=(60, 20))


def test_login_screen_60x20(snap_compare):
    day = Day()
    app = CounterConsole(None, 3, state=day.state(), clock=day.clock(7, 31))
    assert snap_compare(app, terminal_size=(60, 20))
