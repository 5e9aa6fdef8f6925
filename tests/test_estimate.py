"""The wait estimator (server/estimate.py) and the call rule (server/calling.py),
on the pure core with a hand-moved clock."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from conftest import HandClock as Clock

from motcua.server import core as core_module
from motcua.server import estimate as est_module
from motcua.server.config import parse_config
from motcua.server.core import QueueCore
from motcua.server.estimate import lognormal_residual

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def make_config(**queue):
    """Justice (TP) on counter 1 and shared counter 2; construction (XD) on
    counter 2 and 3; fee payment (PHI) and result return (TKQ) sharing
    counter 4 — a small copy of the sample center's shapes."""
    return parse_config(_raw(**queue))


def _raw(**queue):
    return {
        "center": {"name": "Trung tâm thử", "opens": "07:30", "closes": "17:00",
                   "last_ticket": "16:30", "open_days": ["mon", "tue", "wed", "thu", "fri"]},
        "queue": {"max_priority_in_row": 2, **queue},
        "priority_groups": [{"code": "elderly", "vi": "Người cao tuổi", "en": "Elderly"}],
        "departments": [
            {"code": "TP", "letter": "A", "vi": "Tư pháp", "target_wait": 15,
             "procedures": [{"code": "TP01", "vi": "Đăng ký kết hôn", "minutes": 10}]},
            {"code": "XD", "letter": "B", "vi": "Xây dựng", "target_wait": 20,
             "procedures": [{"code": "XD01", "vi": "Cấp phép xây dựng", "minutes": 20}]},
            {"code": "PHI", "letter": "P", "vi": "Thu phí", "target_wait": 10,
             "procedures": [{"code": "PHI01", "vi": "Nộp phí", "minutes": 5}]},
            {"code": "TKQ", "letter": "T", "vi": "Trả kết quả", "target_wait": 10,
             "procedures": [{"code": "TKQ01", "vi": "Nhận kết quả", "minutes": 5}]},
        ],
        "counters": [
            {"number": 1, "departments": ["TP"]},
            {"number": 2, "departments": ["TP", "XD"]},
            {"number": 3, "departments": ["XD"]},
            {"number": 4, "departments": ["TKQ", "PHI"]},
        ],
        "officers": [{"id": f"cb{i}", "name": f"Cán bộ {i}",
                      "pin_hash": "pbkdf2_sha256$1$s$00"} for i in range(1, 5)],
        "devices": {r: f"{r}-token" for r in ("kiosk", "counter", "display", "rating", "admin")},
    }


@pytest.fixture
def clock():
    return Clock(datetime(2026, 11, 23, 8, 0, tzinfo=TZ))  # a Monday


def new_core(clock, *counters, **queue):
    c = QueueCore(make_config(**queue), clock)
    for n in counters:
        c.login(n, f"cb{n}")
    return c


def serve(core, clock, counter, minutes):
    """Call the next ticket at ``counter``, serve it for ``minutes``."""
    t = core.call_next(counter).result["ticket"]
    core.start(counter)
    clock.advance(minutes=minutes)
    core.finish(counter)
    return t["number"]


