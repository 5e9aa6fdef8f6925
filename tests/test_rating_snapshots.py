"""Snapshots of the rating pad, from a fixed state and clock (no server)."""

from __future__ import annotations

from motcua.counter.rating import RatingPad
from test_counter_snapshots import Day


def finished_visit() -> tuple[Day, dict]:
    """Counter 1: cb01 served A001, which just ended at 08:12."""
    day = Day().at(7, 50)
    day.do("login", counter=1, officer="cb01")
    day.issue("TP", procedure="TP01")
    day.at(7, 55)
    day.do("call_next", counter=1)
    day.do("start", counter=1)
    day.at(8, 12)
    visit = day.do("finish", counter=1)["visit"]
    return day, visit


def test_idle_shows_counter_and_officer(snap_compare):
    day, _ = finished_visit()
    app = RatingPad(None, 1, state=day.state(), clock=day.clock(8, 12, 5))
    assert snap_compare(app, terminal_size=(80, 24))


def test_rating_scale(snap_compare):
    day, visit = finished_visit()
    app = RatingPad(None, 1, state=day.state(), clock=day.clock(8, 12, 5), timeout=45)

    def ended(pilot):
        pilot.app.show_visit(visit)
    assert snap_compare(app, terminal_size=(80, 24), run_before=ended)


def test_rating_scale_in_english_large(snap_compare):
    day, visit = finished_visit()
    app = RatingPad(None, 1, state=day.state(), clock=day.clock(8, 12, 5), timeout=45)

    def ended(pilot):
        pilot.app.show_visit(visit)
    assert snap_compare(app, press=["l"], terminal_size=(120, 40), run_before=ended)


def test_negative_rating_reasons(snap_compare):
    day, visit = finished_visit()
    app = RatingPad(None, 1, state=day.state(), clock=day.clock(8, 12, 5), timeout=45)

    def ended(pilot):
        pilot.app.show_visit(visit)
    assert snap_compare(app, press=["4"], terminal_size=(80, 24), run_before=ended)


def test_thanks_while_offline(snap_compare):
    day, visit = finished_visit()
    app = RatingPad(None, 1, state=day.state(), clock=day.clock(8, 12, 5), connected=False)

    def ended(pilot):
        pilot.app.show_visit(visit)
    assert snap_compare(app, press=["1"], terminal_size=(80, 24), run_before=ended)


def test_rating_scale_60x20(snap_compare):
    day, visit = finished_visit()
    app = RatingPad(None, 1, state=day.state(), clock=day.clock(8, 12, 5), timeout=45)

    def ended(pilot):
        pilot.app.show_visit(visit)
    assert snap_compare(app, terminal_size=(60, 20), run_before=ended)


def test_negative_rating_reasons_60x20(snap_compare):
    day, visit = finished_visit()
    app = RatingPad(None, 1, state=day.state(), clock=day.clock(8, 12, 5), timeout=45)

    def ended(pilot):
        pilot.app.show_visit(visit)
    assert snap_compare(app, press=["4"], terminal_size=(60, 20), run_before=ended)


def test_idle_60x20(snap_compare):
    day, _ = finished_visit()
    app = RatingPad(None, 1, state=day.state(), clock=day.clock(8, 12, 5))
    assert snap_compare(app, terminal_size=(60, 20))
