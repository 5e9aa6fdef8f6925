"""The counter console against a real server: Pilot drives it by keys and
clicks; the server's core and SQLite file say what really happened."""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Callable

from textual.pilot import Pilot
from textual.widgets import Button, Input

from conftest import TOKENS, wait_for
from motcua.counter.app import CounterConsole
from motcua.counter.rating import RatingPad
from motcua.client import MotcuaClient

SIZE = (120, 40)


def console(harness, counter: int = 1, **kw: Any) -> CounterConsole:
    client = MotcuaClient(harness.url, "counter", f"console-{counter}", TOKENS["counter"],
                          counter=counter)
    kw.setdefault("clock", harness.clock.time)  # the server's clock, not the machine's
    return CounterConsole(client, counter, **kw)


def pad(harness, counter: int = 1, **kw: Any) -> RatingPad:
    client = MotcuaClient(harness.url, "rating", f"pad-{counter}", TOKENS["rating"],
                          counter=counter)
    kw.setdefault("clock", harness.clock.time)
    return RatingPad(client, counter, **kw)


async def until(pilot: Pilot, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Let the app and the server run until ``predicate`` holds and no
    command is still waiting for its reply (the server changes its state
    a moment before the reply reaches the console)."""
    app = pilot.app
    await wait_for(lambda: predicate() and not getattr(app, "busy", False), timeout)
    await pilot.pause()


async def login(pilot: Pilot, officer: str = "cb01", pin: str = "1234",
                typed: bool = False) -> None:
    """Log in through the form (typed key by key, or filled and clicked)."""
    app = pilot.app
    await until(pilot, lambda: app.connected)
    if typed:
        await pilot.press(*officer, "enter", *pin, "enter")
    else:
        app.query_one("#officer-id", Input).value = officer
        app.query_one("#pin", Input).value = pin
        await pilot.click("#login-button")
    await until(pilot, lambda: app.logged_in)


async def issue(harness, *departments: str) -> list[str]:
    kiosk = await harness.client("kiosk")
    numbers = []
    for i, dept in enumerate(departments):
        r = await kiosk.request("issue", department=dept, request_id=f"t{time.time()}-{i}")
        numbers.append(r["ticket"]["number"])
    return numbers


def ticket(harness, number: str):
    core = harness.server.core
    return core.tickets[core.by_number[(core.meta.day, number)]]


def number_shown(app: CounterConsole) -> str | None:
    t = app.ticket
    return t["number"] if t else None


def button(app, action: str) -> Button:
    return app.query_one(f"#b-{action}", Button)


# --- a whole visit -----------------------------------------------------------

async def test_full_visit_ends_in_a_stored_rating(harness):
    [number] = await issue(harness, "TP")
    officer_app, pad_app = console(harness), pad(harness)
    # Two apps on one loop: Pilot's clicks reach only the innermost one, so
    # the console is driven by keys here and the pad by touch.
    async with officer_app.run_test(size=SIZE) as pilot, pad_app.run_test(size=SIZE) as pads:
        await login(pilot, typed=True)
        await until(pads, lambda: "Nguyễn" in str(pad_app.query_one("#idle-officer").render()))
        await pilot.press("f1")
        await until(pilot, lambda: number_shown(officer_app) == number)
        assert ticket(harness, number).status == "called"
        await pilot.press("f3")
        await until(pilot, lambda: officer_app.ticket["status"] == "serving")
        await pilot.press("f4")
        await until(pilot, lambda: officer_app.ticket is None)
        # The pad asks the citizen; one touch rates the visit.
        await until(pads, lambda: pad_app.phase == "levels")
        assert pad_app.visit["number"] == number
        assert await pads.click("#level-4")
        assert pad_app.phase == "thanks"
        await until(pads, lambda: pad_app.delivered)
        # The console counts the officer's day (events, then the server's figures).
        await until(pilot, lambda: officer_app.tally.rated == 1)
        assert officer_app.tally.served == 1
        stats = str(officer_app.query_one("#stats").render())
        assert "Đã phục vụ: 1" in stats and "Đánh giá: 1 lượt" in stats
        assert "Hài lòng: 100,0%" in stats
    rows = sqlite3.connect(harness.db).execute(
        "SELECT ticket_id, counter, officer, value, reason FROM ratings").fetchall()
    assert rows == [(ticket(harness, number).id, 1, "cb01", 4, None)]


async def test_figures_survive_a_console_restart(harness):
    [number] = await issue(harness, "TP")
    app = console(harness)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        await pilot.press("f1")
        await until(pilot, lambda: number_shown(app) == number)
        await pilot.press("f4")
        await until(pilot, lambda: app.ticket is None and app.tally.served == 1)
    pad_client = await harness.client("rating", device="pad-1", counter=1)
    await pad_client.request("rate", visit=ticket(harness, number).visit_id, value=4,
                             request_id="restart-1")
    # A new console (the old one closed, or the machine rebooted) loads the
    # officer's day from the server instead of starting at zero.
    again = console(harness)
    async with again.run_test(size=SIZE) as pilot:
        await login(pilot)
        await until(pilot, lambda: again.tally.served == 1 and again.tally.rated == 1)
        stats = str(again.query_one("#stats").render())
        assert "Đã phục vụ: 1" in stats and "Đánh giá: 1 lượt" in stats
        assert "Hài lòng: 100,0%" in stats
        assert "trên máy này" not in stats
        # After a reconnection the figures are loaded again, not kept from before.
        again.tally.reset("cb01")
        await harness.stop()
        await until(pilot, lambda: not again.connected)
        await harness.start()
        await until(pilot, lambda: again.connected and again.tally.served == 1, timeout=10)
        assert again.tally.ratings == {4: 1}


# --- transfer, no-show, back to queue, pause ---------------------------------

async def test_transfer_to_another_department_with_a_note(harness):
    [number] = await issue(harness, "TP")
    app = console(harness)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        await pilot.press("f1")
        await until(pilot, lambda: number_shown(app) == number)
        await pilot.press("f7")
        await until(pilot, lambda: len(app.screen_stack) == 2)
        dialog = app.screen
        # The console keeps drawing behind an open dialog: a new ticket
        # arrives and the timers tick while the officer is choosing.
        await issue(harness, "TP")
        await until(pilot, lambda: app.state.departments["TP"]["waiting"] == 1)
        await pilot.pause(1.1)
        assert app.screen is dialog
        codes = [code for code, _ in dialog.departments]
        assert "TP" not in codes  # never to the department it is in
        await pilot.press(*["down"] * codes.index("THUE"), "enter")
        await pilot.press(*"nop le phi", "enter")
        await until(pilot, lambda: app.ticket is None and len(app.screen_stack) == 1)
        t = ticket(harness, number)
        assert (t.department, t.status, t.transfers, t.note) == ("THUE", "waiting", 1,
                                                                "nop le phi")
        # Nobody serves tax yet: the console says so, for the officer to tell.
        assert (f"Đã chuyển số {number} sang Cục Thuế tỉnh. Báo công dân: chờ chưa ước tính "
                f"được (chưa có quầy mở).") == str(app.query_one("#message").render())
        await until(pilot, lambda: app.tally.transferred == 1)


async def test_no_show_then_back_to_the_queue(harness):
    first, second = await issue(harness, "TP", "TP")
    app = console(harness)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        assert await pilot.click("#b-call_next")
        await until(pilot, lambda: number_shown(app) == first)
        assert await pilot.click("#b-no_show")  # nobody came
        await until(pilot, lambda: app.ticket is None)
        assert ticket(harness, first).status == "no_show"
        await until(pilot, lambda: app.tally.no_shows == 1)
        # The citizen turns up late: "back to queue" offers the last no-show.
        assert not button(app, "requeue").disabled
        assert await pilot.click("#b-requeue")
        await until(pilot, lambda: len(app.screen_stack) == 2)
        assert app.screen.query_one("#number", Input).value == first
        assert await pilot.click("#ok")
        await until(pilot, lambda: ticket(harness, first).status == "waiting")
        assert button(app, "requeue").disabled  # nothing left to put back
        # A called ticket whose citizen is not here yet goes straight back.
        assert await pilot.click("#b-call_next")
        await until(pilot, lambda: number_shown(app) == second)
        assert await pilot.click("#b-requeue")
        await until(pilot, lambda: app.ticket is None)
        assert ticket(harness, second).status == "waiting"


async def test_pause_with_a_reason_and_resume(harness):
    await issue(harness, "TP")
    app = console(harness)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        await pilot.press("f9")
        await until(pilot, lambda: len(app.screen_stack) == 2)
        await pilot.press("down", "enter")  # the second preset: a meeting
        await until(pilot, lambda: app.view.get("status") == "paused")
        state = harness.server.core.counters[1]
        assert (state.status, state.reason) == ("paused", "Họp")
        assert "Tạm dừng: Họp" in str(app.query_one("#top-status").render())
        # Paused: nothing is called, by key or by button.
        assert button(app, "call_next").disabled
        await pilot.press("f1")
        await pilot.pause(0.2)
        assert app.ticket is None
        assert str(button(app, "pause").label) == "F9 Tiếp tục"
        await pilot.press("f9")
        await until(pilot, lambda: app.view.get("status") == "open")
        assert harness.server.core.counters[1].status == "open"
        await pilot.press("f1")
        await until(pilot, lambda: app.ticket is not None)


# --- the network ---------------------------------------------------------------

async def test_disconnect_locks_actions_and_recovers_by_itself(harness):
    first, second = await issue(harness, "TP", "TP")
    app = console(harness)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        await harness.stop()
        await until(pilot, lambda: not app.connected)
        assert app.query_one("#offline").display
        assert "MẤT KẾT NỐI" in str(app.query_one("#offline").render())
        assert all(b.disabled for b in app.query("#actions Button").results(Button))
        await pilot.press("f1")  # locked: nothing is sent, nothing breaks
        await pilot.pause(0.2)
        await harness.start()
        await until(pilot, lambda: app.connected, timeout=10)
        assert not app.query_one("#offline").display
        assert app.logged_in  # the server kept the counter open across its restart
        await pilot.press("f1")
        await until(pilot, lambda: number_shown(app) == first)
        assert ticket(harness, first).status == "called"
        assert ticket(harness, second).status == "waiting"


async def test_server_refusals_are_shown_in_plain_words(harness):
    app = console(harness)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connected)
        await pilot.press(*"cb01", "enter", *"9999", "enter")
        await until(pilot, lambda: "Sai mã cán bộ hoặc mã PIN." in str(
            app.query_one("#message").render()))
        assert not app.logged_in
        assert app.query_one("#pin", Input).has_focus  # ready for another try
        await pilot.press(*"1234", "enter")
        await until(pilot, lambda: app.logged_in)
        await pilot.press("f1")  # nobody waits yet
        await until(pilot, lambda: "Không còn ai chờ" in str(app.query_one("#message").render()))
        await pilot.press("f12")
        await pilot.press("f1")
        await until(pilot, lambda: "Nobody is waiting" in str(app.query_one("#message").render()))


async def test_a_refused_device_leaves_with_an_error(harness):
    client = MotcuaClient(harness.url, "counter", "console-x", "not-the-token", counter=1)
    app = CounterConsole(client, 1)
    async with app.run_test(size=SIZE):
        await wait_for(lambda: app.return_code == 2)
    assert client.auth_error.error.code == "bad_token"


async def test_an_officer_logged_in_elsewhere_is_sent_back_to_login(harness):
    app = console(harness)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        other = await harness.client("counter", device="another-desk", counter=2)
        await other.request("login", officer="cb01", pin="1234")
        await until(pilot, lambda: not app.logged_in)
        assert app.query_one("#views").current == "login"
        assert "đăng nhập lại" in str(app.query_one("#message").render())


async def test_queue_panel_warns_when_the_oldest_wait_passes_the_target(harness):
    await issue(harness, "TP", "TP")
    later = harness.clock.time() + 21 * 60  # TP's target is 20 minutes
    app = console(harness, clock=lambda: later)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        await until(pilot, lambda: "QUÁ MỤC TIÊU 20 PHÚT" in str(
            app.query_one("#queues").render()))
        assert app.query_one("#queues").has_class("-over")
        assert "2 người chờ" in str(app.query_one("#queues").render())


# --- keyboard only ---------------------------------------------------------------

async def test_a_whole_shift_by_keyboard_alone(harness):
    first, second, third = await issue(harness, "TP", "TP", "TP")
    app = console(harness)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot, typed=True)       # type ID, Enter, PIN, Enter
        await pilot.press("f1")              # call next
        await until(pilot, lambda: number_shown(app) == first)
        await pilot.press("f2")              # recall
        await until(pilot, lambda: (app.ticket or {}).get("recalls") == 1)
        await pilot.press("f3")              # start
        await until(pilot, lambda: app.ticket["status"] == "serving")
        await pilot.press("f10")             # log out: not with a citizen at the desk
        await pilot.pause(0.2)
        assert app.logged_in
        await pilot.press("f4")              # finish
        await until(pilot, lambda: app.ticket is None)
        await pilot.press("f8")              # call a specific number, out of order
        await until(pilot, lambda: len(app.screen_stack) == 2)
        await pilot.press(*third.lower(), "enter")
        await until(pilot, lambda: number_shown(app) == third)
        await pilot.press("f4")              # finish without "start": counted from the call
        await until(pilot, lambda: app.ticket is None)
        await pilot.press("f8")              # pick from the waiting list instead of typing
        await until(pilot, lambda: len(app.screen_stack) == 2)
        await pilot.press("tab", "enter")    # focus the list, take its first row
        await until(pilot, lambda: number_shown(app) == second)
        await pilot.press("f4")
        await until(pilot, lambda: app.ticket is None)
        await pilot.press("f12")             # English
        assert str(button(app, "call_next").label) == "F1 Call next"
        await pilot.press("f10")             # log out
        await until(pilot, lambda: not app.logged_in)
        assert app.query_one("#views").current == "login"
    core = harness.server.core
    assert [ticket(harness, n).status for n in (first, second, third)] == ["done"] * 3
    assert core.counters[1].status == "closed"
    assert app.tally.served == 3


async def test_buttons_keep_whole_distinct_labels_on_narrow_terminals(harness):
    """Found: at 70 columns "F10 Đăng" for "Đăng xuất"; at 60 "F1 Gọi" and
    "F2 Gọi" looked alike and F7, F10 had no label at all."""
    expected = {"call_next": "F1 Gọi tiếp", "recall": "F2 Gọi lại", "start": "F3 Bắt đầu",
                "finish": "F4 Kết thúc", "no_show": "F5 Vắng mặt", "requeue": "F6 Trả về",
                "transfer": "F7 Chuyển", "call_number": "F8 Gọi số", "pause": "F9 Tạm dừng",
                "logout": "F10 Đăng xuất"}
    app = console(harness)
    async with app.run_test(size=(80, 24)) as pilot:
        await login(pilot)
        for width, height in ((70, 24), (60, 20)):
            await pilot.resize_terminal(width, height)
            await pilot.pause(0.2)
            for action, label in expected.items():
                button = app.query_one(f"#b-{action}", Button)
                assert str(button.label) == label, (width, action)
                region = button.content_region
                assert region.width >= len(label), (width, action, region)
                assert region.right <= width and region.bottom <= height, (width, action)
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.2)
        assert str(app.query_one("#b-call_next", Button).label) == "F1 Gọi số tiếp"