def test_pure_modules_import_no_io_frameworks():
    code = ("import sys, motcua.server.estimate, motcua.server.calling; "
            "bad = [m for m in ('asyncio', 'websockets', 'aiosqlite', 'textual') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_status_names_match_the_core():
    assert (est_module.OPEN, est_module.PAUSED) == (core_module.OPEN, core_module.PAUSED)
    assert (est_module.WAITING, est_module.CALLED, est_module.SERVING) == (
        core_module.WAITING, core_module.CALLED, core_module.SERVING)


# --- issue 10: seeded, bounded service times; unknown with a reason ----------

def test_a_one_second_visit_cannot_make_the_wait_one_minute(clock):
    core = new_core(clock, 1)
    for _ in range(5):
        core.issue("TP")
    # An officer calls, starts and finishes within a second (a mis-click).
    core.call_next(1)
    core.start(1)
    clock.advance(seconds=1)
    core.finish(1)
    # Four wait; counter 1 is idle. Typical service is 10 minutes.
    reply = core.issue("TP").result
    assert reply["ahead"] == 4
    assert 30 <= reply["wait_minutes"] <= 60, reply  # not "khoảng 1 phút"
    # Nor can a few outliers the other way.
    for _ in range(3):
        core.call_next(1)
        core.start(1)
        clock.advance(minutes=240)
        core.finish(1)
    assert core.service_seconds("TP", "TP01") < 2.5 * 600


def test_service_time_is_learned_from_typical_minutes(clock):
    core = new_core(clock, 1)
    assert core.service_seconds("TP", "TP01") == pytest.approx(600)  # the configured 10 min
    for _ in range(70):
        core.issue("TP", "TP01")
    for _ in range(10):
        serve(core, clock, 1, 4)
    assert 240 < core.service_seconds("TP", "TP01") < 400  # on its way, not jumping
    for _ in range(50):
        serve(core, clock, 1, 4)
    assert core.service_seconds("TP", "TP01") == pytest.approx(240, rel=0.15)


def test_no_open_counter_is_unknown_with_a_reason(clock):
    core = new_core(clock)  # nobody logged in yet
    reply = core.issue("TP").result
    assert reply["ahead"] == 0
    assert reply["wait_minutes"] is None and reply["wait_range"] is None
    assert reply["wait_unknown"] == "no_open_counter"
    view = core.department_view("TP")
    assert view["wait_unknown"] == "no_open_counter" and view["wait_minutes"] is None
    core.login(1, "cb1")
    view = core.department_view("TP")
    assert view["wait_unknown"] is None and view["wait_minutes"] is not None
    # A paused counter is still staffed: the estimate waits for its return.
    core.pause(1, "Họp")
    assert core.department_view("TP")["wait_unknown"] is None


def test_ticket_issued_event_and_department_view_carry_the_range(clock):
    core = new_core(clock, 1)
    for _ in range(3):
        core.issue("TP")
    out = core.issue("TP")
    [ev] = [e for e in out.events if e.type == "ticket_issued"]
    lo, hi = ev.data["wait_range"]
    assert lo <= ev.data["wait_minutes"] <= hi and lo < hi
    assert ev.data["wait_unknown"] is None
    view = core.department_view("TP")
    assert view["wait_range"][0] <= view["wait_minutes"] <= view["wait_range"][1]


# --- the look-ahead ----------------------------------------------------------

def test_a_shared_counter_serves_one_merged_queue(clock):
    # Only counter 2 (TP and XD) is open: three older TP tickets are called
    # before the XD one under oldest_first.
    core = new_core(clock, 2)
    for _ in range(3):
        core.issue("TP")
        clock.advance(seconds=10)
    xd = core.issue("XD").result
    # 3 × 10 min of TP first (plus walks and gaps), not a "half counter".
    assert 28 <= xd["wait_minutes"] <= 40, xd
    # Under "preference" counter 2 empties TP first, whatever the ages.
    pref = new_core(clock, 2, call_policy="preference")
    pref.issue("XD")
    clock.advance(seconds=10)
    for _ in range(2):
        pref.issue("TP")
    assert pref.estimate_wait("XD").minutes >= 20


def test_what_remains_of_a_service_grows_with_its_age():
    mu, var = math.log(600) - 0.5 * math.log(1.25), math.log(1.25)
    assert lognormal_residual(mu, var, 0) == pytest.approx(600)
    ten, twenty, sixty = (lognormal_residual(mu, var, m * 60) for m in (10, 20, 60))
    assert ten < 600 and ten < twenty < sixty  # skewed: the long ones go on


def test_a_service_in_progress_counts_what_remains(clock):
    core = new_core(clock, 1)
    core.issue("TP", "TP01")
    core.call_next(1)
    core.start(1)
    second = core.issue("TP", "TP01").result
    assert 9 <= second["wait_minutes"] <= 12  # a whole service (10 min) to go
    ticket = core.tickets[second["ticket"]["id"]]
    clock.advance(minutes=9)
    now = clock.now.timestamp()
    # Nine minutes in, less than half a service remains, but more than the
    # one minute a "memoryless" or a "fixed 10 minutes" model would say.
    rest = core.estimator.estimate("TP", now, ticket).seconds / 60
    assert 2 < rest < 6


def test_pauses_are_waited_out_by_how_long_that_pause_lasts(clock):
    core = new_core(clock, 1)
    for _ in range(3):  # teach it: "Họp" lasts 30 minutes
        core.pause(1, "Họp")
        clock.advance(minutes=30)
        core.resume(1)
    core.pause(1, "Họp")
    clock.advance(minutes=10)
    core.issue("TP")
    assert 17 <= core.estimate_wait("TP").seconds / 60 - 10 <= 23  # ~20 more, then one service


def test_priority_tickets_are_estimated_ahead_of_normal_ones(clock):
    core = new_core(clock, 1)
    for _ in range(4):
        core.issue("TP")
    normal = core.issue("TP").result
    prio = core.issue("TP", priority="elderly").result
    assert prio["ahead"] == 0
    assert prio["wait_minutes"] < normal["wait_minutes"]


def test_a_transfer_says_how_long_the_next_queue_is(clock):
    core = new_core(clock, 1, 4)
    for _ in range(3):
        core.issue("PHI")
    core.issue("TP")
    core.call_next(1)
    core.start(1)
    clock.advance(minutes=5)
    out = core.transfer(1, "PHI")
    res = out.result
    # Placed at the front of PHI: nobody ahead, counter 4 is idle.
    assert res["ahead"] == 0 and res["wait_unknown"] is None
    assert res["wait_range"][0] <= res["wait_minutes"] <= res["wait_range"][1]
    [ev] = [e for e in out.events if e.type == "ticket_transferred"]
    assert ev.data["wait_minutes"] == res["wait_minutes"]
    assert ev.data["wait_range"] == res["wait_range"]


def test_the_estimator_state_is_saved_with_the_core(clock):
    core = new_core(clock, 1)
    for _ in range(12):
        core.issue("TP")
    for _ in range(10):
        serve(core, clock, 1, 4)
    learned = core.service_seconds("TP", "TP01")
    again = QueueCore(make_config(), clock)
    again.load(core.meta_dict(), core.tickets.values(), core.counters.values(),
               core.visits.values(), core.ratings.values())
    assert again.service_seconds("TP", "TP01") == pytest.approx(learned)
    assert again.estimate_wait("TP") == core.estimate_wait("TP")


def test_calibration_learns_the_spread_of_real_waits(clock):
    core = new_core(clock, 1)
    before = [list(q) for q in core.estimator.state["cal"]]
    # Services far more variable than assumed: the range must widen.
    lengths = [1, 19, 2, 18, 1, 20, 2, 17] * 5
    for _ in range(len(lengths) + 2):
        core.issue("TP")
    for m in lengths:
        serve(core, clock, 1, m)
    after = core.estimator.state["cal"]
    assert after != before
    assert all(lo <= mid <= hi for lo, mid, hi in after)


# --- the call rule: fairness ---------------------------------------------------

def test_priority_run_counts_across_pauses(clock):
    core = new_core(clock, 1)
    normal = core.issue("TP").result["ticket"]["number"]
    prio = [core.issue("TP", priority="elderly").result["ticket"]["number"] for _ in range(3)]
    assert serve(core, clock, 1, 1) == prio[0]
    # A one-second pause must not restart the run of priority calls.
    core.pause(1, "Nghe điện thoại")
    clock.advance(seconds=1)
    core.resume(1)
    assert serve(core, clock, 1, 1) == prio[1]
    core.logout(1)
    core.login(1, "cb1")
    assert serve(core, clock, 1, 1) == normal  # two in a row: the normal ticket now
    assert serve(core, clock, 1, 1) == prio[2]


def test_ageing_bounds_how_long_front_placements_overtake(clock):
    core = new_core(clock, 4, overdue_after=1.0)
    tkq = core.issue("TKQ").result["ticket"]["number"]
    # Transfers into fee payment keep arriving at the front of counter 4's queue.
    core.login(1, "cb1")

    def transfer_in():
        core.issue("TP")
        core.call_next(1)
        core.start(1)
        core.transfer(1, "PHI")

    transfer_in()
    assert core.pick_next(4).department == "PHI"  # front placement first, for now
    clock.advance(minutes=11)  # TKQ's target is 10 minutes: now overdue
    transfer_in()
    assert core.pick_next(4).number == tkq
    assert core.estimate_wait("TKQ").minutes is not None


def test_without_ageing_a_front_placement_always_wins(clock):
    core = new_core(clock, 4)
    core.issue("TKQ")
    core.login(1, "cb1")
    clock.advance(minutes=60)
    core.issue("TP")
    core.call_next(1)
    core.start(1)
    core.transfer(1, "PHI")
    assert core.pick_next(4).department == "PHI"


def test_config_lunch_and_ageing_are_checked():
    from motcua.server.config import ConfigError

    def with_(center=None, queue=None):
        raw = _raw(**(queue or {}))
        raw["center"] = {**raw["center"], **(center or {})}
        return parse_config(raw)

    assert with_({"lunch": ["11:30", "13:30"]}).lunch is not None
    assert with_().lunch is None and with_().queue.overdue_after is None
    for bad in (["13:30", "11:30"], ["11:30"], ["6:00", "7:00"], ["11:30", "nope"]):
        with pytest.raises(ConfigError) as e:
            with_({"lunch": bad})
        assert "center.lunch" in str(e.value)
    with pytest.raises(ConfigError) as e:
        with_(queue={"overdue_after": 0})
    assert "queue.overdue_after" in str(e.value)
    assert with_(queue={"overdue_after": 1.5}).queue.overdue_after == 1.5
    assert with_({"lunch": ["11:30", "13:30"]}).public()["lunch"] == ["11:30", "13:30"]


def test_the_lunch_closure_is_known_on_the_first_day(clock):
    # 11:20 with a queue: the last ones are served after lunch, not at 11:50.
    clock.now = clock.now.replace(hour=11, minute=20)
    cfg = parse_config({**_raw(), "center": {**_raw()["center"], "lunch": ["11:30", "13:30"]}})
    core = QueueCore(cfg, clock)
    core.login(1, "cb1")
    for _ in range(5):
        core.issue("TP", "TP01")
    assert core.estimate_wait("TP").minutes > 100  # 5 × 10 min, with 2 h of lunch between
    plain = QueueCore(parse_config(_raw()), clock)
    plain.login(1, "cb1")
    for _ in range(5):
        plain.issue("TP", "TP01")
    assert plain.estimate_wait("TP").minutes < 70


def test_the_learned_state_is_saved_as_text_now_and_then(clock):
    core = new_core(clock, 1)
    first = core.meta_dict()["estimator"]
    assert isinstance(first, str) and '"svc"' in first
    for _ in range(4):
        core.issue("TP", "TP01")
    serve(core, clock, 1, 4)
    after = core.meta_dict()["estimator"]
    assert after != first  # minutes later: saved again
    core.issue("TP", "TP01")
    assert core.meta_dict()["estimator"] == after  # a second later: not encoded again
    clock.advance(minutes=2)
    core.issue("TP", "TP01")
    assert core.meta_dict()["estimator"] != after


# --- issue 16: one cached look-ahead per group and state ----------------------

def _lockstep_day(config, day, seed, until=24.0):
    """The same simulated day on two cores, the cached estimator against the
    uncached one (a look-ahead through the whole queue for every ticket)."""
    from motcua.sim.model import DaySimulation
    from motcua.sim.profile import Profile
    from motcua.sim.run import SimClock, day_rng

    clock = SimClock()
    cached, uncached = QueueCore(config, clock), QueueCore(config, clock)
    uncached.estimator.cached = False
    sim = DaySimulation(config, Profile.for_config(config, 0.8), day, day_rng(seed, day))
    while (action := sim.next_action()) is not None and action.at < until * 3600:
        clock.now = sim.timestamp(action.at)
        outs = []
        for core in (cached, uncached):
            try:
                outs.append((core.execute(action.kind, **action.args).result, None))
            except core_module.QueueError as e:
                outs.append((None, e.code))
        yield action, outs, cached, uncached
        sim.feed(action, *outs[0])


def _some(queue):
    """The first and the last waiting ticket of a queue (by id)."""
    ids = list(queue)
    return {tid: queue[tid] for tid in ids[:1] + ids[-1:]}


def test_the_cached_look_ahead_answers_as_the_uncached_one_all_day(monkeypatch):
    # Lunch, ageing and shared counters: every issue, call, start, finish,
    # pause, transfer and cancel of a busy day, and after each of them every
    # department view and every waiting ticket's page, on both cores. The
    # horizon (an approximation of its own, tested below) is out of reach:
    # this day's queues are long.
    monkeypatch.setattr(est_module, "HORIZON", 100_000)
    cfg = parse_config({**_raw(overdue_after=1.0),
                        "center": {**_raw()["center"], "lunch": ["11:30", "13:00"]}})
    kinds: dict[str, int] = {}
    compared = known = later = 0
    fields = ("ahead", "wait_minutes", "wait_range", "wait_unknown")
    refs: dict[tuple[str, ...], tuple[float, dict]] = {}
    for action, outs, a, b in _lockstep_day(cfg, datetime(2026, 11, 23).date(), "lockstep",
                                            until=12.0):
        est = a.estimator
        if not refs:
            real = est._look_ahead

            def spy(depts, numbers, now, real=real, est=est, a=a):
                # Each new look-ahead: the uncached answers from the same state.
                want = {}
                for code in depts:
                    want[code] = est.lookahead(code, now)
                    for tid, t in _some(a.waiting[code]).items():
                        want[tid] = est.lookahead(code, now, t)
                refs[depts] = (now, want)
                return real(depts, numbers, now)
            est._look_ahead = spy
        kinds[action.kind] = kinds.get(action.kind, 0) + 1
        (ra, ea), (rb, eb) = outs
        assert ea == eb, action
        estimated = ra is not None and "wait_minutes" in ra
        if not estimated:
            for d in cfg.departments:
                assert a.department_view(d.code) == b.department_view(d.code), (action, d.code)
            for code, queue in a.waiting.items():
                for tid, t in _some(queue).items():
                    got, want = a._ahead_and_wait(t), b._ahead_and_wait(b.tickets[tid])
                    assert got == want, (action, t.number)
                    assert got["ahead"] == sum(1 for o in queue.values() if o.key < t.key and (
                        o.priority or not t.priority)), (action, t.number)
                    compared += 1
                    known += got["wait_minutes"] is not None and got["wait_minutes"] > 0
            continue
        # Issue and transfer: the reply's own estimate.
        assert {k: ra[k] for k in fields} == {k: rb[k] for k in fields}, action
        # The views and the pages: the uncached core looks ahead anew, after
        # what this command taught the estimator (and its view of the reply's
        # department came from the reply's look-ahead, where the new ticket
        # surely stays); the cached one answers from the look-ahead made from
        # the state the reply saw — as an uncached one from that state does.
        now = a.clock().timestamp()
        for d in cfg.departments:
            got = est.estimate(d.code, now)  # (a new look-ahead if the group changed)
            now, want = refs[est.group(d.code)[0]]
            raw = want[d.code]
            if d.open:
                assert got == (est._calibrated(*raw[1]) if raw else
                               est_module.Estimate(None, unknown="no_open_counter")), action
            for tid, t in _some(a.waiting[d.code]).items():
                raw = want[tid]
                if raw is not None:
                    assert est.estimate(d.code, now, t) == est._calibrated(*raw[0]), action
                    later += 1
    for kind in ("issue", "call_next", "start", "finish", "pause", "resume", "transfer"):
        assert kinds.get(kind, 0) > 0, kinds
    assert compared > 1000 and known > 800 and later > 300, (compared, known, later)
    assert a.estimator.horizon_hits == 0


def test_any_change_makes_the_cached_look_ahead_stale(clock):
    core = new_core(clock, 1, 2)
    for _ in range(6):
        core.issue("TP", "TP01")
    core.tick()  # (the last issue's own look-ahead came before it learned the arrival)
    est = core.estimator
    now = clock.now.timestamp()
    last = list(core.waiting["TP"].values())[-1]
    before = est.estimate("TP", now, last)
    view = est.estimate("TP", now)

    def fresh(ticket=None):
        raw = est.lookahead("TP", now, ticket)
        return est._calibrated(*(raw[0] if ticket is not None else raw[1]))

    assert before == fresh(last) and view == fresh()
    # At the same instant, counter 2 pauses: the queue moves at half speed.
    core.pause(2, "Họp")
    after = est.estimate("TP", now, last)
    assert after == fresh(last) and after.seconds > before.seconds + 600
    assert est.estimate("TP", now) == fresh() != view
    core.call_next(1)
    assert est.estimate("TP", now, last) == fresh(last)
    after = fresh(last)
    # A ticket put back in the queue by hand (no command: the queue hook alone).
    t = core.tickets[core.counters[1].ticket_id]
    core._dequeue(last)
    moved = est.estimate("TP", now)
    assert moved == fresh() and moved.seconds < est.estimate("TP", now).seconds + 1
    core._add_waiting(last)
    assert est.estimate("TP", now, last) == fresh(last) == after
    assert t.status == core_module.CALLED


def test_one_look_ahead_answers_a_whole_group(clock, monkeypatch):
    core = new_core(clock, 1, 2, 3)
    for i in range(12):
        core.issue("TP" if i % 3 else "XD", None, "elderly" if i == 7 else None)
    est = core.estimator
    runs = []
    real = est._look_ahead
    monkeypatch.setattr(est, "_look_ahead", lambda *a: runs.append(a) or real(*a))
    est.changed()
    views = [core.department_view(code) for code in ("TP", "XD")]
    pages = [core._ahead_and_wait(t) for code in ("TP", "XD") for t in core.waiting[code].values()]
    assert len(runs) == 1  # TP and XD share counter 2: one group, one look-ahead
    assert all(v["wait_minutes"] is not None for v in views)
    assert all(p["wait_minutes"] is not None for p in pages)
    core.department_view("PHI")  # another group: its own
    assert len(runs) == 2


def test_the_estimator_follows_live_configuration_changes(clock):
    core = new_core(clock, 1, 2, 3)
    for _ in range(4):
        core.issue("TP", "TP01")
        core.issue("XD", "XD01")
    assert core.estimator.shared("TP")
    core.configure({"kind": "close_department", "department": "XD"})
    assert core.department_view("XD")["wait_unknown"] == "department_closed"
    # Counter 2 now serves XD only: TP and XD are no longer one group.
    core.configure({"kind": "set_counter_departments", "counter": 2, "departments": ["XD"]})
    assert not core.estimator.shared("TP")
    assert core.estimator.group("TP") == (("TP",), (1,))
    now = clock.now.timestamp()
    est = core.estimator
    assert core.estimate_wait("TP") == est._calibrated(*est.lookahead("TP", now)[1])


def test_past_the_horizon_tickets_are_extrapolated_in_order(clock):
    core = new_core(clock, 1, 2)
    for _ in range(300):
        core.issue("TP", "TP01")
    core.tick()
    est = core.estimator
    hits = est.horizon_hits
    now = clock.now.timestamp()
    queue = list(core.waiting["TP"].values())
    waits = [est.estimate("TP", now, t).seconds for t in queue]
    assert est.horizon_hits == hits + 1  # one look-ahead for all 300
    assert all(a <= b for a, b in zip(waits, waits[1:]))
    for t in (queue[150], queue[-1]):
        full = est.lookahead("TP", now, t)[0][0]
        assert abs(est.estimate("TP", now, t).seconds - full) < 0.1 * full
    full = est.lookahead("TP", now)[1][0]
    assert abs(est.estimate("TP", now).seconds - full) < 0.1 * full
