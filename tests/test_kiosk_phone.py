"""The kiosk's "text me when my turn is near": a phone keypad after the
ticket, end to end — kiosk (Pilot) → real server (port 0, SQLite under
tmp_path) → tests/fake_gateway.py receiving the messages — and the refusals:
bad numbers on the keypad, the server's own refusals, the wrong role and
malformed input for the kiosk's ``notify``. The number never stays on the
screen (idle clears it) and never reaches a log."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from pathlib import Path

import pytest
from textual.widgets import Button, Static
from websockets.asyncio.client import connect

from conftest import TOKENS, Harness, wait_for
from fake_gateway import FakeGateway
from motcua.kiosk.app import HomeScreen, KioskApp, PhoneScreen, TicketScreen
from motcua.kiosk.model import IssuedTicket, PhoneEntry, phone_error_key
from motcua.kiosk.strings import EN, VI
from motcua.phone import PhoneError, group_entry, mask_phone, normalize_phone
from motcua.web import alerts
from motcua.web.settings import NotifySettings, WebSettings
from test_kiosk import (MORNING, _show_fixed_state, kiosk, ready, snapshot_app,
                        take_number_by_keys, ticket_shown, until)


def notify_config(config, gw: FakeGateway, ahead: int = 1):
    return dataclasses.replace(config, web=WebSettings(notify=NotifySettings(
        url=gw.url + "/send?to={phone}", method="POST",
        body='{"to": "{phone_intl}", "text": "{text}", "kind": "{kind}"}',
        ahead=ahead, retries=1, timeout=2, backoff=0.05)))


def screen_text(screen) -> str:
    """Every Static and Button label on a screen, as the citizen reads it."""
    parts = [str(w.render()) for w in screen.query(Static)]
    parts += [str(b.label) for b in screen.query(Button)]
    return "\n".join(parts)


def shows_a_number(text: str) -> bool:
    """Whether a phone number (typed in these tests) is in ``text``."""
    return any(part in text for part in ("912345678", "0912 345", "345 678", "912 345"))


def entry_shown(app) -> str:
    return str(app.screen.query_one("#phone-entry", Static).render())


def error_shown(app) -> str:
    line = app.screen.query_one("#phone-error", Static)
    return str(line.render()) if line.has_class("-shown") else ""


async def keypad(app, pilot) -> PhoneScreen:
    await until(pilot, lambda: isinstance(app.screen, PhoneScreen), what="phone keypad")
    return app.screen  # type: ignore[return-value]


# --- the rule, pure ------------------------------------------------------------------

@pytest.mark.parametrize("raw, phone", [
    ("0912345678", "0912345678"), ("0912 345 678", "0912345678"), ("+84912345678", "0912345678"),
    ("+84 387 654 321", "0387654321"), ("84562345678", "0562345678"), ("0798.765.432", "0798765432"),
    ("0812-345-678", "0812345678")])
def test_mobile_numbers(raw, phone):
    assert normalize_phone(raw) == phone
    assert alerts.normalize_phone(raw) == phone  # the server's rule is the same one


@pytest.mark.parametrize("raw, reason, params", [
    ("", "empty", {}), ("12345", "start", {}), ("091234567", "length", {"n": 9}),
    ("09123456789", "length", {"n": 11}), ("+8491234", "length_intl", {"n": 5}),
    ("+1 415 555 0100", "plus", {}), ("0241234567", "not_mobile", {}),  # a landline
    ("0123456789", "not_mobile", {}), ("0912a45678", "chars", {})])
def test_entries_that_are_not_mobile_numbers(raw, reason, params):
    with pytest.raises(PhoneError) as e:
        normalize_phone(raw)
    assert (e.value.reason, e.value.params) == (reason, params)
    with pytest.raises(ValueError):
        alerts.normalize_phone(raw)
    key, _ = phone_error_key(e.value)
    assert key in VI and key in EN  # every refusal has words in both languages


def test_the_keypad_entry():
    entry = PhoneEntry()
    assert not entry.press("backspace") and entry.text == ""
    for key in "+8+4":  # "+" only first
        entry.press(key)
    assert entry.text == "+84"
    for key in "98765432199":
        entry.press(key)
    assert entry.text == "+84987654321"  # at most 12 characters
    assert entry.grouped() == "+84 987 654 321" and entry.check() == "0987654321"
    entry.press("clear")
    for key in "091234567٣8":  # a non-ASCII digit is not a key
        entry.press(key)
    assert entry.grouped() == "0912 345 678" and group_entry("091") == "091"
    assert mask_phone(entry.check()) == "09xx xxx 678"
    entry.clear()
    assert entry.text == ""


def test_the_issue_reply_says_whether_to_offer_messages():
    ticket = {"id": 3, "number": "A003", "day": "2026-12-01", "department": "TP"}
    offered = IssuedTicket.from_reply({"ticket": ticket, "ahead": 2, "notify_ahead": 3,
                                       "link": "http://10.0.0.5:8765/ve/rOHd-pXZtiYSewS1mmRKyA"})
    assert offered.can_notify and offered.link_secret == "rOHd-pXZtiYSewS1mmRKyA"
    assert offered.notify_ahead == 3
    for reply in ({"notify_ahead": None}, {}, {"notify_ahead": True}, {"notify_ahead": "3"}):
        plain = IssuedTicket.from_reply({"ticket": ticket, "link": offered.link, **reply})
        assert not plain.can_notify
    no_link = IssuedTicket.from_reply({"ticket": ticket, "notify_ahead": 3})
    assert not no_link.can_notify  # an older server: no secret to name the ticket by


# --- end to end ------------------------------------------------------------------------

async def test_keyboard_number_reaches_the_gateway_when_the_turn_nears(
        open_config, tmp_path: Path, caplog) -> None:
    """Kiosk → server → fake gateway: A003 (2 ahead) leaves a number typed on
    a keyboard; the gateway hears nothing until one is ahead, then "near",
    then "called". The screen shows the number masked, no log line has it."""
    caplog.set_level(logging.DEBUG)  # websockets logs frames at DEBUG
    with FakeGateway() as gw:
        h = Harness(notify_config(open_config, gw, ahead=1), tmp_path / "m.db")
        await h.start()
        try:
            k = await h.client("kiosk", device="kiosk-other")
            for i in range(2):
                await k.request("issue", department="TP", request_id=f"before-{i}")
            async with kiosk(h.url, size=(80, 24), clock=h.clock, home_after=30) as (app, pilot):
                await ready(app, pilot)
                await take_number_by_keys(app, pilot)
                ticket = await ticket_shown(app, pilot)
                assert ticket.issued.number == "A003" and ticket.issued.ahead == 2
                assert ticket.query_one("#notify", Button).label.plain == \
                    "Nhắn tin báo khi sắp đến lượt"
                await pilot.press("0")  # a digit on the ticket screen opens the keypad
                pad = await keypad(app, pilot)
                await pilot.press(*"912345679", "backspace", "8")
                assert entry_shown(app) == "0912 345 678"
                await pilot.press("enter")
                await until(pilot, lambda: isinstance(app.screen, TicketScreen)
                            and bool(app.screen.query("#t-notify")), what="confirmation")
                assert str(app.screen.query_one("#t-notify", Static).render()) == (
                    "Sẽ nhắn tin đến 09xx xxx 678 khi còn 1 người trước bạn "
                    "và khi gọi đến số của bạn.")
                assert not app.screen.query("#notify")  # offered once
                assert not shows_a_number(screen_text(app.screen))
                assert pad.entry.text == "" and pad not in app.screen_stack
                web = h.server.web
                [alert] = web.alerts.values()
                assert (alert.phone, alert.lang) == ("0912345678", "vi")
                assert alert.ticket_id == ticket.issued.ticket["id"]
                await asyncio.sleep(0.5)
                assert gw.received == []  # 2 ahead: not yet

                counter = await h.client("counter", counter=1)
                await counter.request("login", officer="cb01", pin="1234")
                await counter.request("call_next")  # A001: one ahead of A003 now
                await wait_for(lambda: len(gw.received) == 1, 10)
                near = gw.received[0]
                assert near.path == "/send?to=0912345678"
                assert near.json()["to"] == "84912345678" and near.json()["kind"] == "near"
                assert "A003" in near.json()["text"]
                for _ in range(2):
                    await counter.request("finish")
                    await counter.request("call_next")  # A002, then A003
                await wait_for(lambda: len(gw.received) == 2, 10)
                assert gw.received[1].json()["kind"] == "called"
                assert "A003" in gw.received[1].json()["text"]
        finally:
            await h.close()
    assert "345678" not in caplog.text and "345 678" not in caplog.text
    frames = [r for r in caplog.records if "phone number: contents not logged" in r.getMessage()]
    assert frames  # the kiosk's frame was logged, without its contents


async def test_touch_and_plus84_in_english(open_config, tmp_path: Path) -> None:
    """``--lang en``, all by touch: the offer, the keypad's keys, Confirm."""
    with FakeGateway() as gw:
        h = Harness(notify_config(open_config, gw, ahead=3), tmp_path / "m.db")
        await h.start()
        try:
            k = await h.client("kiosk", device="kiosk-other")
            for i in range(5):
                await k.request("issue", department="TP", request_id=f"before-{i}")
            async with kiosk(h.url, size=(80, 24), clock=h.clock, language="en",
                             home_after=30) as (app, pilot):
                await ready(app, pilot)
                await take_number_by_keys(app, pilot)
                await ticket_shown(app, pilot)
                await pilot.click("#notify")
                await keypad(app, pilot)
                assert "Enter your mobile number" in str(
                    app.screen.query_one("#phone-prompt", Static).render())
                for key in ("plus", "8", "4", "9", "8", "7", "6", "5", "4", "3", "2", "2",
                            "backspace", "1"):
                    await pilot.click(f"#pad-{key}")
                assert entry_shown(app) == "+84 987 654 321"
                await pilot.click("#phone-ok")
                await until(pilot, lambda: bool(app.screen.query("#t-notify")),
                            what="confirmation")
                assert str(app.screen.query_one("#t-notify", Static).render()) == (
                    "We will text 09xx xxx 321 when 3 people are ahead of you, "
                    "and when you are called.")
                [alert] = h.server.web.alerts.values()
                assert (alert.phone, alert.lang) == ("0987654321", "en")
        finally:
            await h.close()


