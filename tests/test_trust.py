"""Who may act: a login belongs to the session that made it, a rating pad
rates only its own counter, a counter acts only on its departments, PIN
guessing is throttled. Each test failed before its fix (issue 9).

Real server on 127.0.0.1 (port 0), real SQLite file, real websocket clients.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from conftest import TOKENS, wait_for
from motcua.client import MotcuaClient, ServerError
from motcua.monitor.model import Monitor
from motcua.server.lockout import LIMITS, LoginLimiter


async def _refused(client, type_, code, **fields):
    with pytest.raises(ServerError) as e:
        await client.request(type_, **fields)
    assert e.value.code == code, (type_, e.value.code)
    return e.value


def _events(db, *types):
    marks = ",".join("?" * len(types))
    with sqlite3.connect(db) as conn:
        return [(t, dev, json.loads(data)) for t, dev, data in conn.execute(
            f"SELECT type, device, data FROM events WHERE type IN ({marks}) ORDER BY id", types)]


async def test_a_second_device_at_the_counter_cannot_act_without_its_own_login(harness):
    kiosk = await harness.client("kiosk")
    for i in range(3):
        await kiosk.request("issue", department="TP", request_id=f"t{i}")
    desk = await harness.client("counter", "desk-1", counter=1)
    await desk.request("login", officer="cb01", pin="1234")
    await desk.request("call_next")

    # Same counter token, same counter number, no PIN: everything done in
    # the officer's name is refused, and the connection stays up.
    intruder = await harness.client("counter", "intruder", counter=1)
    for cmd in ("finish", "start", "recall", "no_show", "call_next", "pause", "logout",
                "officer_stats"):
        await _refused(intruder, cmd, "login_required",
                       **({"reason": "x"} if cmd == "pause" else {}))
    await _refused(intruder, "cancel", "login_required", number="A002")
    await _refused(intruder, "requeue", "login_required", number="A001")
    assert (await intruder.request("ping"))["ok"]
    # Reading the queue is not acting: allowed.
    assert len((await intruder.request("waiting_list"))["tickets"]) == 2
    # The officer's own console is unaffected.
    assert (await desk.request("finish"))["ticket"]["status"] == "done"

    # Taking over with the PIN ends the first console's session, visibly.
    ended = []
    desk.on_event = lambda ev: ended.append(ev.raw) if ev.type == "session_ended" else None
    await intruder.request("login", officer="cb01", pin="1234")
    await wait_for(lambda: ended, 5)
    assert ended[0]["reason"] == "taken_over" and ended[0]["counter"] == 1
    await _refused(desk, "call_next", "login_required")
    assert (await intruder.request("call_next"))["ticket"]["number"] == "A002"
    opened = [d for t, dev, d in _events(harness.db, "counter_opened") if dev == "intruder"]
    assert opened and opened[-1]["takeover"] is True


async def test_a_console_resumes_its_login_after_a_blip_and_a_restart(harness):
    kiosk = await harness.client("kiosk")
    await kiosk.request("issue", department="TP", request_id="r1")
    await kiosk.request("issue", department="TP", request_id="r2")
    desk = await harness.client("counter", "desk-1", counter=1)
    reply = await desk.request("login", officer="cb01", pin="1234")
    assert len(reply["session"]) >= 40  # a secret, not a guessable number
    await desk.request("call_next")
    await harness.restart()
    await desk.wait_ready(10)
    # No new PIN: the secret held by the client resumed the login.
    assert (await desk.request("finish"))["ticket"]["number"] == "A001"
    assert (await desk.request("call_next"))["ticket"]["number"] == "A002"
    # A made-up session secret resumes nothing.
    forged = MotcuaClient(harness.url, "counter", "forged", TOKENS["counter"], 1)
    forged.session = "x" * 43
    forged.start()
    harness.clients.append(forged)
    await forged.wait_ready(5)
    assert forged.session is None
    await _refused(forged, "finish", "login_required")
    # After a logout the old secret is worthless, also across a restart.
    await desk.request("finish")
    secret = desk.session
    await desk.request("logout")
    assert desk.session is None
    replay = MotcuaClient(harness.url, "counter", "replay", TOKENS["counter"], 1)
    replay.session = secret
    replay.start()
    harness.clients.append(replay)
    await replay.wait_ready(5)
    assert replay.session is None


async def test_a_rating_pad_rates_only_its_own_counters_visits(harness):
    kiosk = await harness.client("kiosk")
    t = await kiosk.request("issue", department="TP", request_id="v1")
    assert t["ticket"]["department"] in harness.config.counter(1).departments
    desk = await harness.client("counter", "desk-1", counter=1)
    await desk.request("login", officer="cb01", pin="1234")
    heard: dict[int, list[str]] = {1: [], 2: []}
    pad1 = await harness.client("rating", "pad-1", counter=1)
    pad2 = await harness.client("rating", "pad-2", counter=2)
    pad1.on_event = lambda ev: heard[1].append(ev.type)
    pad2.on_event = lambda ev: heard[2].append(ev.type)
    await desk.request("call_next")
    done = await desk.request("finish")
    visit = done["visit"]["id"]
    await wait_for(lambda: "visit_ended" in heard[1], 5)
    await _refused(pad2, "rate", "not_this_counter", visit=visit, value=1, request_id="x")
    rated = await pad1.request("rate", visit=visit, value=1, request_id="y")
    assert rated["rating"]["counter"] == 1
    await wait_for(lambda: "visit_rated" in heard[1], 5)
    await asyncio.sleep(0.3)
    # Pad 2 heard nothing about counter 1's visit or its counter events,
    # and its event numbering has no gap (it never had to resync).
    assert not {"visit_ended", "visit_rated", "counter_opened"} & set(heard[2])
    assert pad2.seq == len(heard[2])


async def test_a_counter_cannot_cancel_or_requeue_other_departments_tickets(harness):
    served1 = set(harness.config.counter(1).departments)
    other = next(d.code for d in harness.config.departments if d.code not in served1)
    kiosk = await harness.client("kiosk")
    t = (await kiosk.request("issue", department=other, request_id="o1"))["ticket"]
    desk = await harness.client("counter", "desk-1", counter=1)
    await desk.request("login", officer="cb01", pin="1234")
    await _refused(desk, "cancel", "not_served_here", number=t["number"])
    # A no-show of that department, marked at a counter that serves it.
    serving = next(c.number for c in harness.config.counters if other in c.departments)
    theirs = await harness.client("counter", "desk-x", counter=serving)
    await theirs.request("login", officer="cb02", pin="1234")
    await theirs.request("call_ticket", number=t["number"])
    await theirs.request("no_show")
    await _refused(desk, "requeue", "not_served_here", number=t["number"])
    await _refused(desk, "cancel", "not_served_here", number=t["number"])
    assert (await theirs.request("requeue", number=t["number"]))["ticket"]["status"] == "waiting"
    admin = await harness.client("admin")
    assert (await admin.request("cancel", number=t["number"]))["ticket"]["status"] == "cancelled"


async def test_pin_guessing_is_locked_out_logged_and_alerted(harness):
    desk = await harness.client("counter", "desk-1", counter=1)
    monitor = await harness.client("admin", "monitor")
    model = Monitor(monitor.state)
    alerts = []

    def heard(ev):
        model.event(ev)
        if ev.type == "login_locked":
            alerts.append(ev.raw)
    monitor.on_event = heard
    threshold = LIMITS["pair"][0]
    for i in range(threshold):
        await _refused(desk, "login", "unknown_officer", officer="cb02", pin=f"{i:04d}")
    # Locked now: even the right PIN is refused, with a clear message.
    err = await _refused(desk, "login", "login_locked", officer="cb02", pin="1234")
    assert "phút" in err.message and "min" in err.message_en
    assert (await desk.request("ping"))["ok"]  # the connection stays up
    await wait_for(lambda: alerts, 5)
    assert alerts[0]["officer"] == "cb02" and alerts[0]["seconds"] >= 60
    # The supervisor's monitor shows it as an alert while it lasts.
    now = harness.server.clock().timestamp()
    shown = [a for a in model.alerts(now) if a.key == "alert_login_locked"]
    assert shown and shown[0].params["who"] == "cb02" and shown[0].severity == "error"
    assert not [a for a in model.alerts(now + 3600) if a.key == "alert_login_locked"]
    failed = _events(harness.db, "login_failed")
    assert len(failed) == threshold and all(d["source"] == "127.0.0.1" for _, _, d in failed)
    assert [d["scope"] for _, _, d in _events(harness.db, "login_locked")] == ["pair"]
    # Another officer on the same machine is not locked by cb02's lock.
    assert (await desk.request("login", officer="cb01", pin="1234"))["counter"]["officer"] == "cb01"


def test_the_lockout_cannot_lock_an_officer_out_of_their_own_counter():
    lim, t = LoginLimiter(), 1000.0
    lim.success("cb01", "10.0.0.1", t)  # cb01 works at the console on 10.0.0.1
    # An attacker spreads guesses over many machines to trip the officer lock.
    for i in range(200):
        lim.failure("cb01", f"10.0.9.{i % 50}", t + i)
    t += 200
    assert lim.check("cb01", "10.0.9.77", t) is not None        # locked elsewhere
    assert lim.check("cb01", "10.0.0.1", t) is None             # never at home
    # One machine guessing many officers is stopped by the source lock.
    for i in range(LIMITS["source"][0]):
        lim.failure(f"cb{i:02d}", "10.0.5.5", t)
    assert lim.check("cb99", "10.0.5.5", t).kind == "source"
    assert lim.check("cb99", "10.0.5.6", t) is None
    # Locks double, up to the cap, and fade.
    lim2, t2 = LoginLimiter(), 0.0
    seconds = []
    for _ in range(6):
        for _ in range(LIMITS["pair"][0]):
            new = lim2.failure("cb03", "10.0.0.9", t2)
        seconds.append(new[0].seconds)
        t2 += new[0].seconds + 1
    assert seconds == [60, 120, 240, 480, 960, 1920]
    assert lim2.check("cb03", "10.0.0.9", t2 + 10 * 3600) is None


def test_a_flood_of_made_up_officer_ids_does_not_grow_the_limiter_without_bound():
    from motcua.server.lockout import MAX_KEYS
    lim = LoginLimiter()
    for i in range(3 * MAX_KEYS):
        lim.failure(f"x{i}", f"10.1.{i % 250}.{i // 250 % 250}", float(i))
    assert len(lim._counts) <= MAX_KEYS + 3


async def test_no_pin_token_or_session_reaches_the_debug_log(harness, caplog):
    """websockets logs every frame at DEBUG: frames with a PIN, a token, a
    password or a login session are logged without their contents."""
    import logging

    caplog.set_level(logging.DEBUG)
    desk = await harness.client("counter", "desk-1", counter=1)
    reply = await desk.request("login", officer="cb01", pin="1234")
    session = reply["session"]
    await desk.request("ping")
    text = caplog.text
    assert "TEXT" in text and "ping" in text  # frames are logged at all
    assert TOKENS["counter"] not in text
    assert '"pin"' not in text and session not in text
    assert "carries a secret: contents not logged" in text
