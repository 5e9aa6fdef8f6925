"""Appointments through the real server: bookings pushed by a manager over
the websocket and over the HTTP API, imported from a file by `motcua
bookings import` beside the running server, checked in at a kiosk, and kept
across a restart. The wrong role, a wrong secret and malformed input are
refused."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import TOKENS, Harness, wait_for
from motcua.cli import main
from motcua.server.app import MotcuaServer
from motcua.client import ServerError
from test_admin_server import PASSWORD, add_manager, manager_client


async def refused(client, type_, want, **fields):
    with pytest.raises(ServerError) as e:
        await client.request(type_, **fields)
    assert e.value.code == want, (type_, e.value.code, e.value.message_en)
    return e.value

# The test clock starts on Tuesday 2026-12-01 at 10:00 in Vietnam (conftest);
# the sample center takes Justice (TP) bookings every 15 minutes.
DAY = "2026-12-01"


def row(**kw):
    return {"procedure": "TP01", "date": DAY, "slot": "10:30", "name": "Phạm Thị Hoa",
            "phone": "0912345678", "id_number": "001099012345", **kw}


async def booked(h: Harness, *rows):
    admin = await manager_client(h)
    reply = await admin.request("add_bookings", bookings=list(rows), source="portal")
    return admin, [b["code"] for b in reply["bookings"]]


async def test_a_manager_pushes_bookings_and_a_kiosk_checks_one_in(harness):
    admin, codes = await booked(harness, row(), row(slot="11:00"))
    assert len(codes) == 2
    kiosk = await harness.client("kiosk", "kiosk-1")
    reply = await kiosk.request("check_in", code=codes[0].lower(), request_id="r1")
    t = reply["ticket"]
    assert t["number"].startswith("A") and t["booked"] and t["slot"] is not None
    assert reply["booking"]["slot"] == "10:30" and reply["booking"]["early"]
    assert reply["link"].startswith("http://") and "/ve/" in reply["link"]
    again = await kiosk.request("check_in", code=codes[0], request_id="r1")  # a lost reply
    assert again["repeat"] and again["ticket"]["id"] == t["id"]
    e = await refused(kiosk, "check_in", "booking_used", code=codes[0], request_id="r2")
    assert t["number"] in e.message
    e = await refused(kiosk, "check_in", "booking_too_early", code=codes[1], request_id="r3")
    assert e.message == "Lịch hẹn lúc 11:00. Xin quay lại lấy số từ 10:30."
    await refused(kiosk, "check_in", "unknown_booking", code="KHONGCO1", request_id="r4")
    # the log counts bookings, and never holds who booked
    with sqlite3.connect(harness.db) as conn:
        logged = [json.loads(d) for (d,) in conn.execute(
            "SELECT data FROM events WHERE type = 'bookings_added'")]
        assert logged[0]["added"] == 2 and logged[0]["by"] == "ql01"
        assert "Phạm" not in json.dumps(logged, ensure_ascii=False)
        assert conn.execute("SELECT status, ticket_id FROM bookings WHERE code = ?",
                            (codes[0],)).fetchone() == ("checked_in", t["id"])


async def test_bookings_and_booked_tickets_survive_a_restart(harness):
    admin, codes = await booked(harness, row(), row(slot="10:15"))
    kiosk = await harness.client("kiosk", "kiosk-1")
    t = (await kiosk.request("check_in", code=codes[0], request_id="r1"))["ticket"]
    await harness.restart()
    core = harness.server.core
    assert set(codes) <= set(core.bookings)
    assert core.tickets[t["id"]].slot == t["slot"] and core.tickets[t["id"]].booking == codes[0]
    kiosk = await harness.client("kiosk", "kiosk-2")
    await refused(kiosk, "check_in", "booking_used", code=codes[0], request_id="x")
    assert (await kiosk.request("check_in", code=codes[1], request_id="y"))["ticket"]["booked"]


async def test_the_wrong_role_and_malformed_input_are_refused(harness):
    kiosk = await harness.client("kiosk", "kiosk-1")
    counter = await harness.client("counter", "c1", counter=1)
    display = await harness.client("display", "d1")
    await refused(kiosk, "add_bookings", "forbidden", bookings=[row()])
    await refused(counter, "check_in", "forbidden", code="ABCD1234", request_id="r")
    await refused(display, "check_in", "forbidden", code="ABCD1234", request_id="r")
    admin = await harness.client("admin", "no-manager")
    await refused(admin, "add_bookings", "manager_required", bookings=[row()])
    await refused(kiosk, "check_in", "bad_field", request_id="r")
    await refused(kiosk, "check_in", "bad_field", code=12345678, request_id="r")
    await refused(kiosk, "check_in", "bad_field", code="A" * 41, request_id="r")
    admin = await manager_client(harness, device="admin-2")
    await refused(admin, "add_bookings", "bad_field", bookings="not a list")
    e = await refused(admin, "add_bookings", "bookings_invalid",
                      bookings=[row(), 7, row(slot="25:00"), row(procedure="KHDT01")])
    assert [(r["row"], r["problem"]) for r in e.params["rows"]] == [
        (2, "not_row"), (3, "bad_slot"), (4, "not_bookable")]
    assert harness.server.core.bookings == {}  # nothing imported
    assert kiosk.connected and admin.connected  # bad input never drops a connection


# --- the HTTP API -----------------------------------------------------------------

@pytest.fixture
async def api(open_config, tmp_path):
    h = Harness(open_config, tmp_path / "motcua.db")
    h.server = MotcuaServer(h.config, h.db, host="127.0.0.1", port=0, clock=h.clock,
                            api_port=0)
    await h.server.start()
    h.port = h.server.port
    h.api_port = h.server.api.port
    try:
        yield h
    finally:
        await h.close()


def http(port, method, path, body=None, auth=None, ctype="application/json"):
    """(status, JSON answer) of a real HTTP request."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    if auth is not None:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def call(*args, **kw):
    return await asyncio.to_thread(http, *args, **kw)