async def test_bad_numbers_are_refused_with_the_reason(open_config, tmp_path: Path) -> None:
    with FakeGateway() as gw:
        h = Harness(notify_config(open_config, gw), tmp_path / "m.db")
        await h.start()
        try:
            async with kiosk(h.url, size=(60, 20), clock=h.clock, home_after=30) as (app, pilot):
                await ready(app, pilot)
                await take_number_by_keys(app, pilot)
                await ticket_shown(app, pilot)
                await pilot.press("shift+tab", "enter")  # the offer, by keyboard
                await keypad(app, pilot)
                await pilot.press("enter")
                assert error_shown(app) == "Xin nhập số điện thoại di động."
                await pilot.press(*"12345")
                assert error_shown(app) == ""  # typing again clears the complaint
                await pilot.press("enter")
                assert error_shown(app) == "Số điện thoại phải bắt đầu bằng số 0 (hoặc +84)."
                await pilot.press("delete", *"0241234567", "enter")
                assert error_shown(app).startswith("Đây không phải số di động")
                await pilot.press("delete", *"091234567", "enter")
                assert error_shown(app) == "Số di động có 10 chữ số, số vừa nhập có 9 chữ số."
                await pilot.click("#pad-backspace")
                await pilot.press("+")
                assert entry_shown(app) == "0912 345 6"  # "+" only comes first
                await pilot.press(*"78901234")
                assert entry_shown(app) == "0912 345 678 90"  # 12 characters at most
                await pilot.press("delete", "+", *"849", "enter")
                assert error_shown(app) == "Sau +84 cần 9 chữ số, số vừa nhập có 1 chữ số."
                assert isinstance(app.screen, PhoneScreen)
                assert h.server.web.alerts == {}  # nothing bad reached the server

                # The server's own refusal comes in plain words too: here the
                # citizen already changed the number three times on the page.
                secret = app.screen_stack[-2].issued.link_secret
                page = await connect(h.url)
                await page.send(json.dumps({"type": "hello", "role": "citizen", "device": "web",
                                            "token": secret, "protocol": 1}))
                assert json.loads(await page.recv())["type"] == "welcome"
                for i in range(3):
                    await page.send(json.dumps({"type": "notify", "id": i,
                                                "phone": f"098765432{i}"}))
                    while json.loads(await page.recv()).get("re") != i:
                        pass
                await page.close()
                await pilot.press("delete", *"0912345678", "enter")
                await until(pilot, lambda: bool(error_shown(app)), what="server refusal")
                assert error_shown(app) == "Đã đổi số điện thoại quá nhiều lần cho số thứ tự này."
                assert entry_shown(app) == "0912 345 678"  # to correct, or cancel
                assert isinstance(app.screen, PhoneScreen)
                await pilot.press("escape")  # Huỷ: back to the ticket, the number gone
                await until(pilot, lambda: isinstance(app.screen, TicketScreen))
                assert not shows_a_number(screen_text(app.screen))
        finally:
            await h.close()


