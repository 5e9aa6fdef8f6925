"""Idempotency and storage: every ticket survives every retry, and one bad
row never fails other clients' changes. Each test failed before its fix
(issue 9).

Real server on 127.0.0.1 (port 0), real SQLite file, real websocket clients;
faults are made with real SQLite mechanisms (a row written behind the
server's back, a held write lock).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from websockets.asyncio.client import connect

from conftest import TOKENS, Harness, wait_for
from conftest import HandClock as Clock
from motcua.client import ServerError
from motcua.server import storage
from motcua.server.core import MAX_PRINTERS, QueueCore
from motcua.server.storage import Store, rows_for


def local(y, m, d, hh, mm, ss=0) -> datetime:
    """A moment given in Vietnam's local time (UTC+7), as an aware UTC datetime."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=timezone.utc) - timedelta(hours=7)


def healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


async def test_yesterdays_request_id_issues_a_new_ticket_and_breaks_nobody(open_config, tmp_path):
    clock = Clock(local(2026, 3, 2, 15, 0))
    h = Harness(open_config, tmp_path / "m.db", clock)
    await h.start()
    try:
        kiosk = await h.client("kiosk", "kiosk-1")
        first = await kiosk.request("issue", department="TP", request_id="my-first-ticket")
        clock.now = local(2026, 3, 3, 8, 0)
        others = [await h.client("kiosk", f"kiosk-{i}") for i in range(2, 6)]
        # The stale retry and other kiosks' tickets, all at once (one commit).
        results = await asyncio.gather(
            kiosk.request("issue", department="TP", request_id="my-first-ticket"),
            *(k.request("issue", department="TP", request_id=f"r-{i}")
              for i, k in enumerate(others)), return_exceptions=True)
        assert not [r for r in results if isinstance(r, Exception)], results
        again = results[0]
        # Idempotency is per day: yesterday's id is today's new request.
        assert again["repeat"] is False and again["ticket"]["day"] == "2026-03-03"
        assert again["ticket"]["id"] != first["ticket"]["id"]
        assert await asyncio.to_thread(healthz, h.port) == 200
        # ... and today's retry of it is a repeat, also after a restart.
        await h.restart()
        await kiosk.wait_ready(5)
        repeat = await kiosk.request("issue", department="TP", request_id="my-first-ticket")
        assert repeat["repeat"] is True and repeat["ticket"]["id"] == again["ticket"]["id"]
        with sqlite3.connect(h.db) as db:
            assert db.execute("SELECT count(*) FROM tickets").fetchone() == (6,)
    finally:
        await h.close()


