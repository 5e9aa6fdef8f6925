"""Snapshots of the supervisor monitor, drawn from a simulated morning.

The state comes from the real queue core driven by the day simulator with an
injected clock, and the whole-day figures from that morning's event log, so
every run draws the same screen. Update with ``pytest --snapshot-update``
after checking the SVGs by eye.
"""

from __future__ import annotations

from datetime import date

from motcua.monitor.app import MonitorApp
from motcua.client import CenterState
from motcua.reports.engine import ReportEngine
from motcua.server.config import load_config
from motcua.server.core import QueueCore
from motcua.sim.model import DaySimulation
from motcua.sim.profile import Profile
from motcua.sim.run import SimClock, SqliteSink, day_rng, run_on_core

DAY = date(2026, 11, 23)


def morning(tmp_path, until_hour: float):
    config = load_config(None)
    clock = SimClock()
    core = QueueCore(config, clock)
    sink = SqliteSink(tmp_path / "m.db")
    sim = DaySimulation(config, Profile.for_config(config), DAY, day_rng(1, DAY))
    run_on_core(sim, core, clock, sink, until=until_hour * 3600)
    sink.close()
    state = CenterState(center=config.public())
    state.load(core.snapshot())
    with ReportEngine(tmp_path / "m.db", config, cache=False) as engine:
        facts = engine.facts(DAY.isoformat(), DAY.isoformat())
    now = clock.now.timestamp()
    return state, facts, now


def test_busy_morning(snap_compare, tmp_path):
    state, facts, now = morning(tmp_path, 10.1)
    app = MonitorApp(state=state, clock=lambda: now)
    app.model.load_facts(state.day, facts)
    app.report_at = now
    assert snap_compare(app, terminal_size=(180, 48))


def test_busy_morning_english_narrow(snap_compare, tmp_path):
    state, facts, now = morning(tmp_path, 9.5)
    app = MonitorApp(state=state, clock=lambda: now, language="en")
    app.model.load_facts(state.day, facts)
    app.report_at = now
    assert snap_compare(app, terminal_size=(120, 40))


def test_busy_morning_80x24(snap_compare, tmp_path):
    state, facts, now = morning(tmp_path, 10.1)
    app = MonitorApp(state=state, clock=lambda: now)
    app.model.load_facts(state.day, facts)
    app.report_at = now
    assert snap_compare(app, terminal_size=(80, 24))


def test_busy_morning_60x20(snap_compare, tmp_path):
    state, facts, now = morning(tmp_path, 10.1)
    app = MonitorApp(state=state, clock=lambda: now)
    app.model.load_facts(state.day, facts)
    app.report_at = now
    assert snap_compare(app, terminal_size=(60, 20))