async def test_the_api_takes_bookings_from_a_manager_and_refuses_everyone_else(api):
    await add_manager(api)
    port = api.api_port
    good = basic("ql01", PASSWORD)
    status, body = await call(port, "POST", "/api/bookings", {"bookings": [row()]}, good)
    assert status == 200 and body["ok"] and body["added"] == 1
    code = body["bookings"][0]["code"]
    assert api.server.core.bookings[code].created_by == "ql01"
    # a CSV body, with Vietnamese headings
    csv_text = "Mã,Thủ tục,Ngày,Giờ,Họ tên,Điện thoại,CCCD\nP-0001,TP02,01/12/2026,10:45,Lê Văn An,,\n"
    status, body = await call(port, "POST", "/api/bookings?source=dvc", csv_text.encode(), good,
                              ctype="text/csv")
    assert status == 200 and body["bookings"][0]["code"] == "P0001"
    status, body = await call(port, "GET", f"/api/bookings?day={DAY}", auth=good)
    assert status == 200 and [b["slot"] for b in body["bookings"]] == ["10:30", "10:45"]
    assert "name" not in body["bookings"][0] and "id_number" not in body["bookings"][0]

    n = len(api.server.core.bookings)
    refusals = [
        (None, 401, "unauthorized"),
        (basic("ql01", "sai-mat-khau"), 401, "unknown_manager"),
        (basic("nobody", PASSWORD), 401, "unknown_manager"),
        ("Basic %%%not-base64", 401, "unauthorized"),
        ("Bearer " + TOKENS["kiosk"], 403, "forbidden"),      # the wrong role
        ("Bearer " + TOKENS["display"], 403, "forbidden"),
        ("Bearer not-a-secret", 401, "unknown_manager"),
        ("Token abc", 401, "unauthorized"),
    ]
    for auth, want, code_ in refusals:
        status, body = await call(port, "POST", "/api/bookings", {"bookings": [row()]}, auth)
        assert (status, body.get("code")) == (want, code_), auth
        assert body["message"] and body["message_en"]
    status, body = await call(port, "GET", "/api/bookings", auth=basic("ql01", "x" * 12))
    assert status == 401
    assert len(api.server.core.bookings) == n
    # the demo's admin token (demo mode only) is an admin credential
    status, body = await call(port, "POST", "/api/bookings", {"bookings": [row(slot="11:00")]},
                              "Bearer " + TOKENS["admin"])
    assert status == 200