async def test_one_row_the_database_refuses_fails_only_its_own_change(harness):
    kiosk = await harness.client("kiosk", "kiosk-1")
    await kiosk.request("issue", department="TP", request_id="a")
    day = (await kiosk.request("issue", department="TP", request_id="b"))["ticket"]["day"]
    desk = await harness.client("counter", "desk-6", counter=6)
    await desk.request("login", officer="cb06", pin="1234")
    dept6 = harness.config.counter(6).departments[0]
    # A row written behind the server's back takes the next TP number (A003).
    with sqlite3.connect(harness.db) as db:
        db.execute("INSERT INTO tickets (id, day, number, department, status, issued_at, band, "
                   "queued_at) VALUES (9999, ?, 'A003', 'TP', 'done', 0, 1, 0)", (day,))
    kiosks = [await harness.client("kiosk", f"k{i}") for i in range(6)]
    for i, k in enumerate(kiosks):
        await k.request("issue", department=dept6, request_id=f"pre-{i}")
    # Hold the write lock so that everything below queues into one commit.
    locker = sqlite3.connect(harness.db, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        first = asyncio.ensure_future(kiosks[0].request("issue", department=dept6,
                                                        request_id="first"))
        await asyncio.sleep(0.2)
        bad = asyncio.ensure_future(kiosk.request("issue", department="TP", request_id="c"))
        good = [asyncio.ensure_future(k.request("issue", department=dept6, request_id=f"g{i}"))
                for i, k in enumerate(kiosks[1:])]
        good.append(asyncio.ensure_future(desk.request("call_next")))
        await asyncio.sleep(0.3)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    results = await asyncio.gather(first, bad, *good, return_exceptions=True)
    assert isinstance(results[1], ServerError) and results[1].code == "storage"
    assert not [r for r in [results[0], *results[2:]] if isinstance(r, Exception)], results
    await wait_for(lambda: not harness.server.store.failed, 5)
    assert await asyncio.to_thread(healthz, harness.port) == 200
    with sqlite3.connect(harness.db) as db:
        issued = {r for (r,) in db.execute("SELECT request_id FROM tickets")}
        assert {"first", *(f"g{i}" for i in range(5))} <= issued and "c" not in issued
        # Nothing acknowledged was lost and nothing is there twice.
        assert db.execute("SELECT count(*), count(DISTINCT number) FROM tickets "
                          "WHERE department = ?", (dept6,)).fetchone() == (12, 12)
        assert db.execute("SELECT count(*) FROM visits").fetchone() == (1,)


async def test_reusing_a_request_id_for_something_else_is_an_error(harness):
    kiosk = await harness.client("kiosk")
    t = await kiosk.request("issue", department="TP", request_id="same")
    with pytest.raises(ServerError) as e:
        await kiosk.request("issue", department="XD", request_id="same")
    assert e.value.code == "request_reused"
    with pytest.raises(ServerError) as e:
        await kiosk.request("issue", department="TP", priority="elderly", request_id="same")
    assert e.value.code == "request_reused"
    assert (await kiosk.request("issue", department="TP", request_id="same"))["repeat"] is True
    desk = await harness.client("counter", counter=1)
    await desk.request("login", officer="cb01", pin="1234")
    await desk.request("call_next")
    visit = (await desk.request("finish"))["visit"]["id"]
    pad = await harness.client("rating", counter=1)
    await pad.request("rate", visit=visit, value=1, request_id="rr")
    with pytest.raises(ServerError) as e:
        await pad.request("rate", visit=visit, value=4, request_id="rr")
    assert e.value.code == "request_reused"
    assert (await pad.request("rate", visit=visit, value=1, request_id="rr"))["repeat"] is True
    assert t["ticket"]["number"] == "A001"


@pytest.mark.parametrize("restart", [False, True])
async def test_a_visit_that_ended_before_midnight_can_be_rated_after(open_config, tmp_path,
                                                                     restart):
    clock = Clock(local(2026, 3, 2, 23, 50))
    h = Harness(open_config, tmp_path / "m.db", clock)
    await h.start()
    try:
        kiosk = await h.client("kiosk")
        desk = await h.client("counter", counter=1)
        pad = await h.client("rating", counter=1)
        await kiosk.request("issue", department="TP", request_id="n1")
        await desk.request("login", officer="cb01", pin="1234")
        await desk.request("call_next")
        clock.now = local(2026, 3, 2, 23, 59, 30)
        visit = (await desk.request("finish"))["visit"]
        clock.now = local(2026, 3, 3, 0, 0, 5)
        await h.server._apply("tick")  # the day rolls over
        if restart:
            await h.restart()
            await pad.wait_ready(5)
        clock.now = local(2026, 3, 3, 0, 0, 10)
        rated = await pad.request("rate", visit=visit["id"], value=2, request_id="late")
        # It counts for the day the visit was served.
        assert rated["rating"]["day"] == "2026-03-02"
        with pytest.raises(ServerError) as e:
            await pad.request("rate", visit=visit["id"], value=2, request_id="other")
        assert e.value.code == "already_rated"
    finally:
        await h.close()


def test_a_commit_writes_only_the_running_state_it_changed(open_config):
    core = QueueCore(open_config, lambda: datetime.now(timezone.utc))
    first = rows_for(core, core.issue("TP"))  # also starts the day
    assert {k for k, _ in first.meta} >= {"core.day", "core.seq", "core.next_ticket"}
    assert {k for k, _ in rows_for(core, core.issue("TP")).meta} == {"core.seq",
                                                                      "core.next_ticket"}
    assert rows_for(core, core.login(1, "cb01")).meta == []
    assert {k for k, _ in rows_for(core, core.call_next(1)).meta} == {"core.next_visit",
                                                                      "core.recent_calls"}
    assert {k for k, _ in rows_for(core, core.printer_status("k1", False, "paper_out")).meta} \
        == {"core.printers"}
    # However many printers there are, issuing a ticket doesn't rewrite them.
    for i in range(50):
        core.printer_status(f"k{i}", False, "offline")
    size = sum(len(v) for _, v in rows_for(core, core.issue("TP")).meta)
    assert size < 200


async def test_a_version_1_database_migrates_and_keeps_its_state(open_config, tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    for stmt in storage._statements(storage.MIGRATIONS[0]):
        db.execute(stmt)
    db.execute("PRAGMA user_version=1")
    meta = {"day": "2026-03-02", "seq": {"TP": 1}, "next_ticket": 2, "next_visit": 1,
            "avg_service": {"TP": 420.5}, "recent_calls": [], "expired_today": False,
            "printers": {"k1": {"device": "k1", "ok": False, "problem": "paper_out",
                                "detail": "hết giấy", "since": 1.0}}}
    db.execute("INSERT INTO meta VALUES ('core', ?)", (json.dumps(meta, ensure_ascii=False),))
    db.execute("INSERT INTO tickets (id, day, number, department, status, issued_at, device, "
               "request_id, band, queued_at) VALUES (1, '2026-03-02', 'A001', 'TP', 'waiting', "
               "0, 'k1', 'r1', 1, 0)")
    db.execute("INSERT INTO counters VALUES (1, 'open', 'cb01', NULL, NULL, 0, 0)")
    db.close()
    store = Store(path)
    await store.open()
    core = QueueCore(open_config, lambda: local(2026, 3, 2, 9, 0))
    await store.load(core)
    await store.close()
    assert core.meta.seq == {"TP": 1} and core.meta.avg_service == {"TP": 420.5}
    assert core.meta.printers["k1"]["detail"] == "hết giấy"
    # The counter was open before sessions existed: it holds no session.
    assert core.counters[1].officer == "cb01" and core.counters[1].session is None
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (storage.SCHEMA_VERSION,)
        assert db.execute("SELECT count(*) FROM meta WHERE key = 'core'").fetchone() == (0,)
        # The same request_id on another day is now allowed by the file too.
        db.execute("INSERT INTO tickets (id, day, number, department, status, issued_at, device, "
                   "request_id, band, queued_at) VALUES (2, '2026-03-03', 'A001', 'TP', "
                   "'waiting', 0, 'k1', 'r1', 1, 0)")
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO tickets (id, day, number, department, status, issued_at, "
                       "device, request_id, band, queued_at) VALUES (3, '2026-03-03', 'A002', "
                       "'TP', 'waiting', 0, 'k1', 'r1', 1, 0)")


async def test_printer_reports_are_validated_and_bounded(harness):
    kiosk = await harness.client("kiosk", "kiosk-1")
    with pytest.raises(ServerError) as e:
        await kiosk.request("printer_status", ok=False, problem="x" * 30)
    assert e.value.code == "bad_field"
    ok = await kiosk.request("printer_status", ok=False, problem="paper_out", detail="hết giấy")
    assert ok["printer"]["problem"] == "paper_out"
    # Made-up kiosk names can't grow what every client receives.
    async def report(device):
        async with connect(harness.url) as ws:
            await ws.send(json.dumps({"type": "hello", "role": "kiosk", "device": device,
                                      "token": TOKENS["kiosk"], "protocol": 1}))
            await ws.recv()
            await ws.send(json.dumps({"type": "printer_status", "id": 1, "ok": False,
                                      "problem": "offline"}))
            while json.loads(await ws.recv()).get("re") != 1:
                pass
    for n in range(0, 200, 10):
        await asyncio.gather(*(report(f"fake-{n + i}") for i in range(10)))
    printers = harness.server.core.snapshot()["printers"]
    assert len(printers) <= MAX_PRINTERS
    assert "fake-199" in {p["device"] for p in printers}  # the newest are kept
    welcome = await connect(harness.url)
    await welcome.send(json.dumps({"type": "hello", "role": "display", "device": "tv",
                                   "token": TOKENS["display"], "protocol": 1}))
    assert len(await welcome.recv()) < 60_000
    await welcome.close()


async def _non_reading_client(harness, role="display"):
    """A real websocket client that stops reading: a tiny receive buffer and
    a one-message queue, so its socket stays full once it stops."""
    import socket
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", harness.port))
    sock.setblocking(False)
    ws = await connect(harness.url, sock=sock, max_queue=1)
    await ws.send(json.dumps({"type": "hello", "role": role, "device": "hung-tv",
                              "token": TOKENS[role], "protocol": 1}))
    assert json.loads(await ws.recv())["type"] == "welcome"
    return ws


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise KeyError(name)


async def test_a_client_that_stops_reading_is_dropped_not_buffered(harness, monkeypatch):
    from motcua.server import app
    # Smaller bounds, a shorter test.
    monkeypatch.setattr(app, "MAX_UNSENT_BYTES", 64 * 1024)
    monkeypatch.setattr(app, "SOCKET_SEND_BUFFER", 8 * 1024)
    hung = await _non_reading_client(harness)
    tv = await harness.client("display", "good-tv")
    # Asking for snapshots it never reads used to pile them up in memory.
    for i in range(400):
        if hung.state.name != "OPEN":
            break
        await hung.send(json.dumps({"type": "snapshot", "id": i}))
    await wait_for(lambda: harness.server.dropped_slow >= 1, 10)
    # Broadcasts to a hung display are bounded the same way.
    hung2 = await _non_reading_client(harness)
    kiosk = await harness.client("kiosk")
    desk = await harness.client("counter", counter=1)
    await desk.request("login", officer="cb01", pin="1234")
    for i in range(100):
        await kiosk.request("issue", department="TP", request_id=f"s{i}")
        await desk.request("call_next")
        await desk.request("finish")
    await wait_for(lambda: harness.server.dropped_slow >= 2, 10)
    dropped = await asyncio.to_thread(metric, harness.port, "motcua_slow_clients_dropped_total")
    assert dropped == 2
    assert harness.server.conns["display"] == {next(iter(harness.server.conns["display"]))}
    await wait_for(lambda: tv.state.totals.get("served") == 100, 5)
    assert tv.connected
    for ws in (hung, hung2):
        ws.transport.abort()