async def test_no_offer_without_a_gateway(harness: Harness) -> None:
    async with kiosk(harness.url, size=(80, 24), clock=harness.clock) as (app, pilot):
        await ready(app, pilot)
        await take_number_by_keys(app, pilot)
        ticket = await ticket_shown(app, pilot)
        assert ticket.issued.notify_ahead is None and not ticket.query("#notify")
        await pilot.press("0")  # digits do nothing here then
        await pilot.pause(0.2)
        assert app.screen is ticket


async def test_idle_goes_home_and_forgets_the_number(open_config, tmp_path: Path) -> None:
    """While the citizen types, the ticket screen's own way home waits; the
    kiosk's idle timeout then clears everything."""
    with FakeGateway() as gw:
        h = Harness(notify_config(open_config, gw), tmp_path / "m.db")
        await h.start()
        try:
            async with kiosk(h.url, size=(80, 24), clock=h.clock, home_after=1.0,
                             idle_after=2.5) as (app, pilot):
                await ready(app, pilot)
                await take_number_by_keys(app, pilot)
                await ticket_shown(app, pilot)
                await pilot.press("0")
                pad = await keypad(app, pilot)
                await pilot.press(*"91234")
                await pilot.pause(1.5)  # past home_after: still typing
                assert app.screen is pad and entry_shown(app) == "0912 34"
                await until(pilot, lambda: isinstance(app.screen, HomeScreen), 10, "idle")
                assert len(app.screen_stack) == 1
                assert pad.entry.text == ""
                assert "91234" not in screen_text(app.screen)
                assert h.server.web.alerts == {}
        finally:
            await h.close()