async def test_the_api_refuses_malformed_input_and_imports_none_of_a_bad_file(api):
    await add_manager(api)
    port, good = api.api_port, basic("ql01", PASSWORD)
    for body, ctype, want in [(b"{not json", "application/json", "bad_body"),
                              (b'{"bookings": 3}', "application/json", "bad_body"),
                              (b"\xff\xfe", "application/json", "bad_body"),
                              (b"a,b\n1,2\n", "text/csv", "bad_body"),
                              (b"<x/>", "application/xml", "bad_body")]:
        status, answer = await call(port, "POST", "/api/bookings", body, good, ctype=ctype)
        assert (status, answer["code"]) == (400, want), body
    status, answer = await call(port, "POST", "/api/bookings",
                                [row(), row(name=""), row(phone="123"), row()], good)
    assert status == 422 and answer["code"] == "bookings_invalid"
    assert [(r["row"], r["field"]) for r in answer["params"]["rows"]] == [
        (2, "name"), (3, "phone")]
    assert answer["params"]["rows"][0]["message"] == "Dòng 2: thiếu họ tên."

    def raw():
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/bookings", method="POST",
                                     data=json.dumps([row(name="")]).encode(),
                                     headers={"Content-Type": "application/json",
                                              "Authorization": good})
        try:
            urllib.request.urlopen(req, timeout=10)
        except urllib.error.HTTPError as e:
            return e.headers.get("Content-Type"), e.read()
    ctype, data = await asyncio.to_thread(raw)
    assert ctype == "application/json; charset=utf-8"
    assert "Dòng 1: thiếu họ tên.".encode() in data  # Vietnamese as it is, UTF-8
    assert api.server.core.bookings == {}
    status, answer = await call(port, "POST", "/api/bookings", b"x" * (3 * 1024 * 1024), good)
    assert status == 413
    status, answer = await call(port, "GET", "/api/bookings?day=hôm-nay".replace("ô", "o"),
                                auth=good)
    assert status == 400 and answer["code"] == "bad_day"
    status, answer = await call(port, "GET", "/api/other", auth=good)
    assert status == 404
    status, answer = await call(port, "DELETE", "/api/bookings", auth=good)
    assert status == 404


# --- motcua bookings import, beside a running server --------------------------------

