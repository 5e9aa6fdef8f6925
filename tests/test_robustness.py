"""Regression tests for defects found in review: each one failed before its fix.

Real server on 127.0.0.1, real SQLite file, real websocket clients; failures
are injected with real SQLite mechanisms (an aborting trigger, a held lock).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from websockets.asyncio.client import connect

from conftest import TOKENS, Harness, wait_for
from conftest import HandClock as Clock
from motcua.client import ServerError
from motcua.server.core import QueueCore


async def test_a_visit_served_across_midnight_can_still_finish(open_config, tmp_path):
    clock = Clock(datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc))  # 17:00 in Hà Nội
    h = Harness(open_config, tmp_path / "m.db", clock)
    await h.start()
    try:
        kiosk = await h.client("kiosk")
        desk = await h.client("counter", counter=1)
        await kiosk.request("issue", department="TP", request_id="r1")
        await desk.request("login", officer="cb01", pin="1234")
        await desk.request("call_next")
        await desk.request("start")
        clock.now += timedelta(hours=15)  # 08:00 the next day
        await h.server._apply("tick")
        await h.restart()  # and a restart overnight, for good measure
        await desk.wait_ready(5)
        done = await desk.request("finish")
        assert done["ticket"]["status"] == "done" and done["visit"]["outcome"] == "served"
        with sqlite3.connect(h.db) as db:
            assert db.execute("SELECT status FROM tickets").fetchall() == [("done",)]
            assert db.execute("SELECT ticket_id FROM counters WHERE number=1").fetchone() == (None,)
    finally:
        await h.close()


async def test_concurrent_commands_after_a_failed_commit_recover_once(harness):
    kiosk = await harness.client("kiosk")
    c6 = await harness.client("counter", "c6", counter=6)
    c7 = await harness.client("counter", "c7", counter=7)
    dept = harness.config.counter(6).departments[0]
    assert dept in harness.config.counter(7).departments
    for i in range(2):
        await kiosk.request("issue", department=dept, request_id=f"g{i}")
    await c6.request("login", officer="cb06", pin="1234")
    await c7.request("login", officer="cb07", pin="1234")
    with sqlite3.connect(harness.db) as db:
        db.execute("CREATE TRIGGER fail BEFORE INSERT ON tickets WHEN NEW.department = 'XD' "
                   "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
    with pytest.raises(ServerError):
        await kiosk.request("issue", department="XD", request_id="bad")
    with sqlite3.connect(harness.db) as db:
        db.execute("DROP TRIGGER fail")
    r6, r7 = await asyncio.gather(c6.request("call_next"), c7.request("call_next"))
    assert r6["ticket"]["number"] != r7["ticket"]["number"]
    with sqlite3.connect(harness.db) as db:
        held = db.execute("SELECT ticket_id FROM counters WHERE number IN (6, 7)").fetchall()
        assert len({t for (t,) in held}) == 2
        assert db.execute("SELECT count(*) FROM visits").fetchone() == (2,)


async def test_a_retry_is_not_acknowledged_before_the_original_commits(harness):
    first_kiosk = await harness.client("kiosk", "kiosk-1")
    after_reconnect = await harness.client("kiosk", "kiosk-1")  # same device, new connection
    locker = sqlite3.connect(harness.db, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # a backup tool holding the write lock
    try:
        first = asyncio.ensure_future(
            first_kiosk.request("issue", timeout=20, department="TP", request_id="X"))
        await asyncio.sleep(0.3)
        retry = asyncio.ensure_future(
            after_reconnect.request("issue", timeout=20, department="TP", request_id="X"))
        await asyncio.sleep(0.5)
        assert not retry.done()  # held back until the original's fate is known
    finally:
        await asyncio.sleep(0)
    outcomes = await asyncio.gather(first, retry, return_exceptions=True)
    locker.execute("ROLLBACK")
    locker.close()
    # The original failed (the lock outlasted busy_timeout): so did the retry.
    assert all(isinstance(o, ServerError) and o.code == "storage" for o in outcomes), outcomes
    again = await after_reconnect.request("issue", department="TP", request_id="X")
    other = await harness.client("kiosk", "kiosk-2")
    nxt = await other.request("issue", department="TP", request_id="Y")
    assert (again["ticket"]["number"], nxt["ticket"]["number"]) == ("A001", "A002")


async def raw(harness, role="kiosk"):
    ws = await connect(harness.url)
    await ws.send(json.dumps({"type": "hello", "role": role, "device": "raw",
                              "token": TOKENS[role], "protocol": 1}))
    assert json.loads(await ws.recv())["type"] == "welcome"
    return ws


async def reply(ws, text):
    await ws.send(text)
    while True:
        msg = json.loads(await ws.recv())
        if msg["type"] in ("reply", "error"):
            return msg


async def test_lone_surrogates_and_deep_nesting_are_bad_json(harness):
    ws = await raw(harness)
    honest = await harness.client("kiosk", "honest")
    for text in ('{"type": "issue", "department": "TP", "request_id": "\\ud800"}',
                 '{"type": "nope\\udfff"}', "[" * 5000, '{"a":' * 3000):
        msg = await reply(ws, text)
        assert msg["code"] == "bad_json", (text[:30], msg)
    assert (await honest.request("issue", department="TP", request_id="ok"))["ticket"]
    assert not harness.server.store.failed
    await ws.close()
    async with connect(harness.url) as ws:  # in a hello too: an error, not a crash
        await ws.send("[" * 5000)
        assert json.loads(await ws.recv())["code"] == "bad_json"


async def test_a_refused_login_changes_nothing(harness):
    kiosk = await harness.client("kiosk")
    c1 = await harness.client("counter", "c1", counter=1)
    c2 = await harness.client("counter", "c2", counter=2)
    await kiosk.request("issue", department=harness.config.counter(2).departments[0],
                        request_id="1")
    await c1.request("login", officer="cb01", pin="1234")
    await c2.request("login", officer="cb02", pin="1234")
    await c2.request("call_next")
    with pytest.raises(ServerError) as e:  # cb01 tries counter 2, busy with cb02's citizen
        await c2.request("login", officer="cb01", pin="1234")
    assert e.value.code == "counter_busy"
    assert harness.server.core.counters[1].officer == "cb01"
    with sqlite3.connect(harness.db) as db:
        assert db.execute("SELECT status, officer FROM counters WHERE number=1").fetchone() == \
            ("open", "cb01")


async def test_cancelling_a_ticket_called_elsewhere(harness):
    kiosk = await harness.client("kiosk")
    display = await harness.client("display")
    admin = await harness.client("admin")
    c6 = await harness.client("counter", "c6", counter=6)
    c7 = await harness.client("counter", "c7", counter=7)
    dept = harness.config.counter(6).departments[0]
    await kiosk.request("issue", department=dept, request_id="1")
    await c6.request("login", officer="cb06", pin="1234")
    await c7.request("login", officer="cb07", pin="1234")
    number = (await c6.request("call_next"))["ticket"]["number"]
    with pytest.raises(ServerError) as e:  # another counter may not take it away
        await c7.request("cancel", number=number)
    assert e.value.code == "held_elsewhere"
    await admin.request("cancel", number=number)  # an admin may
    await wait_for(lambda: display.state.counters[6]["ticket"] is None)
    await wait_for(lambda: c6.state.counters[6]["ticket"] is None)


async def test_waiting_list_of_an_unknown_counter(harness):
    admin = await harness.client("admin")
    with pytest.raises(ServerError) as e:
        await admin.request("waiting_list", counter=999)
    assert e.value.code == "unknown_counter"


def test_expiries_at_rollover_count_for_the_day_before(open_config):
    from zoneinfo import ZoneInfo
    from motcua.server.storage import rows_for
    clock = Clock(datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")))
    core = QueueCore(open_config, clock)
    core.issue("TP")
    clock.now += timedelta(days=1)
    out = core.tick()
    days = {row[2]: row[1] for row in rows_for(core, out).events}
    assert days == {"ticket_expired": "2026-03-02", "day_started": "2026-03-03"}


def test_a_clock_stepping_back_over_midnight_does_not_restart_numbering(open_config):
    from zoneinfo import ZoneInfo
    clock = Clock(datetime(2026, 3, 3, 0, 0, 30, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")))
    core = QueueCore(open_config, clock)
    assert core.issue("TP").result["ticket"]["number"] == "A001"
    clock.now -= timedelta(minutes=1)  # NTP correction back into yesterday
    assert core.issue("TP").result["ticket"]["number"] == "A002"
    clock.now += timedelta(minutes=5)
    assert core.issue("TP").result["ticket"]["number"] == "A003"
