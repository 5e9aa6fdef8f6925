"""Wait estimates end to end: on the wire (a real server on port 0 with a real
SQLite file), on the kiosk (Pilot), on the printed ticket (ESC/POS bytes) and
on the counter console after a transfer.

The harness runs on the real clock with hours lifted, so these tests check
what is said and its shape, never how many minutes (that depends on nothing
but the state, which the pure tests in test_estimate.py pin down)."""

from __future__ import annotations

import sys
import time

from escpos.printer import Dummy
from textual.widgets import Button, Input

from conftest import TOKENS, wait_for
from motcua.client import MotcuaClient
from motcua.counter.app import CounterConsole
from motcua.kiosk.app import HomeScreen
from motcua.kiosk.model import IssuedTicket
from motcua.printer import fonts as fonts_mod
from motcua.printer import PrinterOptions
from motcua.printer.ticket import _layout, render
from motcua.waits import wait_phrase, wait_phrase_of
from test_kiosk import kiosk, ready, text_of, ticket_shown, until
from test_printer import make_slip

# --- the wording rule shared by every client -------------------------------------


def test_wait_phrase_picks_the_line_for_each_case():
    assert wait_phrase(12, (9, 16)) == ("wait_range", {"lo": 9, "hi": 16})
    assert wait_phrase(3, (0, 6)) == ("wait_upto", {"hi": 6})
    assert wait_phrase(0, (0, 0)) == ("wait_under", {})
    assert wait_phrase(5, (5, 5)) == ("wait", {"n": 5})
    assert wait_phrase(None, None, "no_open_counter") == ("wait_unknown",
                                                          {"why": "no_open_counter"})
    # An older server sends a single figure only.
    assert wait_phrase(25) == ("wait", {"n": 25}) and wait_phrase(0) == ("wait_under", {})
    assert wait_phrase(None) is None
    assert wait_phrase_of({"wait_minutes": 7, "wait_range": [5, "x"]}) == ("wait", {"n": 7})


# --- on the wire ------------------------------------------------------------------

async def test_issue_and_views_say_why_a_wait_is_unknown(harness):
    kiosk_client = await harness.client("kiosk")
    reply = await kiosk_client.request("issue", department="TP", request_id="w1")
    # Nobody is logged in at counter 1: no "0 ahead, about 18 minutes".
    assert reply["ahead"] == 0
    assert reply["wait_minutes"] is None and reply["wait_range"] is None
    assert reply["wait_unknown"] == "no_open_counter"
    view = kiosk_client.state.departments
    await wait_for(lambda: view.get("TP", {}).get("waiting") == 1)
    assert view["TP"]["wait_unknown"] == "no_open_counter"

    counter = await harness.client("counter", counter=1)
    await counter.request("login", officer="cb01", pin="1234")
    await wait_for(lambda: view["TP"].get("wait_unknown") is None)
    reply = await kiosk_client.request("issue", department="TP", request_id="w2")
    lo, hi = reply["wait_range"]
    assert reply["wait_unknown"] is None and lo <= reply["wait_minutes"] <= hi
    again = await kiosk_client.request("issue", department="TP", request_id="w2")
    assert again["repeat"] and again["ticket"]["number"] == reply["ticket"]["number"]
    assert "wait_range" in again


async def test_a_transfer_reply_and_event_carry_the_next_wait(harness):
    kiosk_client = await harness.client("kiosk")
    await kiosk_client.request("issue", department="TP", request_id="t1")
    desk = await harness.client("counter", counter=1)
    await desk.request("login", officer="cb01", pin="1234")
    fee = await harness.client("counter", counter=13)
    await fee.request("login", officer="cb13", pin="1234")
    await desk.request("call_next")
    await desk.request("start")
    reply = await desk.request("transfer", department="PHI")
    assert reply["ticket"]["department"] == "PHI" and reply["wait_unknown"] is None
    lo, hi = reply["wait_range"]
    assert lo <= reply["wait_minutes"] <= hi and reply["ahead"] == 0


# --- on the kiosk ----------------------------------------------------------------

async def take_a_number(app, pilot, dept: str) -> None:
    """Touch the department, its first procedure, then "no priority"."""
    from motcua.kiosk.app import DepartmentScreen, PriorityScreen

    await pilot.click(f"#dept-{dept}")
    await until(pilot, lambda: isinstance(app.screen, DepartmentScreen))
    await pilot.press("1")
    await until(pilot, lambda: isinstance(app.screen, PriorityScreen))
    await pilot.press("1")


async def test_kiosk_shows_why_the_wait_is_unknown_then_a_range(harness):
    async with kiosk(harness.url) as (app, pilot):
        await ready(app, pilot)
        label = lambda: str(app.screen.query_one("#dept-XD", Button).label)  # noqa: E731
        assert label().endswith("\nChưa có quầy mở")
        await take_a_number(app, pilot, "XD")
        screen = await ticket_shown(app, pilot)
        assert text_of(screen, "#t-wait") == ("Thời gian chờ dự kiến: chưa ước tính được — "
                                              "chưa có quầy mở")
        await pilot.click("#done")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))

        counter = await harness.client("counter", counter=5)
        await counter.request("login", officer="cb05", pin="1234")
        other = await harness.client("kiosk", device="kiosk-2")
        for i in range(3):
            await other.request("issue", department="XD", request_id=f"x{i}")
        await until(pilot, lambda: label().startswith("D · Sở Xây dựng\n4 người đang chờ · ")
                    and label().endswith(" phút"), what="a range on the button")
        await take_a_number(app, pilot, "XD")
        screen = await ticket_shown(app, pilot)
        wait = text_of(screen, "#t-wait")
        issued: IssuedTicket = screen.issued
        assert issued.wait_range is not None and issued.wait_unknown is None
        lo, hi = issued.wait_range
        assert wait == (f"Thời gian chờ dự kiến: khoảng {lo}–{hi} phút" if lo >= 1
                        else f"Thời gian chờ dự kiến: dưới {hi} phút"), wait


