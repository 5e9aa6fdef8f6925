"""The display's rules without a terminal or a server: scope, the call log,
the big font, and the command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from motcua.bigfont import LEVELS, fitting_level, glyph_height, glyph_rows, glyph_width
from motcua.display.board import MISSED_CALL_WINDOW, CallLog, Scope, counter_rows, department_rows
from motcua.cli import build_parser
from motcua.client import CenterState
from motcua.server.config import load_config


@pytest.fixture(scope="module")
def center() -> dict:
    return load_config(None).public()


def call(tid: int, number: str, counter: int, dept: str, at: float, recall: int = 0) -> dict:
    return {"ticket_id": tid, "number": number, "counter": counter, "department": dept,
            "at": at, "recall": recall}


def state_with(center: dict, calls: list[dict], day: str = "2025-11-21") -> CenterState:
    s = CenterState()
    s.center = center
    s.load({"day": day, "recent_calls": calls, "departments": [], "counters": []})
    return s


# --------------------------------------------------------------------------- scope


def test_scope_parses_the_command_line_lists():
    scope = Scope.parse("tp, KHDT", "1,2 ,3")
    assert scope.departments == {"TP", "KHDT"} and scope.counters == {1, 2, 3}
    assert Scope.parse(None, None).whole_center
    with pytest.raises(ValueError):
        Scope.parse(None, "1,x")


def test_scope_filters_calls_counters_and_departments(center):
    by_counter = Scope.parse(counters="1,2")
    assert by_counter.shows_call(call(1, "A001", 1, "TP", 0))
    assert not by_counter.shows_call(call(2, "D001", 5, "XD", 0))
    assert by_counter.department_codes(center) == ["TP", "KHDT"]

    by_dept = Scope.parse(departments="CT")
    # Counter 3 serves KHDT and CT: only its CT tickets belong on a CT display.
    assert by_dept.shows_call(call(3, "L001", 3, "CT", 0))
    assert not by_dept.shows_call(call(4, "B001", 3, "KHDT", 0))
    s = state_with(center, [])
    assert [r.number for r in counter_rows(s, by_dept)] == [3, 12]
    assert [r.code for r in department_rows(s, by_dept)] == ["CT"]

    assert Scope.parse("TP,NOPE", "1,99").unknown(center) == ["NOPE", "99"]


# --------------------------------------------------------------------------- call log


def test_call_log_keeps_arrival_order_and_moves_a_recall_to_the_top():
    log = CallLog(keep=3)
    assert log.add(call(1, "A001", 1, "TP", 10))
    assert log.add(call(2, "A002", 2, "KHDT", 11))
    assert not log.add(call(2, "A002", 2, "KHDT", 11))  # the same call twice
    assert log.add(call(1, "A001", 1, "TP", 12, recall=1))
    assert [c["number"] for c in log.calls] == ["A001", "A002"]
    for i in range(3, 6):
        log.add(call(i, f"A00{i}", 1, "TP", 10 + i))
    assert [c["number"] for c in log.calls] == ["A005", "A004", "A003"]


def test_call_log_ignores_calls_out_of_scope():
    log = CallLog(Scope.parse(counters="1"))
    assert not log.add(call(1, "D001", 5, "XD", 10))
    assert log.add(call(2, "A001", 1, "TP", 11))
    assert log.latest["number"] == "A001"


def test_first_snapshot_sets_the_scene_without_announcing(center):
    log = CallLog()
    missed = log.sync(state_with(center, [call(2, "A002", 1, "TP", 100),
                                          call(1, "A001", 1, "TP", 90)]), now=105)
    assert missed == []
    assert [c["number"] for c in log.calls] == ["A002", "A001"]


def test_calls_missed_while_away_are_announced_oldest_first(center):
    log = CallLog()
    log.sync(state_with(center, [call(1, "A001", 1, "TP", 100)]), now=100)
    log.add(call(2, "A002", 1, "TP", 110))
    snapshot = [call(4, "B001", 2, "KHDT", 130), call(3, "A003", 1, "TP", 120),
                call(2, "A002", 1, "TP", 110), call(1, "A001", 1, "TP", 100)]
    missed = log.sync(state_with(center, snapshot), now=135)
    assert [c["number"] for c in missed] == ["A003", "B001"]
    assert [c["number"] for c in log.calls] == ["B001", "A003", "A002", "A001"]
    # Nothing is announced twice.
    assert log.sync(state_with(center, snapshot), now=136) == []


def test_long_missed_calls_are_listed_but_not_announced(center):
    log = CallLog()
    log.sync(state_with(center, [call(1, "A001", 1, "TP", 100)]), now=100)
    snapshot = [call(2, "A002", 1, "TP", 200), call(1, "A001", 1, "TP", 100)]
    assert log.sync(state_with(center, snapshot), now=200 + MISSED_CALL_WINDOW + 1) == []
    assert log.latest["number"] == "A002"


def test_a_scoped_log_keeps_its_own_history_beyond_the_servers_list(center):
    log = CallLog(Scope.parse(counters="1"))
    log.sync(state_with(center, []), now=0)
    log.add(call(1, "A001", 1, "TP", 10))
    # The server's last 10 calls are now all elsewhere.
    others = [call(100 + i, f"D{i:03}", 5, "XD", 20 + i) for i in range(10)]
    assert log.sync(state_with(center, others), now=30) == []
    assert [c["number"] for c in log.calls] == ["A001"]


def test_a_new_day_clears_the_log(center):
    log = CallLog()
    log.sync(state_with(center, [call(1, "A001", 1, "TP", 100)]), now=100)
    assert log.sync(state_with(center, [], day="2025-11-22"), now=200) == []
    assert log.calls == []


# --------------------------------------------------------------------------- font


def test_every_department_letter_is_drawn_big_in_every_font(center):
    letters = {d["letter"] for d in center["departments"]} | set("ABCDEFGHKLMNPTXY")
    for level in range(len(LEVELS)):
        for ch in sorted(letters) + list("0123456789"):
            rows = glyph_rows(ch + "0", level)
            assert len(rows) == glyph_height(level)
            assert {len(r) for r in rows} == {glyph_width(ch + "0", level)}
            # Drawn, not the plain-character fallback.
            assert ch not in "".join(rows)


def test_the_largest_font_that_fits_is_chosen():
    assert fitting_level("A023", 200, 2) == 2
    assert fitting_level("A023", glyph_width("A023", 2) - 1, 2) == 1
    assert fitting_level("A023", 10, 2) == 0
    assert fitting_level("A023", 200, 1) == 1


# --------------------------------------------------------------------------- cli, layering


def test_the_display_command_line():
    args = build_parser().parse_args(
        ["display", "--url", "ws://10.0.0.5:8765", "--voice", "off", "--no-chime",
         "--departments", "TP,KHDT", "--counters", "1,2,3", "--lang", "en"])
    assert args.func.__module__ == "motcua.display.cli"
    assert (args.url, args.voice, args.chime, args.lang) == ("ws://10.0.0.5:8765", "off",
                                                              False, "en")
    assert (args.departments, args.counters) == ("TP,KHDT", "1,2,3")
    defaults = build_parser().parse_args(["display"])
    assert (defaults.token, defaults.device, defaults.voice, defaults.chime) == (
        "display-demo", "display-1", "vi", True)


def test_bad_counters_are_refused_before_anything_starts(capsys):
    args = build_parser().parse_args(["display", "--counters", "1,two"])
    assert args.func(args) == 2
    assert "two" in capsys.readouterr().err


def test_the_display_rules_import_no_textual():
    code = ("import sys, motcua.display.board, motcua.bigfont, motcua.display.strings; "
            "print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
