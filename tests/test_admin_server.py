"""Running the center without editing its file, through the real server:
enrolled devices (and revoking them, also mid-connection), managers, live
changes pushed to every client and kept across a restart, the officer's own
PIN, and every change in the event log with who did it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from websockets.asyncio.client import connect

from conftest import TOKENS, Harness, wait_for
from motcua.client import ServerError, connect_once
from motcua.server.manage import Manage

PASSWORD = "mat-khau-quan-ly-1"


def events(db, *types):
    marks = ",".join("?" * len(types))
    with sqlite3.connect(db) as conn:
        return [(t, dev, json.loads(data)) for t, dev, data in conn.execute(
            f"SELECT type, device, data FROM events WHERE type IN ({marks}) ORDER BY id", types)]


async def add_manager(h: Harness, manager: str = "ql01", password: str = PASSWORD) -> None:
    """A manager account made with the command line's code, beside the
    running server (which notices within a second)."""
    async with Manage(h.db) as m:
        await m.add_manager(manager, "Nguyễn Quản Lý", password)
    await wait_for(lambda: h.server.managers.get(manager) is not None, 5)


async def manager_client(h: Harness, manager: str = "ql01", device: str = "admin-test"):
    await add_manager(h, manager)
    admin = await h.client("admin", device)
    reply = await admin.request("manager_login", manager=manager, password=PASSWORD)
    assert reply["manager"]["id"] == manager and len(reply["session"]) >= 40
    return admin


async def refused(client, type_, code, **fields):
    with pytest.raises(ServerError) as e:
        await client.request(type_, **fields)
    assert e.value.code == code, (type_, e.value.code, e.value.message_en)
    return e.value


async def raw_hello(url, role, token, device="x", counter=None):
    """The first answer to a hello, and the close code."""
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "hello", "role": role, "device": device,
                                  "token": token, "protocol": 1, "counter": counter}))
        first = json.loads(await ws.recv())
        await ws.wait_closed() if first["type"] == "error" else None
        return first, ws.close_code


# --- devices ---------------------------------------------------------------

async def test_enrol_connect_revoke_refused_also_mid_connection(harness):
    admin = await manager_client(harness)
    reply = await admin.request("enrol_device", role="kiosk", name="sanh-1")
    secret = reply["secret"]
    assert len(secret) >= 40 and reply["enrolment"].startswith("motcua://")
    assert secret not in json.dumps(reply["device"])
    listed = (await admin.request("list_devices"))["devices"]
    assert [d["name"] for d in listed] == ["sanh-1"] and not listed[0]["revoked"]

    # The kiosk claims another name: the proven one is what counts and is logged.
    kiosk = await connect_once(harness.url, "kiosk", "i-am-someone-else", secret)
    harness.clients.append(kiosk)
    assert kiosk.welcome["device"] == "sanh-1"
    await kiosk.request("issue", department="TP", request_id="e1")
    assert [dev for _, dev, _ in events(harness.db, "ticket_issued")] == ["sanh-1"]
    # Its last connection is listed with its address.
    seen = (await admin.request("list_devices"))["devices"][0]
    assert seen["last_seen"] and seen["last_address"] == "127.0.0.1"

    # Revoked while connected: closed at once, and the client stops.
    await admin.request("revoke_device", name="sanh-1", reason="máy bị mất")
    await wait_for(lambda: kiosk.auth_error is not None, 5)
    assert kiosk.auth_error.error.code == "device_revoked"
    assert not kiosk.connected
    first, code = await raw_hello(harness.url, "kiosk", secret)
    assert first["code"] == "device_revoked" and code == 4001
    # Who enrolled and revoked it, and why, is in the log.
    logged = {t: (dev, d) for t, dev, d in events(harness.db, "device_enrolled", "device_revoked")}
    assert logged["device_enrolled"][1]["name"] == "sanh-1"
    assert logged["device_revoked"][1]["by"] == "ql01"
    assert logged["device_revoked"][1]["reason"] == "máy bị mất"
    assert logged["device_revoked"][0] == "admin-test"

    # A revoked name can be enrolled again (the replacement kiosk): a new secret.
    again = await admin.request("enrol_device", role="kiosk", name="sanh-1")
    assert again["secret"] != secret
    assert (await raw_hello(harness.url, "kiosk", secret))[0]["code"] == "bad_token"
    assert (await raw_hello(harness.url, "kiosk", again["secret"]))[0]["type"] == "welcome"


async def test_revoked_from_the_command_line_beside_a_running_server(harness):
    async with Manage(harness.db) as m:
        enrolled = await m.enrol("display", "tv-sanh", url=harness.url)
    await wait_for(lambda: harness.server.devices.get("tv-sanh") is not None, 5)
    tv = await connect_once(harness.url, "display", "tv", enrolled["secret"])
    harness.clients.append(tv)
    assert tv.welcome["device"] == "tv-sanh"
    async with Manage(harness.db) as m:
        await m.revoke("tv-sanh", "thay màn hình")
    await wait_for(lambda: tv.auth_error is not None, 5)
    assert tv.auth_error.error.code == "device_revoked"
    logged = events(harness.db, "device_revoked")
    assert logged[-1][2]["by"].startswith("cli")


async def test_device_secrets_are_checked(harness):
    admin = await manager_client(harness)
    pad = await admin.request("enrol_device", role="rating", name="pad-3", counter=3)
    # Wrong secret, and the right secret for the wrong role.
    assert (await raw_hello(harness.url, "kiosk", "x" * 43))[0]["code"] == "bad_token"
    first, code = await raw_hello(harness.url, "kiosk", pad["secret"])
    assert first["code"] == "bad_token" and code == 4001
    # The pad belongs to counter 3: another counter is refused, none means 3.
    first, code = await raw_hello(harness.url, "rating", pad["secret"], counter=4)
    assert first["code"] == "wrong_counter" and code == 4001
    first, _ = await raw_hello(harness.url, "rating", pad["secret"])
    assert first["type"] == "welcome" and first["counter"] == 3
    # Malformed enrolments.
    await refused(admin, "enrol_device", "bad_value", role="kiosk", name="có dấu")
    await refused(admin, "enrol_device", "bad_field", role="toaster", name="t1")
    await refused(admin, "enrol_device", "bad_value", role="kiosk", name="k1", counter=2)
    await refused(admin, "enrol_device", "unknown_counter", role="counter", name="c99",
                  counter=99)
    await refused(admin, "enrol_device", "device_exists", role="rating", name="pad-3")
    await refused(admin, "revoke_device", "unknown_device", name="nope")


async def test_outside_demo_mode_only_enrolled_devices_connect(open_config, tmp_path):
    import dataclasses
    config = dataclasses.replace(open_config, demo=False)
    h = Harness(config, tmp_path / "real.db")
    await h.start()
    try:
        assert h.server.demo is False
        first, code = await raw_hello(h.url, "kiosk", TOKENS["kiosk"])
        assert first["code"] == "bad_token" and code == 4001
        async with Manage(h.db) as m:
            admin_dev = await m.enrol("admin", "may-quan-ly", url=h.url)
        await add_manager(h)
        await wait_for(lambda: h.server.devices.get("may-quan-ly") is not None, 5)
        admin = await connect_once(h.url, "admin", "x", admin_dev["secret"])
        h.clients.append(admin)
        assert admin.welcome.get("demo") is None
        # Reading is allowed; acting on the queue needs a manager logged in.
        assert (await admin.request("waiting_list", counter=1))["tickets"] == []
        await refused(admin, "issue", "manager_required", department="TP", request_id="m1")
        await refused(admin, "logout", "manager_required", counter=1)
        await admin.request("manager_login", manager="ql01", password=PASSWORD)
        await admin.request("issue", department="TP", request_id="m1")
        assert events(h.db, "ticket_issued")[-1][2]["by"] == "ql01"
    finally:
        await h.close()


# --- managers --------------------------------------------------------------

async def test_manager_login_is_checked_limited_and_logged(harness):
    await add_manager(harness)
    admin = await harness.client("admin", "admin-test")
    await refused(admin, "list_devices", "manager_required")
    await refused(admin, "close_department", "manager_required", department="TP")
    await refused(admin, "manager_login", "unknown_manager", manager="ql01", password="sai-mat-khau")
    await refused(admin, "manager_login", "unknown_manager", manager="nobody", password=PASSWORD)
    assert [d["manager"] for _, _, d in events(harness.db, "manager_login_failed")] == [
        "ql01", "nobody"]
    for _ in range(4):
        await refused(admin, "manager_login", "unknown_manager", manager="ql01", password="x" * 12)
    # Five wrong passwords from this machine: locked, even with the right one.
    await refused(admin, "manager_login", "login_locked", manager="ql01", password=PASSWORD)
    assert events(harness.db, "login_locked")[-1][2]["manager"] == "ql01"
    # Other roles may not even try.
    kiosk = await harness.client("kiosk")
    await refused(kiosk, "manager_login", "forbidden", manager="ql01", password=PASSWORD)
    for cmd, fields in (("close_department", {"department": "TP"}), ("list_devices", {}),
                        ("enrol_device", {"role": "kiosk", "name": "k"}),
                        ("reset_pin", {"officer": "cb01", "pin": "5555"})):
        await refused(kiosk, cmd, "forbidden", **fields)
    counter = await harness.client("counter", "c1", counter=1)
    await refused(counter, "set_notice", "forbidden", notice="x")


async def test_a_manager_login_resumes_after_a_blip(harness):
    admin = await manager_client(harness)
    await harness.server.stop()
    await wait_for(lambda: not admin.connected, 5)
    # A restart forgets manager logins (they live in memory): log in again.
    await harness.start()
    await admin.wait_ready(10)
    assert admin.welcome["session_resumed"] is False and admin.welcome["manager"] is None
    await admin.request("manager_login", manager="ql01", password=PASSWORD)
    # A network blip (the connection drops, the server stays): resumed.
    for s in list(harness.server.sessions.values()):
        await s.ws.close()
    await wait_for(lambda: not admin.connected, 5)
    await admin.wait_ready(10)
    assert admin.welcome["session_resumed"] is True and admin.welcome["manager"] == "ql01"
    assert (await admin.request("list_devices"))["devices"] == []


# --- live changes --------------------------------------------------------------

async def test_a_department_closed_live_refuses_the_kiosk_and_shows_on_the_display(harness):
    admin = await manager_client(harness)
    kiosk = await harness.client("kiosk")
    display = await harness.client("display")
    seen = []
    display.on_event = lambda ev: seen.append(ev.raw) if ev.type == "config_changed" else None
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    reply = await admin.request("close_department", department="TP",
                                reason="mất điện phòng một cửa")
    assert reply["change"]["department"] == "TP" and reply["version"] >= 2

    def dept(client):
        return next(d for d in client.state.center["departments"] if d["code"] == "TP")
    await wait_for(lambda: not dept(display)["open"], 1.0)
    assert loop.time() - t0 < 1.0
    assert dept(display)["reopen_at"] is not None  # today only: it reopens tomorrow
    await wait_for(lambda: not dept(kiosk)["open"], 1.0)
    await refused(kiosk, "issue", "department_closed", department="TP", request_id="c1")
    assert seen[0]["by"] == "ql01" and seen[0]["reason"] == "mất điện phòng một cửa"
    # The log has who and why; the kiosk issues again once it is opened.
    await admin.request("open_department", department="TP", reason="có điện lại")
    await wait_for(lambda: dept(kiosk)["open"], 1.0)
    assert (await kiosk.request("issue", department="TP", request_id="c1"))["ticket"]
    changes = events(harness.db, "config_changed")
    assert [(d["change"]["kind"], d["by"], d["reason"]) for _, _, d in changes] == [
        ("close_department", "ql01", "mất điện phòng một cửa"),
        ("open_department", "ql01", "có điện lại")]
    assert changes[0][1] == "admin-test"
    # A new connection's welcome has the current configuration.
    late = await harness.client("display", "late")
    assert dept(late)["open"] is True


async def test_a_department_closed_until_a_time_reopens_by_itself(open_config, tmp_path):
    now = [datetime(2026, 3, 3, 2, 0, tzinfo=timezone.utc)]  # 09:00 in Hà Nội
    h = Harness(open_config, tmp_path / "t.db", clock=lambda: now[0])
    await h.start()
    try:
        admin = await manager_client(h)
        kiosk = await h.client("kiosk")
        await refused(admin, "close_department", "bad_time", department="TP", until="08:00")
        await refused(admin, "close_department", "bad_value", department="TP", until="9h")
        await admin.request("close_department", department="TP", until="10:30")
        await refused(kiosk, "issue", "department_closed", department="TP", request_id="a")
        now[0] += timedelta(hours=1, minutes=31)
        # The next command (or the server's tick) finds the closure over.
        assert (await kiosk.request("issue", department="TP", request_id="a"))["ticket"]
        reopened = events(h.db, "config_changed")[-1][2]
        assert reopened["change"] == {"kind": "open_department", "department": "TP",
                                      "scheduled": True}
        assert reopened["by"] is None
    finally:
        await h.close()


async def test_every_live_change_survives_a_restart(harness):
    admin = await manager_client(harness)
    await admin.request("close_department", department="TP", until="indefinitely",
                        reason="sửa chữa")
    await admin.request("set_daily_cap", department="KHDT", cap=120)
    await admin.request("set_counter_departments", counter=2, departments=["TP", "KHDT"])
    await admin.request("set_notice", notice="Chiều nay nghỉ từ 15:00.",
                        notice_en="Closed from 15:00 this afternoon.")
    await admin.request("add_officer", officer="cb99", name="Trần Mới", pin="2468",
                        counters=[2, 3])
    await admin.request("update_officer", officer="cb02", name="Lê Đổi Tên", disabled=True)
    await admin.request("reset_pin", officer="cb03", pin="9753", reason="quên mã")
    history = (await admin.request("config_history"))["versions"]
    assert [v["change"]["kind"] for v in history[:6]] == [
        "update_officer", "add_officer", "set_notice", "set_counter_departments",
        "set_daily_cap", "close_department"]
    assert all(v["by"] == "ql01" for v in history[:6])

    await harness.restart()
    cfg = harness.server.config
    # The file is the one stored as version 1: the live changes are kept, said so.
    assert "versions 2–7" in harness.server.config_notice
    assert cfg.department("TP").open is False and cfg.department("TP").reopen_at is None
    assert cfg.department("KHDT").daily_cap == 120
    assert cfg.counter(2).departments == ("TP", "KHDT")
    assert cfg.notice == "Chiều nay nghỉ từ 15:00."
    assert cfg.officer("cb99").counters == (2, 3)
    assert cfg.officer("cb02").disabled and cfg.officer("cb02").name == "Lê Đổi Tên"
    # The new officer's PIN and the reset one work; the disabled officer can't log in.
    desk = await harness.client("counter", "d2", counter=2)
    await desk.request("login", officer="cb99", pin="2468")
    await desk.request("logout")
    await refused(desk, "login", "unknown_officer", officer="cb02", pin="1234")
    await refused(desk, "login", "unknown_officer", officer="cb03", pin="1234")
    await desk.request("login", officer="cb03", pin="9753")
    # No PIN hash is ever in the event log.
    with sqlite3.connect(harness.db) as conn:
        log = "\n".join(d for (d,) in conn.execute("SELECT data FROM events"))
    assert "pbkdf2" not in log and "2468" not in log and "9753" not in log


async def test_live_changes_are_validated(harness):
    admin = await manager_client(harness)
    await refused(admin, "close_department", "unknown_department", department="XX")
    await refused(admin, "set_daily_cap", "bad_value", department="TP", cap=5000)
    await refused(admin, "set_daily_cap", "bad_field", department="TP", cap="100")
    await refused(admin, "set_counter_departments", "bad_field", counter=1, departments="TP")
    await refused(admin, "set_counter_departments", "bad_value", counter=1, departments=[1, 2])
    await refused(admin, "set_counter_departments", "unknown_department", counter=1,
                  departments=["TP", "ZZ"])
    await refused(admin, "set_counter_departments", "unknown_counter", counter=77,
                  departments=["TP"])
    await refused(admin, "add_officer", "bad_value", officer="cb98", name="X", pin="12")
    await refused(admin, "add_officer", "officer_exists", officer="cb01", name="X", pin="2468")
    await refused(admin, "update_officer", "no_such_officer", officer="nobody", name="X")
    await refused(admin, "reset_pin", "bad_value", officer="cb01", pin="abcd")
    await refused(admin, "open_department", "no_change", department="TP")
    # A counter can't drop the only department nobody else serves.
    only = [d.code for d in harness.server.config.departments
            if sum(d.code in c.departments for c in harness.server.config.counters) == 1]
    if only:
        sole = next(c for c in harness.server.config.counters if only[0] in c.departments)
        other = next(d for d in sole.departments if d != only[0]) if len(sole.departments) > 1 \
            else next(d.code for d in harness.server.config.departments if d.code != only[0])
        await refused(admin, "set_counter_departments", "config_invalid", counter=sole.number,
                      departments=[other])
    assert events(harness.db, "config_changed") == []


async def test_the_stored_configuration_wins_over_a_different_file(open_config, tmp_path):
    import dataclasses
    h = Harness(open_config, tmp_path / "w.db")
    await h.start()
    try:
        admin = await manager_client(h)
        await admin.request("set_notice", notice="Thông báo trực tiếp")
        await h.restart()
        assert h.server.config.notice == "Thông báo trực tiếp"
        assert "are kept" in h.server.config_notice
        # The file edited by hand as before: still the stored one, said clearly…
        h.config = dataclasses.replace(open_config, notice="Sửa trong tệp")
        await h.restart()
        assert h.server.config.notice == "Thông báo trực tiếp"
        assert "THE CENTER FILE IS IGNORED" in h.server.config_notice
        # … unless the file is asked for: it becomes a new version.
        await h.stop()
        h.server = None
        from motcua.server.app import MotcuaServer
        srv = MotcuaServer(h.config, h.db, port=h.port, prefer_file=True)
        await srv.start()
        try:
            assert srv.config.notice == "Sửa trong tệp" and srv.config_notice is None
            assert srv.core.live_config().version == 3
        finally:
            await srv.stop()
    finally:
        await h.close()


# --- officers' own PIN ---------------------------------------------------------

async def test_an_officer_changes_their_pin_and_the_old_one_stops_working(harness):
    desk = await harness.client("counter", "desk-1", counter=1)
    await refused(desk, "change_pin", "not_logged_in", old_pin="1234", new_pin="4826")
    await desk.request("login", officer="cb01", pin="1234")
    await refused(desk, "change_pin", "wrong_pin", old_pin="0000", new_pin="4826")
    assert events(harness.db, "login_failed")[-1][2]["source"] == "127.0.0.1"
    await refused(desk, "change_pin", "bad_value", old_pin="1234", new_pin="12")
    await refused(desk, "change_pin", "bad_value", old_pin="1234", new_pin="1111")
    await refused(desk, "change_pin", "bad_field", old_pin=1234, new_pin="4826")
    # Another console at the same counter, without the login, may not.
    other = await harness.client("counter", "desk-2", counter=1)
    await refused(other, "change_pin", "login_required", old_pin="1234", new_pin="4826")
    reply = await desk.request("change_pin", old_pin="1234", new_pin="4826")
    assert reply["officer"] == "cb01"
    await desk.request("logout")
    await refused(desk, "login", "unknown_officer", officer="cb01", pin="1234")
    await desk.request("login", officer="cb01", pin="4826")
    logged = events(harness.db, "officer_pin_changed")
    assert logged[-1][2]["by"] == "cb01" and logged[-1][2]["own"] is True
    await harness.restart()
    await desk.wait_ready(10)
    await desk.request("logout")
    await desk.request("login", officer="cb01", pin="4826")
    # Only counters send it, and admins reset PINs instead.
    admin = await harness.client("admin")
    await refused(admin, "change_pin", "forbidden", old_pin="4826", new_pin="1357")


async def test_every_manager_command_needs_a_manager_and_checks_its_fields(harness):
    from motcua.protocol import COMMANDS, MANAGER_COMMANDS

    admin = await harness.client("admin")
    samples = {"str": "x", "int": 1, "bool": True, "list": ["TP"]}
    for name in sorted(MANAGER_COMMANDS):
        _, fields = COMMANDS[name]
        args = {f: samples[spec.kinds[0].__name__] for f, spec in fields.items() if spec.required}
        if name == "enrol_device":
            args["role"] = "kiosk"
        await refused(admin, name, "manager_required", **args)
    # Logged in, malformed fields are refused by name, and the connection stays.
    await add_manager(harness)
    await admin.request("manager_login", manager="ql01", password=PASSWORD)
    for name, fields in (("revoke_device", {"name": 5}), ("add_officer", {"officer": "x"}),
                         ("set_notice", {"notice": "x" * 501}),
                         ("update_officer", {"officer": "cb01", "disabled": "yes"}),
                         ("close_department", {"department": "TP", "until": 1400}),
                         ("config_history", {"limit": "10"})):
        await refused(admin, name, "bad_field", **fields)
    assert (await admin.request("ping"))["ok"]


async def test_todays_actions_by_a_manager_are_logged_with_who_and_why(harness):
    admin = await manager_client(harness)
    kiosk = await harness.client("kiosk")
    for i in range(2):
        await kiosk.request("issue", department="TP", request_id=f"q{i}")
    desk = await harness.client("counter", "desk-1", counter=1)
    await desk.request("login", officer="cb01", pin="1234")
    await admin.request("cancel", number="A002", reason="công dân đã về")
    await admin.request("logout", counter=1, reason="hết ca")
    logged = {t: (dev, d) for t, dev, d in events(harness.db, "ticket_cancelled",
                                                  "counter_closed")}
    assert logged["ticket_cancelled"][0] == "admin-test"
    assert logged["ticket_cancelled"][1]["by"] == "ql01"
    assert logged["ticket_cancelled"][1]["reason"] == "công dân đã về"
    assert logged["counter_closed"][1]["by"] == "ql01"
    assert logged["counter_closed"][1]["reason"] == "hết ca"
    # The console heard that its session is over.
    await wait_for(lambda: desk.session is None, 5)
