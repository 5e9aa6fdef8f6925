"""The kiosk's check-in with a booking code, driven with Pilot against a real
server: "Tôi đã đặt lịch" on the home screen, the code typed like a USB
barcode scanner types it (then Enter), the booked ticket with its slot on
screen and on paper; the refusals said under the code."""

from __future__ import annotations

from textual.widgets import Button, Input, Static

from conftest import Harness
from escpos_decode import texts
from fake_printer import FakePrinter
from motcua.kiosk.app import HomeScreen, TicketScreen
from motcua.kiosk.booking import BookedTicketScreen, BookingScreen
from test_kiosk import kiosk, ready, text_of, until

DAY = "2026-12-01"  # the test clock's day (conftest: Tuesday 10:00 in Vietnam)


def book(h: Harness, *slots: str) -> list[str]:
    rows = [{"procedure": "TP01", "date": DAY, "slot": s, "name": "Đỗ Văn Minh"} for s in slots]
    out = h.server.core.execute("add_bookings", rows=rows, source="test")
    return [b["code"] for b in out.result["bookings"]]


async def scan(pilot, text: str) -> None:
    """What a USB scanner does: one key per character, then Enter."""
    await pilot.press(*[c if c != "-" else "minus" for c in text], "enter")


async def open_check_in(app, pilot) -> BookingScreen:
    await ready(app, pilot)
    button = app.screen.query_one("#booked", Button)
    assert str(button.label) == "Tôi đã đặt lịch"
    await pilot.click("#booked")
    await until(pilot, lambda: isinstance(app.screen, BookingScreen), what="booking screen")
    await until(pilot, lambda: isinstance(app.focused, Input), what="code box focused")
    return app.screen  # type: ignore[return-value]


async def test_a_scanned_code_gives_a_booked_ticket_with_its_slot(harness: Harness) -> None:
    (code,) = book(harness, "10:30")
    async with kiosk(harness.url, clock=harness.clock) as (app, pilot):
        await open_check_in(app, pilot)
        await scan(pilot, code.lower())
        await until(pilot, lambda: isinstance(app.screen, BookedTicketScreen), what="ticket")
        screen = app.screen
        assert text_of(screen, "#t-booking") == \
            "Lịch hẹn lúc 10:30: công dân đến sớm, số sẽ được gọi từ 10:30."
        assert screen.issued.number == "A001" and screen.issued.ticket["booked"]
        t = harness.server.core.tickets[screen.issued.ticket["id"]]
        assert t.booking == code and t.slot is not None
        await pilot.press("enter")  # done: back home for the next citizen
        await until(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")


async def test_refusals_are_said_under_the_code_which_is_cleared(harness: Harness) -> None:
    tomorrow = harness.server.core.execute("add_bookings", source="test", rows=[
        {"procedure": "TP01", "date": "2026-12-02", "slot": "09:00", "name": "Lê Thu"}]
    ).result["bookings"][0]["code"]
    (later,) = book(harness, "11:15")
    async with kiosk(harness.url, size=(80, 24), clock=harness.clock) as (app, pilot):
        screen = await open_check_in(app, pilot)
        box = screen.query_one("#booking-code", Input)
        for typed, said in [
            ("KHONG-CO-1", "Không tìm thấy lịch hẹn mã KHONG-CO-1. Xin kiểm tra lại mã."),
            (tomorrow, "Lịch hẹn này vào ngày 02/12/2026 lúc 09:00, không phải hôm nay."),
            (later, "Lịch hẹn lúc 11:15. Xin quay lại lấy số từ 10:45."),
        ]:
            await scan(pilot, typed)
            await until(pilot, lambda: text_of(screen, "#booking-error") == said,
                        what=f"refusal of {typed}: {text_of(screen, '#booking-error')!r}")
            assert box.value == "" and app.focused is box  # ready for the next scan
            assert isinstance(app.screen, BookingScreen)
        await pilot.press("enter")  # nothing typed
        assert text_of(screen, "#booking-error") == "Xin nhập mã đặt lịch."
        await pilot.press("f2")  # English on the same screen
        await until(pilot, lambda: "Booking code" in str(
            app.screen.query_one("#booking-code", Input).placeholder), what="English")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")
    assert not [t for t in harness.server.core.tickets.values() if t.booking]


async def test_a_used_code_names_its_ticket(harness: Harness) -> None:
    (code,) = book(harness, "10:15")
    harness.server.core.execute("check_in", code=code, device="other", request_id="x")
    async with kiosk(harness.url, size=(60, 20), clock=harness.clock) as (app, pilot):
        screen = await open_check_in(app, pilot)
        await scan(pilot, code)
        await until(pilot, lambda: text_of(screen, "#booking-error")
                    == "Lịch hẹn này đã nhận số A001.", what="used")


async def test_the_printed_ticket_carries_the_slot(harness: Harness) -> None:
    (code,) = book(harness, "10:30")
    with FakePrinter("ok") as printer:
        async with kiosk(harness.url, printer_spec=printer.spec, language="en",
                         clock=harness.clock) as (app, pilot):
            await ready(app, pilot)
            assert str(app.screen.query_one("#booked", Button).label) == "I have a booking"
            await pilot.click("#booked")
            await until(pilot, lambda: isinstance(app.screen, BookingScreen), what="screen")
            await until(pilot, lambda: isinstance(app.focused, Input), what="focus")
            await scan(pilot, code)
            await until(pilot, lambda: isinstance(app.screen, TicketScreen), what="ticket")
            screen = app.screen
            await until(pilot, lambda: screen.print_state == "printed", 10, "printed")
            assert str(screen.query_one("#t-booking", Static).render()) == \
                "Booking at 10:30: you are early; your number is called from 10:30."
    printed = printer.received
    while printed[:2] == b"\x10\x04":  # the status queries before the ticket
        printed = printed[3:]
    assert "Booking: 10:30" in texts(printed)
    assert "A001" in texts(printed)


async def test_no_button_without_booking_slots(open_config, tmp_path) -> None:
    import dataclasses

    from motcua.server.booking import BookingRules

    h = Harness(dataclasses.replace(open_config, booking=BookingRules()), tmp_path / "n.db")
    await h.start()
    try:
        async with kiosk(h.url, clock=h.clock) as (app, pilot):
            await ready(app, pilot)
            assert not app.screen.query("#booked")
    finally:
        await h.close()