# --- the kiosk's notify command: refusals -------------------------------------------------

async def test_notify_refused_to_other_roles_and_for_malformed_input(open_config,
                                                                     tmp_path: Path) -> None:
    with FakeGateway() as gw:
        h = Harness(notify_config(open_config, gw), tmp_path / "m.db")
        await h.start()
        try:
            k = await h.client("kiosk")
            r = await k.request("issue", department="TP", request_id="r1")
            secret = r["link"].rsplit("/ve/", 1)[1]

            async def conn(role: str):
                ws = await connect(h.url)
                await ws.send(json.dumps({"type": "hello", "role": role, "device": f"t-{role}",
                                          "token": TOKENS[role], "protocol": 1,
                                          "counter": 1 if role in ("counter", "rating") else None}))
                assert json.loads(await ws.recv())["type"] == "welcome"
                return ws

            async def ask(ws, msg: dict) -> dict:
                await ws.send(msg if isinstance(msg, str) else json.dumps(msg))
                while True:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if m["type"] in ("reply", "error") and m.get("re") == 99:
                        return m

            good = {"type": "notify", "id": 99, "ticket": secret, "phone": "0912345678"}
            for role in ("counter", "display", "rating"):
                ws = await conn(role)
                m = await ask(ws, good)
                assert (m["type"], m["code"]) == ("error", "forbidden"), role
                await ws.close()
            ws = await conn("kiosk")
            for bad, code in [
                ({"ticket": secret}, "bad_field"),                       # no phone
                ({"phone": "0912345678"}, "bad_field"),                  # no ticket
                ({"ticket": 5, "phone": "0912345678"}, "bad_field"),
                ({"ticket": secret, "phone": 912345678}, "bad_field"),
                ({"ticket": secret, "phone": "0" * 25}, "bad_field"),    # too long
                ({"ticket": "x" * 61, "phone": "0912345678"}, "bad_field"),
                ({"ticket": secret, "phone": "0912345678", "lang": "fr"}, "bad_field"),
                ({"ticket": "A" * 22, "phone": "0912345678"}, "bad_field"),  # no such ticket
                ({"ticket": secret, "phone": "0241234567"}, "bad_phone"),    # a landline
                ({"ticket": secret, "phone": "+1 415 555 0100"}, "bad_phone"),
            ]:
                m = await ask(ws, {"type": "notify", "id": 99, **bad})
                assert (m["type"], m["code"]) == ("error", code), bad
                assert m["message"] and m["message_en"]
            assert h.server.web.alerts == {}
            m = await ask(ws, good)  # the connection stayed up throughout
            assert m["ok"] and m["alert"]["ahead"] == 1
            await ws.close()
        finally:
            await h.close()


