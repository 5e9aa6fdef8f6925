"""The admin app driven as a manager would, against the real server: log in,
enrol a kiosk (its secret shown once), close a department (confirmed) and
see the kiosk refuse it and the waiting-room display show it closed; the
officer's own PIN at the console; the monitor opens the admin screen."""

from __future__ import annotations

import asyncio

import pytest

from conftest import wait_for
from test_admin_server import PASSWORD, add_manager, events

from motcua.admin.app import AdminApp, AdminScreen
from motcua.admin.dialogs import FormDialog, SecretDialog
from motcua.client import ServerError, connect_once
from motcua.server.devices import parse_enrolment


async def until(pilot, predicate, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"not met (screen {pilot.app.screen!r}, "
                                 f"focus {pilot.app.focused!r})")
        await pilot.pause(0.02)


async def type_in(pilot, selector: str, text: str) -> None:
    pilot.app.screen.query_one(selector).focus()
    await pilot.pause()
    await pilot.press(*text)


async def login(app: AdminApp, pilot) -> None:
    await until(pilot, lambda: app.admin.connected and app.admin.state.center)
    await type_in(pilot, "#manager-id", "ql01")
    await pilot.press("enter")
    await pilot.press(*PASSWORD, "enter")
    await until(pilot, lambda: app.admin.manager == "ql01")


async def test_a_manager_enrols_a_kiosk_and_closes_a_department(harness):
    await add_manager(harness)
    kiosk = await harness.client("kiosk", "kiosk-plain")
    display = await harness.client("display")
    app = AdminApp(harness.url, device="admin-app", clock=harness.clock.time)
    async with app.run_test(size=(80, 24)) as pilot:
        # A wrong password: said, and nothing opens.
        await until(pilot, lambda: app.admin.connected and app.admin.state.center)
        await type_in(pilot, "#manager-id", "ql01")
        await pilot.press("enter", *"sai-mat-khau", "enter")
        await until(pilot, lambda: "Sai mã quản lý" in str(
            app.admin.query_one("#login-error").render()))
        assert app.admin.manager is None
        await type_in(pilot, "#manager-password", PASSWORD)
        await pilot.press("enter")
        await until(pilot, lambda: app.admin.manager == "ql01")

        # Devices: enrol a kiosk from the form; its secret is shown once.
        await pilot.click("#add-device")
        await until(pilot, lambda: isinstance(app.screen, FormDialog))
        await type_in(pilot, "#f-name", "sanh-2")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SecretDialog))
        code = app.screen.query_one("#enrolment-text").value
        secret = app.screen.query_one("#secret-text").value
        assert parse_enrolment(code)["secret"] == secret
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AdminScreen))
        await until(pilot, lambda: app.admin.devices and app.admin.devices[0]["name"] == "sanh-2")
        enrolled = await connect_once(harness.url, "kiosk", "x", secret)
        harness.clients.append(enrolled)

        # Departments: close TP for today — asked first, then done live.
        app.admin.query_one("#main").active = "departments"
        await pilot.pause()
        table = app.admin.query_one("#departments-table")
        table.focus()
        codes = [d["code"] for d in app.admin.state.center["departments"]]
        table.move_cursor(row=codes.index("TP"))
        await pilot.pause(0.6)  # laid out; and no double click with the last one
        await pilot.click("#close-department")
        await until(pilot, lambda: isinstance(app.screen, FormDialog))
        assert app.screen.danger  # a destructive action, confirmed
        await pilot.click("#cancel")  # changed mind: nothing happens
        await until(pilot, lambda: isinstance(app.screen, AdminScreen))
        assert events(harness.db, "config_changed") == []
        await pilot.pause(0.6)  # two clicks in quick succession would be a double click
        await pilot.click("#close-department")
        await until(pilot, lambda: isinstance(app.screen, FormDialog))
        await type_in(pilot, "#f-reason", "mất điện")
        await pilot.click("#ok")
        await until(pilot, lambda: isinstance(app.screen, AdminScreen))

        def tp_open(client) -> bool:
            return client.state.department_info("TP")["open"]
        await wait_for(lambda: not tp_open(kiosk) and not tp_open(display), 1.0)
        await until(pilot, lambda: "đóng hết hôm nay" in str(
            app.admin.query_one("#departments-table").get_row("TP")))
    logged = events(harness.db, "config_changed")
    assert [(d["change"]["kind"], d["by"], d["reason"]) for _, _, d in logged] == [
        ("close_department", "ql01", "mất điện")]
    assert logged[0][1] == "admin-app"
    assert [d["name"] for _, dev, d in events(harness.db, "device_enrolled")] == ["sanh-2"]