async def test_kiosk_in_english_says_no_counter_open(harness):
    async with kiosk(harness.url) as (app, pilot):
        await ready(app, pilot)
        await pilot.click("#lang")
        await until(pilot, lambda: app.t.language == "en")
        assert str(app.screen.query_one("#dept-CA", Button).label).endswith("\nNo counter open yet")


# --- on the printed ticket ----------------------------------------------------------

def _texts(slip) -> list[str]:
    return [b.text for b in _layout(slip) if hasattr(b, "text") and hasattr(b, "size")]


def _issued(**kw) -> IssuedTicket:
    base = dict(ticket={"id": 1, "number": "A001", "day": "2025-03-10", "department": "TP",
                        "issued_at": time.time()}, ahead=2, wait_minutes=25, repeat=False)
    return IssuedTicket(**{**base, **kw})


def _facts(issued: IssuedTicket, language: str = "vi") -> list[str]:
    from motcua.i18n import Catalogue
    from motcua.kiosk.slip import ticket_facts
    from motcua.kiosk.strings import EN, VI
    from motcua.server.config import load_config

    t = Catalogue(VI, EN, language)
    return ticket_facts(load_config(None).public(), issued, t)


def test_printed_ticket_shows_the_range_or_why_not():
    assert "Thời gian chờ dự kiến: khoảng 15–25 phút" in _facts(
        _issued(wait_minutes=19, wait_range=(15, 25)))
    assert "Thời gian chờ dự kiến: dưới 4 phút" in _facts(
        _issued(wait_minutes=1, wait_range=(0, 4)))
    assert "Thời gian chờ dự kiến: chưa ước tính được — chưa có quầy mở" in _facts(
        _issued(wait_minutes=None, wait_unknown="no_open_counter"))
    assert "Estimated wait: about 15–25 min" in _facts(
        _issued(wait_minutes=19, wait_range=(15, 25)), "en")
    # From an older server: the single figure, as before.
    assert "Thời gian chờ dự kiến: khoảng 25 phút" in _facts(_issued())


def test_printed_range_in_the_printer_bytes_without_a_font(monkeypatch):
    monkeypatch.setitem(sys.modules, fonts_mod.FONT_PACKAGE, None)
    monkeypatch.delenv("MOTCUA_FONT", raising=False)
    for issued, words in ((_issued(wait_minutes=19, wait_range=(15, 25)),
                           b"Thoi gian cho du kien: khoang 15-25 phut"),
                          (_issued(wait_minutes=None, wait_unknown="no_open_counter"),
                           b"chua uoc tinh duoc")):
        p = Dummy()
        render(make_slip(facts=tuple(_facts(issued))), p, PrinterOptions(paper_mm=80))
        assert words in p.output.replace(b"\n", b" ")


def test_kiosk_builds_the_slip_with_the_range(harness):
    from motcua.kiosk.app import KioskApp

    app = KioskApp("ws://127.0.0.1:9", device="k")
    slip = app.make_slip(_issued(wait_minutes=12, wait_range=(9, 16)))
    assert any("9–16" in f for f in slip.facts)
    unknown = app.make_slip(_issued(wait_minutes=None, wait_unknown="no_open_counter"))
    assert any("chưa có quầy mở" in f for f in unknown.facts)


# --- on the counter console after a transfer --------------------------------------------

async def test_console_tells_the_officer_the_wait_at_the_next_queue(harness):
    kiosk_client = await harness.client("kiosk")
    number = (await kiosk_client.request("issue", department="TP",
                                         request_id="c1"))["ticket"]["number"]
    fee = await harness.client("counter", counter=13)
    await fee.request("login", officer="cb13", pin="1234")
    client = MotcuaClient(harness.url, "counter", "console-1", TOKENS["counter"], counter=1)
    app = CounterConsole(client, 1)
    async with app.run_test(size=(100, 32)) as pilot:
        await wait_for(lambda: app.connected, 5)
        app.query_one("#officer-id", Input).value = "cb01"
        app.query_one("#pin", Input).value = "1234"
        await pilot.click("#login-button")
        await wait_for(lambda: app.logged_in, 5)
        await pilot.press("f1")
        await wait_for(lambda: app.ticket is not None and app.ticket["number"] == number, 5)
        await pilot.press("f7")
        await wait_for(lambda: len(app.screen_stack) == 2, 5)
        codes = [code for code, _ in app.screen.departments]
        await pilot.press(*["down"] * codes.index("PHI"), "enter")
        await pilot.press("enter")
        await wait_for(lambda: app.ticket is None and len(app.screen_stack) == 1
                       and not app.busy, 5)
        await pilot.pause()
        message = str(app.query_one("#message").render())
        assert message.startswith(f"Đã chuyển số {number} sang Thu phí, lệ phí. Báo công dân: chờ ")
        assert "phút" in message, message