async def test_the_command_line_imports_a_file_beside_the_running_server(harness, tmp_path,
                                                                         capsys):
    # The command line runs on the machine's clock, not the test's: book a
    # day ahead of both (an open day of the sample center).
    from datetime import date, timedelta

    ahead = date.today() + timedelta(days=8)
    while ahead.weekday() == 6:
        ahead += timedelta(days=1)
    vn = ahead.strftime("%d/%m/%Y")
    bad = tmp_path / "bad.csv"
    bad.write_text("ma;thu tuc;ngay;gio;ho ten;dien thoai;cccd\n"
                   f";TP01;{vn};10:30;Nguyễn Văn Bình;0912345678;001099012345\n"
                   f";TP99;{vn};10:30;Trần C;;\n"
                   ";TP01;32/12/2026;10:30;Lê D;;\n", "utf-8")
    rc = await asyncio.to_thread(main, ["bookings", "import", str(bad), "--db", str(harness.db)])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "Dòng 3: không có thủ tục TP99." in err and "Dòng 4: ngày 32/12/2026" in err
    assert "không lịch hẹn nào được nhập" in err
    good = tmp_path / "good.json"
    good.write_text(json.dumps([row(code="DVC-000123", date=ahead.isoformat()),
                                row(slot="10:45", date=vn)]), "utf-8")
    rc = await asyncio.to_thread(main, ["bookings", "import", str(good), "--db", str(harness.db)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "DVC000123" in out.out
    rc = await asyncio.to_thread(main, ["bookings", "list", "--db", str(harness.db), "--day",
                                        ahead.isoformat()])
    listed = capsys.readouterr().out
    assert rc == 0 and "DVC000123" in listed and "Phạm Thị Hoa" in listed
    await wait_for(lambda: "DVC000123" in harness.server.core.bookings, 5)
    assert len(harness.server.core.bookings) == 2
    kiosk = await harness.client("kiosk", "kiosk-1")
    e = await refused(kiosk, "check_in", "booking_other_day", code="dvc-000123", request_id="r")
    assert e.message == f"Lịch hẹn này vào ngày {vn} lúc 10:30, không phải hôm nay."
    with sqlite3.connect(harness.db) as conn:
        assert conn.execute("SELECT count(*) FROM bookings").fetchone() == (2,)
        assert conn.execute("SELECT data FROM events WHERE type = 'bookings_added'"
                            ).fetchone()[0].count('"added":2') == 1


async def test_a_version_4_database_migrates_to_bookings(open_config, tmp_path):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from motcua.server import storage
    from motcua.server.core import QueueCore

    path = tmp_path / "v4.db"
    db = sqlite3.connect(path, isolation_level=None)
    for script in storage.MIGRATIONS[:4]:
        for stmt in storage._statements(script):
            db.execute(stmt)
    db.execute("PRAGMA user_version=4")
    db.execute("INSERT INTO meta VALUES ('core.day', '\"2026-12-01\"')")
    db.execute("INSERT INTO tickets (id, day, number, department, status, issued_at, device, "
               "request_id, band, queued_at) VALUES (1, '2026-12-01', 'A001', 'TP', 'waiting', "
               "0, 'k1', 'r1', 1, 0)")
    db.execute("INSERT INTO counters (number, status, since, priority_streak) "
               "VALUES (1, 'open', 0, 1)")
    db.close()
    store = storage.Store(path)
    await store.open()
    core = QueueCore(open_config, lambda: datetime(2026, 12, 1, 9, tzinfo=ZoneInfo(
        "Asia/Ho_Chi_Minh")))
    await store.load(core)
    await store.close()
    t = core.tickets[1]
    assert (t.booking, t.slot) == (None, None) and not core.ticket_view(t)["booked"]
    assert core.counters[1].booked_streak == 0 and core.counters[1].priority_streak == 1
    assert core.bookings == {}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (storage.SCHEMA_VERSION,)
        assert db.execute("SELECT count(*) FROM bookings").fetchone() == (0,)


async def test_outside_demo_mode_only_a_managers_account_opens_the_api(open_config, tmp_path):
    from motcua.server.manage import Manage

    h = Harness(open_config, tmp_path / "real.db")
    h.server = MotcuaServer(h.config, h.db, host="127.0.0.1", port=0, clock=h.clock,
                            api_port=0, demo=False)
    await h.server.start()
    try:
        await add_manager(h)
        async with Manage(h.db) as m:
            admin = (await m.enrol("admin", "portal-pc"))["secret"]
            kiosk = (await m.enrol("kiosk", "sanh-1"))["secret"]
        await wait_for(lambda: h.server.devices.get("sanh-1") is not None, 5)
        port = h.server.api.port
        for auth, want in [("Bearer " + TOKENS["admin"], (401, "unknown_manager")),
                           ("Bearer " + admin, (403, "manager_required")),
                           ("Bearer " + kiosk, (403, "forbidden")),
                           (basic("ql01", PASSWORD), (200, None))]:
            status, body = await call(port, "POST", "/api/bookings", {"bookings": [row()]}, auth)
            assert (status, body.get("code")) == want, auth
        assert len(h.server.core.bookings) == 1
    finally:
        await h.close()