async def test_the_kiosk_and_the_display_show_a_live_closure(harness):
    from test_display import display as display_app
    from test_kiosk import kiosk as kiosk_app
    from test_kiosk import ready

    from motcua.display.widgets import DepartmentsPanel

    await add_manager(harness)
    admin = await harness.client("admin")
    await admin.request("manager_login", manager="ql01", password=PASSWORD)
    tv = display_app(harness, voice="off")
    async with tv.run_test(size=(160, 45)) as tv_pilot:
        await until(tv_pilot, lambda: tv.state.center)
        async with kiosk_app(harness.url) as (k, pilot):
            await ready(k, pilot)
            assert not k.home.query_one("#dept-TP").disabled
            await admin.request("close_department", department="TP", reason="thử")
            # The kiosk greys the department out within a second…
            await until(pilot, lambda: k.home.query_one("#dept-TP").disabled, 1.0)
            # … and the TV says it is closed.
            await until(tv_pilot, lambda: any(
                r.code == "TP" and not r.open
                for r in tv.query_one(DepartmentsPanel).rows), 1.0)
            rendered = str(tv.query_one(DepartmentsPanel).render())
            assert rendered  # drawn without error
            await admin.request("open_department", department="TP")
            await until(pilot, lambda: not k.home.query_one("#dept-TP").disabled, 1.0)


async def test_the_monitor_opens_the_admin_screen_on_its_connection(harness):
    from motcua.monitor.app import MonitorApp

    await add_manager(harness)
    app = MonitorApp(harness.url, device="monitor-admin", clock=harness.clock.time)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.connected and app.model.state.center)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AdminScreen))
        screen = app.screen
        assert screen.client is app.client
        await type_in(pilot, "#manager-id", "ql01")
        await pilot.press("enter", *PASSWORD, "enter")
        await until(pilot, lambda: screen.manager == "ql01")
        await until(pilot, lambda: screen.officers)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, AdminScreen))
        # Leaving the admin screen logs the manager out of the monitor's connection.
        await wait_for(lambda: all(s.manager is None for s in harness.server.sessions.values()),
                       5)


async def test_an_officer_changes_their_own_pin_at_the_console(harness):
    from test_counter_console import console, login as console_login
    from test_counter_console import until as console_until

    from motcua.counter.dialogs import ChangePinDialog

    app = console(harness, 1)
    async with app.run_test(size=(80, 24)) as pilot:
        await console_login(pilot, typed=True)
        await console_until(pilot, lambda: app.logged_in)
        await pilot.press("f11")
        await until(pilot, lambda: isinstance(app.screen, ChangePinDialog))
        await pilot.press(*"1234", "enter", *"2580", "enter", *"2581", "enter")
        await until(pilot, lambda: "không khớp" in str(
            app.screen.query_one(".dialog-error").render()))
        app.screen.query_one("#pin_again").value = ""
        app.screen.query_one("#pin_again").focus()
        await pilot.press(*"2580", "enter")
        await until(pilot, lambda: len(app.screen_stack) == 1)
        await console_until(pilot, lambda: "Đã đổi mã PIN" in str(
            app.query_one("#message").render()))
    desk = await harness.client("counter", "desk-check", counter=4)
    with pytest.raises(ServerError):
        await desk.request("login", officer="cb01", pin="1234")
    await desk.request("login", officer="cb01", pin="2580")
