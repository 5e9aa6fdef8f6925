"""Unit tests of the pure queue core, with an injected clock."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from conftest import HandClock as Clock

from motcua.server.config import parse_config
from motcua.server.core import DONE, FINAL, QueueCore, QueueError

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def make_config(**queue):
    """A small center: three departments, four counters."""
    data = {
        "center": {"name": "Trung tâm thử", "opens": "07:30", "closes": "17:00",
                   "last_ticket": "16:30", "open_days": ["mon", "tue", "wed", "thu", "fri"]},
        "queue": {"max_priority_in_row": 2, **queue},
        "priority_groups": [{"code": "elderly", "vi": "Người cao tuổi", "en": "Elderly"}],
        "departments": [
            {"code": "TP", "letter": "A", "vi": "Tư pháp", "en": "Justice", "target_wait": 15,
             "procedures": [{"code": "TP01", "vi": "Đăng ký kết hôn", "minutes": 10}]},
            {"code": "XD", "letter": "B", "vi": "Xây dựng", "target_wait": 20, "daily_cap": 3,
             "procedures": [{"code": "XD01", "vi": "Cấp phép xây dựng", "minutes": 20}]},
            {"code": "CT", "letter": "C", "vi": "Công thương", "open": False},
        ],
        "counters": [
            {"number": 1, "departments": ["TP"]},
            {"number": 2, "departments": ["TP", "XD"]},
            {"number": 3, "departments": ["XD"]},
            {"number": 4, "departments": ["CT"]},
        ],
        "officers": [{"id": f"cb{i}", "name": f"Cán bộ {i}",
                      "pin_hash": "pbkdf2_sha256$1$s$00"} for i in range(1, 5)],
        "devices": {r: f"{r}-token" for r in ("kiosk", "counter", "display", "rating", "admin")},
    }
    return parse_config(data)


@pytest.fixture
def clock():
    return Clock(datetime(2026, 11, 23, 8, 0, tzinfo=TZ))  # a Monday


@pytest.fixture
def core(clock):
    c = QueueCore(make_config(), clock)
    for n in (1, 2, 3):
        c.login(n, f"cb{n}")
    return c


def issue(core, dept="TP", **kw):
    return core.issue(dept, **kw).result["ticket"]


def test_numbers_per_department_letter_and_never_repeated(core, clock):
    assert [issue(core)["number"] for _ in range(3)] == ["A001", "A002", "A003"]
    assert issue(core, "XD")["number"] == "B001"
    clock.advance(minutes=1)
    assert issue(core)["number"] == "A004"


def test_numbering_restarts_next_day_and_waiting_tickets_expire(core, clock):
    first = issue(core)
    clock.now = clock.now.replace(day=24, hour=8)
    t = issue(core)
    assert t["number"] == "A001" and t["day"] == "2026-11-24"
    assert core.tickets.get(first["id"]) is None or core.tickets[first["id"]].status == "expired"
    assert core.department_view("TP")["waiting"] == 1


def test_expire_waiting_at_closes_the_day(clock):
    core = QueueCore(make_config(expire_waiting_at="17:30"), clock)
    t = issue(core)
    clock.now = clock.now.replace(hour=17, minute=31)
    out = core.tick()
    assert [e.type for e in out.events] == ["ticket_expired"]
    assert core.tickets[t["id"]].status == "expired"
    assert core.tick().events == []  # once a day


@pytest.mark.parametrize("when,code", [
    (datetime(2026, 11, 23, 7, 0), "before_hours"),
    (datetime(2026, 11, 23, 16, 45), "after_hours"),
    (datetime(2026, 11, 22, 9, 0), "closed_today"),  # a Sunday
])
def test_refusals_outside_hours(core, clock, when, code):
    clock.now = when.replace(tzinfo=TZ)
    with pytest.raises(QueueError) as e:
        core.issue("TP")
    assert e.value.code == code
    assert e.value.message and e.value.message_en


def test_refusals_unknown_closed_and_cap(core):
    for dept, code in (("ZZ", "unknown_department"), ("CT", "department_closed")):
        with pytest.raises(QueueError) as e:
            core.issue(dept)
        assert e.value.code == code
    for _ in range(3):
        issue(core, "XD")
    with pytest.raises(QueueError) as e:
        core.issue("XD")
    assert e.value.code == "daily_cap" and "3" in e.value.message
    with pytest.raises(QueueError) as e:
        core.issue("TP", procedure="XD01")
    assert e.value.code == "unknown_procedure"


def test_retry_with_same_request_id_returns_same_ticket(core):
    a = core.issue("TP", device="k1", request_id="r-1")
    b = core.issue("TP", device="k1", request_id="r-1")
    assert a.result["ticket"]["id"] == b.result["ticket"]["id"]
    assert b.result["repeat"] is True and not b.changed
    c = core.issue("TP", device="k2", request_id="r-1")  # another kiosk's id space
    assert c.result["ticket"]["number"] == "A002"


def test_priority_mixed_never_starves_normal(core, clock):
    normal = [issue(core)["number"] for _ in range(3)]
    clock.advance(minutes=1)
    prio = [issue(core, priority="elderly")["number"] for _ in range(5)]
    called = []
    for _ in range(8):
        called.append(core.call_next(1).result["ticket"]["number"])
        core.finish(1)
    # at most two priority calls in a row while normal tickets wait
    assert called == [prio[0], prio[1], normal[0], prio[2], prio[3], normal[1], prio[4], normal[2]]


def test_priority_continues_when_nobody_normal_waits(core):
    prio = [issue(core, priority="elderly")["number"] for _ in range(4)]
    called = []
    for _ in range(4):
        called.append(core.call_next(1).result["ticket"]["number"])
        core.finish(1)
    assert called == prio


def test_longest_waiting_across_departments(core, clock):
    b = issue(core, "XD")["number"]
    clock.advance(minutes=2)
    a = issue(core, "TP")["number"]
    assert core.call_next(2).result["ticket"]["number"] == b
    core.finish(2)
    assert core.call_next(2).result["ticket"]["number"] == a


def test_preference_policy_serves_first_department_first(clock):
    core = QueueCore(make_config(call_policy="preference"), clock)
    core.login(2, "cb2")
    b = issue(core, "XD")["number"]
    clock.advance(minutes=2)
    a = issue(core, "TP")["number"]
    assert core.call_next(2).result["ticket"]["number"] == a  # TP is counter 2's first
    core.finish(2)
    assert core.call_next(2).result["ticket"]["number"] == b


@pytest.mark.parametrize("placement,expected_first", [
    ("front", "A001"), ("back", "B002"), ("original", "A001")])
def test_transfer_placement(clock, placement, expected_first):
    core = QueueCore(make_config(transfer_placement=placement), clock)
    for n in (1, 3):
        core.login(n, f"cb{n}")
    issue(core, "TP")  # A001 at 08:00
    clock.advance(minutes=1)
    issue(core, "XD")  # B001
    clock.advance(minutes=1)
    issue(core, "XD")  # B002
    clock.advance(minutes=1)
    core.call_next(3)  # B001 goes to counter 3
    core.call_next(1)
    core.start(1)
    clock.advance(minutes=5)
    out = core.transfer(1, "XD", note="nộp phí")
    t = out.result["ticket"]
    assert t["number"] == "A001" and t["department"] == "XD" and t["transfers"] == 1
    assert out.result["visit"]["outcome"] == "transferred"
    core.finish(3)
    assert core.call_next(3).result["ticket"]["number"] == expected_first


def test_recall_no_show_and_back_to_queue(core, clock):
    a = issue(core)["number"]
    b = issue(core)["number"]
    core.call_next(1)
    core.recall(1)
    out = core.recall(1)
    assert out.result["ticket"]["recalls"] == 2
    assert out.events[0].type == "ticket_called" and out.events[0].data["recall"] == 2
    core.no_show(1)
    assert core.tickets[core.by_number[(core.meta.day, a)]].status == "no_show"
    clock.advance(minutes=3)
    core.requeue(a, counter=1)  # requeue_placement "back": behind B
    assert core.call_next(1).result["ticket"]["number"] == b
    core.finish(1)
    assert core.call_next(1).result["ticket"]["number"] == a


def test_call_specific_ticket_and_wrong_states(core):
    issue(core)
    x = issue(core, "XD")["number"]
    with pytest.raises(QueueError) as e:
        core.call_ticket(1, x)
    assert e.value.code == "not_served_here"
    assert core.call_ticket(2, x).result["ticket"]["number"] == x
    with pytest.raises(QueueError) as e:
        core.call_next(2)
    assert e.value.code == "counter_busy"
    with pytest.raises(QueueError) as e:
        core.call_ticket(1, "A999")
    assert e.value.code == "unknown_ticket"
    with pytest.raises(QueueError) as e:
        core.no_show(3)
    assert e.value.code == "no_current_ticket"


def test_counter_states(core):
    with pytest.raises(QueueError) as e:
        core.call_next(4)
    assert e.value.code == "not_logged_in"
    issue(core)
    core.pause(1, "Nghỉ giải lao")
    assert core.counters[1].status == "paused" and core.counters[1].reason == "Nghỉ giải lao"
    with pytest.raises(QueueError) as e:
        core.call_next(1)
    assert e.value.code == "counter_paused"
    core.resume(1)
    core.call_next(1)
    with pytest.raises(QueueError) as e:
        core.logout(1)
    assert e.value.code == "counter_busy"
    core.finish(1)
    core.logout(1)
    assert core.counters[1].status == "closed" and core.counters[1].officer is None
    # an officer logging in elsewhere leaves the old counter
    core.login(4, "cb2")
    assert core.counters[2].status == "closed" and core.counters[4].officer == "cb2"


def test_ahead_counts_only_those_really_ahead(core):
    issue(core)
    issue(core)
    out = core.issue("TP", priority="elderly")
    assert out.result["ahead"] == 0
    assert core.issue("TP").result["ahead"] == 3


def test_rating_rules(core, clock):
    issue(core)
    visit = core.call_next(1).result["ticket"]["visit"]
    with pytest.raises(QueueError) as e:
        core.rate(visit, 4)
    assert e.value.code == "visit_not_ended"
    core.start(1)
    core.finish(1)
    with pytest.raises(QueueError) as e:
        core.rate(visit, 9)
    assert e.value.code == "bad_rating"
    with pytest.raises(QueueError) as e:
        core.rate(visit, 4, reason="officer")
    assert e.value.code == "reason_not_allowed"
    r = core.rate(visit, 1, reason="officer", request_id="p1").result["rating"]
    assert (r["officer"], r["counter"], r["department"], r["reason"]) == ("cb1", 1, "TP", "officer")
    again = core.rate(visit, 1, reason="officer", request_id="p1")
    assert again.result["repeat"] and not again.changed
    with pytest.raises(QueueError) as e:
        core.rate(visit, 4, request_id="p2")
    assert e.value.code == "already_rated"
    issue(core)
    v2 = core.call_next(1).result["ticket"]["visit"]
    core.finish(1)
    clock.advance(seconds=301)
    with pytest.raises(QueueError) as e:
        core.rate(v2, 4)
    assert e.value.code == "rating_window_closed"


def test_refused_command_keeps_its_day_rollover(core, clock):
    issue(core)
    clock.now = clock.now.replace(day=24, hour=7, minute=0)  # next day, before hours
    with pytest.raises(QueueError) as e:
        core.execute("issue", department="TP")
    assert e.value.code == "before_hours"
    assert e.value.outcome is not None
    assert [ev.type for ev in e.value.outcome.events] == ["ticket_expired", "day_started"]


def test_simulated_day(clock):
    """600 tickets, 8 departments, 12 counters, a whole day in milliseconds."""
    depts = [{"code": f"D{i}", "letter": "ABCDEFGH"[i], "vi": f"Lĩnh vực {i}",
              "procedures": [{"code": f"D{i}P", "vi": "Thủ tục", "minutes": 8}]}
             for i in range(8)]
    counters = [{"number": n + 1, "departments": [f"D{n % 8}", f"D{(n + 3) % 8}"]}
                for n in range(12)]
    config = parse_config({
        "center": {"name": "Mô phỏng", "opens": "07:30", "closes": "17:00",
                   "last_ticket": "16:30", "open_days": ["mon"]},
        "queue": {"expire_waiting_at": "17:30"},
        "priority_groups": [{"code": "p", "vi": "Ưu tiên"}],
        "departments": depts, "counters": counters,
        "officers": [{"id": f"o{n}", "name": f"CB {n}", "pin_hash": "pbkdf2_sha256$1$s$0"}
                     for n in range(1, 13)],
        "devices": {r: "token" for r in ("kiosk", "counter", "display", "rating", "admin")},
    })
    clock.now = datetime(2026, 11, 23, 7, 30, tzinfo=TZ)
    core = QueueCore(config, clock)
    rng = random.Random(7)
    for n in range(1, 13):
        core.login(n, f"o{n}")
    issued, ratings = 0, 0
    while clock.now.hour < 18:
        clock.advance(seconds=30)
        if issued < 600 and clock.now.hour < 16 and rng.random() < 0.75:
            try:
                core.issue(f"D{rng.randrange(8)}", priority="p" if rng.random() < 0.1 else None,
                           device="k", request_id=str(issued))
                issued += 1
            except QueueError as e:
                assert e.code in ("after_hours",)
        for n in range(1, 13):
            if rng.random() > 0.35:
                continue
            state = core.counters[n]
            try:
                if state.ticket_id is None:
                    core.call_next(n)
                else:
                    t = core.tickets[state.ticket_id]
                    roll = rng.random()
                    if t.status == "called" and roll < 0.05:
                        core.no_show(n)
                    elif t.status == "called":
                        core.start(n)
                    elif roll < 0.05:
                        target = next(d.code for d in config.departments if d.code != t.department)
                        core.transfer(n, target)
                    else:
                        out = core.finish(n)
                        v = out.result["visit"]["id"]
                        if rng.random() < 0.7:
                            core.rate(v, rng.choice([4, 3, 2, 1]))
                            ratings += 1
            except QueueError as e:
                assert e.code in ("nobody_waiting",), e.code
        for code, queue in core.waiting.items():  # the O(1) caches match a full scan
            view = core.department_view(code)
            assert view["priority_waiting"] == sum(1 for t in queue.values() if t.priority)
            assert view["oldest_since"] == min((t.queued_at for t in queue.values()), default=None)
    # end of day: finish anything still at a counter, then let expiry run
    for n, state in core.counters.items():
        if state.ticket_id is not None:
            core.finish(n)
    clock.now = clock.now.replace(hour=17, minute=45)
    core.tick()
    tickets = list(core.tickets.values())
    assert len(tickets) == issued == 600
    assert all(t.status in FINAL for t in tickets), {t.status for t in tickets}
    numbers = [t.number for t in tickets]
    assert len(numbers) == len(set(numbers))
    assert sum(t.status == DONE for t in tickets) > 400
    assert len(core.ratings) == ratings > 200
    for r in core.ratings.values():
        v = core.visits[r.visit_id]
        assert v.outcome in ("served", "transferred") and v.ended_at <= r.at
        assert (r.officer, r.counter, r.ticket_id) == (v.officer, v.counter, v.ticket_id)


def test_core_imports_no_io_frameworks():
    code = ("import sys, motcua.server.core, motcua.server.config; "
            "bad = [m for m in ('asyncio', 'websockets', 'aiosqlite', 'textual') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_officer_stats_and_pending_visit(core, clock):
    for _ in range(3):
        issue(core)
    core.call_next(1)
    core.start(1)
    clock.advance(minutes=6)
    visit = core.finish(1).result["visit"]["id"]
    core.call_next(1)
    core.no_show(1)
    core.call_next(1)
    core.start(1)
    clock.advance(minutes=2)
    core.transfer(1, "XD")
    assert core.pending_visit(1).outcome == "transferred"  # the newest ended visit
    core.rate(core.pending_visit(1).id, 4)
    assert core.pending_visit(1).id == visit
    core.rate(visit, 1, reason="result")
    assert core.pending_visit(1) is None
    stats = core.officer_stats("cb1")
    assert (stats["served"], stats["transferred"], stats["no_show"]) == (1, 1, 1)
    assert stats["mean_service_seconds"] == 360 and stats["ratings"] == {"4": 1, "1": 1}
    assert core.officer_stats("cb2")["served"] == 0


def test_wrong_state_message_is_all_english_in_english(core):
    issue(core)
    core.call_next(1)
    core.start(1)
    with pytest.raises(QueueError) as e:
        core.no_show(1)
    assert e.value.message_en == "Ticket A001 is serving; cannot mark it a no-show."
    assert "đang phục vụ" in e.value.message