# --- it fits: 80×24 and 60×20 ----------------------------------------------------------

SNAP_LINK = "http://192.168.1.10:8765/ve/rOHd-pXZtiYSewS1mmRKyA"


def _snap_ticket(ahead: int = 7) -> IssuedTicket:
    ticket = {"id": 57, "number": "G012", "day": "2025-03-10", "department": "CA",
              "procedure": "CA04", "priority": None, "status": "waiting",
              "issued_at": MORNING.replace(minute=4).timestamp()}
    return IssuedTicket(ticket, ahead=ahead, wait_minutes=25, repeat=False, link=SNAP_LINK,
                        notify_ahead=3)


async def _show_keypad(pilot) -> None:
    await _show_fixed_state(pilot)
    app = pilot.app
    app.show(TicketScreen(_snap_ticket(), "none"))
    await ticket_shown(app, pilot)
    await pilot.press("0")
    await keypad(app, pilot)
    await pilot.press(*"91234567", "enter")  # one digit short: the complaint shows
    await pilot.pause(0.05)


async def _show_confirmation(pilot) -> None:
    await _show_fixed_state(pilot)
    app = pilot.app
    app.show(TicketScreen(_snap_ticket(), "none"))
    ticket = await ticket_shown(app, pilot)
    await ticket.phone_taken("09xx xxx 678", 3)
    await pilot.pause(0.05)


SIZES = [(60, 20), (80, 24)]
SIZE_IDS = ["60x20", "80x24"]


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_keypad(snap_compare, size) -> None:
    assert snap_compare(snapshot_app(), terminal_size=size, run_before=_show_keypad)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_ticket_with_the_offer_taken(snap_compare, size) -> None:
    assert snap_compare(snapshot_app(), terminal_size=size, run_before=_show_confirmation)


@pytest.mark.parametrize("size", [*SIZES, (120, 40)], ids=[*SIZE_IDS, "120x40"])
@pytest.mark.parametrize("language", ["vi", "en"])
async def test_every_key_and_line_of_the_keypad_is_on_screen(size, language) -> None:
    """Measured, not only drawn: each key, both buttons, the entry and the
    complaint lie inside the body (above the hint line), none overlapping,
    and the ticket screen's offer is on screen beside "Xong"."""
    app = KioskApp("ws://127.0.0.1:9", device="kiosk-fit", language=language,
                   clock=lambda: MORNING.replace(minute=5), connect_grace=60)
    async with app.run_test(size=size) as pilot:
        await _show_fixed_state(pilot)
        app.show(TicketScreen(_snap_ticket(), "none"))
        ticket = await ticket_shown(app, pilot)
        await until(pilot, lambda: bool(ticket.query("#notify")), what="the offer")
        width, height = size
        for selector in ("#notify", "#done"):
            region = ticket.query_one(selector).region
            assert region.bottom <= height - 1 and region.right <= width, (selector, region)
        await pilot.press("0")
        pad = await keypad(app, pilot)
        await pilot.press(*"9123", "enter")
        await pilot.pause(0.05)
        assert error_shown(app)
        widgets = [*pad.query(".pad"), pad.query_one("#phone-cancel"),
                   pad.query_one("#phone-ok"), pad.query_one("#phone-entry"),
                   pad.query_one("#phone-error")]
        assert len(widgets) == 16
        regions = [w.region for w in widgets]
        for w, region in zip(widgets, regions):
            assert region.height >= 1 and region.width >= 3, (w, region)
            assert region.y >= 1 and region.bottom <= height - 1, (w, region)  # not under the hint
            assert region.right <= width, (w, region)
        for i, a in enumerate(regions):
            for b in regions[i + 1:]:
                assert not a.overlaps(b), (a, b)
        if height >= 24:
            assert all(w.region.height >= 3 for w in pad.query(".pad"))  # framed keys
