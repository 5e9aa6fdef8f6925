"""The kiosk against a real server (port 0, SQLite under tmp_path), driven
with Textual's Pilot. Nothing of ours is mocked: a websocket relay stands in
for a flaky network and tests/fake_printer.py for a thermal printer."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
import zxingcpp
from textual.widgets import Button, Static
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from conftest import Harness, wait_for
from escpos_decode import decode, ink_rasters, page
from fake_printer import FakePrinter
from motcua.kiosk.app import (
    DepartmentScreen,
    HomeScreen,
    KioskApp,
    MessageScreen,
    OutOfServiceScreen,
    PriorityScreen,
    TicketScreen,
)
from motcua.kiosk.model import Choice, IssuedTicket, qr_payload, search_procedures
from motcua.tui import BigNumber
from motcua.server.config import CenterConfig

VN = ZoneInfo("Asia/Ho_Chi_Minh")
# Monday 10 March 2025, 09:00 in Hà Nội: a working day, inside ticket hours.
MORNING = datetime(2025, 3, 10, 9, 0, tzinfo=VN)


def fixed(moment: datetime):
    return lambda: moment.astimezone(timezone.utc)


# --- helpers -----------------------------------------------------------------

@contextlib.asynccontextmanager
async def kiosk(url: str, size: tuple[int, int] = (120, 40), **options) -> AsyncIterator:
    """A running kiosk app, connected to ``url``, and its pilot."""
    options.setdefault("device", "kiosk-test")
    app = KioskApp(url, **options)
    async with app.run_test(size=size) as pilot:
        yield app, pilot


async def until(pilot, predicate, timeout: float = 15.0, what: str = "condition") -> None:
    """Let the app run until ``predicate()`` holds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"{what} not met within {timeout}s "
                                 f"(screen: {pilot.app.screen!r}, focus: {pilot.app.focused!r})")
        await pilot.pause(0.02)


async def ready(app: KioskApp, pilot) -> None:
    """Wait until the kiosk is online and shows the departments, the first
    one focused (keys pressed earlier could go to widgets being replaced)."""
    await until(pilot, lambda: app.online and isinstance(app.screen, HomeScreen)
                and app.focused is not None and app.focused.has_class("dept"),
                what="kiosk ready")


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def ticket_shown(app: KioskApp, pilot, timeout: float = 15.0) -> TicketScreen:
    await until(pilot, lambda: isinstance(app.screen, TicketScreen), timeout, "ticket screen")
    return app.screen  # type: ignore[return-value]


# --- pure parts ----------------------------------------------------------------

def test_search_ignores_diacritics_and_case(open_config: CenterConfig) -> None:
    center = open_config.public()
    found = search_procedures(center, "DANG ky Thuong tru")
    assert [m.procedure["code"] for m in found] == ["CA04"]
    assert found[0].procedure["vi"] == "Đăng ký thường trú"
    # Words in any order, department names count, English works too.
    assert "CA04" in [m.procedure["code"] for m in search_procedures(center, "tru thuong")]
    assert {m.procedure["code"] for m in search_procedures(center, "giay phep lai xe")} == {
        "GTVT01", "GTVT02", "GTVT03"}
    assert search_procedures(center, "passport")[0].procedure["code"] == "CA01"
    assert search_procedures(center, "   ") == []
    assert search_procedures(center, "khong co thu tuc nay") == []


def test_search_finds_the_spellings_and_words_people_type(open_config: CenterConfig) -> None:
    """Found: "đăng kí thường trú" (kí for ký, both in use) and "cccd",
    "gplx", "hộ khẩu" found nothing."""
    center = open_config.public()

    def codes(query: str) -> list[str]:
        return [m.procedure["code"] for m in search_procedures(center, query)]

    for query in ("đăng kí thường trú", "dang ki thuong tru", "Đăng Ký Thường Trú",
                  "hộ khẩu", "ho khau", "nhap ho khau"):
        assert codes(query) == ["CA04"], query
    assert codes("cccd") == codes("CCCD") == codes("căn cước") == ["CA02", "CA03"]
    assert codes("cmnd")[:2] == ["CA02", "CA03"]
    assert codes("gplx") == ["GTVT01", "GTVT02", "GTVT03"]
    assert set(codes("bằng lái")) == {"GTVT01", "GTVT02", "GTVT03"}
    assert codes("li lich tu phap") == codes("lý lịch tư pháp") == ["TP01"]
    assert codes("sổ đỏ")[:4] == ["TNMT01", "TNMT02", "TNMT03", "TNMT04"]
    assert codes("bhyt") == ["BHXH01", "BHXH02"]
    # Ranked: the whole phrase in the name before words scattered elsewhere,
    # the department named by a word before another department's look-alike.
    assert codes("thue")[:3] == ["THUE01", "THUE03", "THUE04"]  # before "cho thuê lại"
    assert codes("dau tu")[0] == "KHDT05"
    # The last word may be unfinished, but a finished query gets no look-alikes.
    assert codes("thuong tr")[0] == "CA04"
    assert codes("dang ky thuong tru") == ["CA04"]  # not CT04 ("...trúng thưởng")


def test_choice_fields_and_qr() -> None:
    a, b = Choice("TP"), Choice("TP")
    assert a.request_id != b.request_id  # one per citizen attempt
    assert Choice("CA", "CA04", "pregnant", "r1").fields() == {
        "department": "CA", "procedure": "CA04", "priority": "pregnant", "request_id": "r1"}
    assert qr_payload({"day": "2025-03-10", "number": "G007", "id": 42}) == \
        "motcua:2025-03-10:G007:42"
    link = "https://hcc.example.vn/ve/rOHd-pXZtiYSewS1mmRKyA"
    assert qr_payload({"day": "2025-03-10", "number": "G007", "id": 42}, link) == link


def test_kiosk_logic_imports_no_textual() -> None:
    """Search, choices and ticket data stay usable without the UI."""
    code = "import sys, motcua.kiosk.model, motcua.kiosk.strings; sys.exit('textual' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_cli_options() -> None:
    from motcua.cli import build_parser
    from motcua.kiosk.cli import printer_settings

    args = build_parser().parse_args(["kiosk", "--url", "ws://10.0.0.2:8765", "--printer",
                                      "tcp:192.0.2.10:9100", "--paper", "58", "--lang", "en"])
    assert (args.url, args.printer, args.paper, args.lang, args.token, args.device) == (
        "ws://10.0.0.2:8765", "tcp:192.0.2.10:9100", 58, "en", "kiosk-demo", "kiosk-1")
    assert callable(args.func)
    assert (args.qr, args.printer_dots, args.image_align, args.check_status) == (
        None, None, None, None)  # not given: the center's [printer] settings apply
    args = build_parser().parse_args(["kiosk", "--qr", "raster", "--printer-dots", "512",
                                      "--image-align", "padded", "--no-status-check"])
    assert (args.paper, args.qr, args.printer_dots, args.image_align, args.check_status) == (
        None, "raster", 512, "padded", False)
    assert printer_settings(args) == {"dots": 512, "qr": "raster", "image_align": "padded",
                                      "check_status": False}
    with pytest.raises(SystemExit, match="between 256 and 464"):
        printer_settings(build_parser().parse_args(["kiosk", "--paper", "58",
                                                    "--printer-dots", "512"]))
    for bad in (["--printer", "lpt1"], ["--printer-dots", "500"], ["--qr", "image"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["kiosk", *bad])


# --- taking a number -----------------------------------------------------------

async def test_ticket_for_procedure_found_by_unaccented_search(harness: Harness) -> None:
    async with kiosk(harness.url) as (app, pilot):
        await ready(app, pilot)
        # Typing anywhere on the home screen starts a search.
        await pilot.press(*"dang ky thuong tru")
        await until(pilot, lambda: bool(app.screen.query("#result-CA04")), what="search result")
        assert len(app.screen.query("#results .result")) == 1
        await pilot.press("enter")  # the first result
        await until(pilot, lambda: isinstance(app.screen, PriorityScreen))
        await pilot.press("1")  # "no priority"
        screen = await ticket_shown(app, pilot)
        number = screen.issued.number
        assert number == "G001"
        assert screen.query_one("#number", BigNumber).value == "G001"
        assert text_of(screen, "#t-proc") == "Đăng ký thường trú"
        assert text_of(screen, "#t-counters") == "Quầy phục vụ: Quầy 8"
        assert text_of(screen, "#t-ahead") == "Số người chờ trước: 0"

    # The server has it, and the counter that serves the police calls it.
    core = harness.server.core
    [ticket] = core.tickets.values()
    assert (ticket.number, ticket.department, ticket.procedure, ticket.priority,
            ticket.device) == ("G001", "CA", "CA04", None, "kiosk-test")
    counter = await harness.client("counter", counter=8)
    await counter.request("login", officer="cb08", pin="1234")
    called = await counter.request("call_next")
    assert called["ticket"]["number"] == "G001"


async def test_priority_path_in_english_by_touch(harness: Harness) -> None:
    async with kiosk(harness.url) as (app, pilot):
        await ready(app, pilot)
        await pilot.click("#lang")
        await until(pilot, lambda: app.t.language == "en")
        assert "Department of Justice" in str(app.screen.query_one("#dept-TP", Button).label)
        await pilot.click("#dept-TP")
        await until(pilot, lambda: isinstance(app.screen, DepartmentScreen))
        await pilot.click("#proc-TP02")
        await until(pilot, lambda: isinstance(app.screen, PriorityScreen))
        assert app.screen.focused is app.screen.query_one("#prio-no")  # "no" comes first
        await pilot.click("#prio-elderly75")
        screen = await ticket_shown(app, pilot)
        assert text_of(screen, "#ticket-title") == "YOUR NUMBER"
        assert text_of(screen, "#t-prio") == "Priority group: People aged 75 or over"
        number = screen.issued.number
        # "Done": the next citizen starts in Vietnamese again.
        assert await pilot.click("#done")  # it hit the button (layout was settled)
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.t.language == "vi")
        await until(pilot, lambda: "Sở Tư pháp" in str(app.screen.query_one("#dept-TP", Button)
                                                          .label), what="Vietnamese labels")

    [ticket] = harness.server.core.tickets.values()
    assert (ticket.number, ticket.procedure, ticket.priority) == (number, "TP02", "elderly75")


async def test_waiting_counts_follow_the_queue(harness: Harness) -> None:
    async with kiosk(harness.url) as (app, pilot):
        await ready(app, pilot)
        label = lambda: str(app.screen.query_one("#dept-KHDT", Button).label)  # noqa: E731
        assert "Chưa có quầy mở" in label()  # nobody waits, and no counter is open yet
        other = await harness.client("kiosk", device="kiosk-2")
        for i in range(3):
            await other.request("issue", department="KHDT", request_id=f"k{i}")
        await until(pilot, lambda: "3 người đang chờ" in label(), what="live count")


async def test_on_screen_keyboard_search(harness: Harness) -> None:
    async with kiosk(harness.url) as (app, pilot):
        await ready(app, pilot)
        await pilot.click("#kbd-toggle")
        await until(pilot, lambda: bool(app.screen.query("#keyboard")))
        for key in ["h", "o", "x", "backspace", "space", "c", "h", "i", "e", "u"]:
            await pilot.click(f"#key-{key}")
        await until(pilot, lambda: app.screen.search_text == "ho chieu")
        await until(pilot, lambda: bool(app.screen.query("#result-CA01")), what="result")
        await pilot.click("#result-CA01")
        await until(pilot, lambda: isinstance(app.screen, PriorityScreen))
        assert app.screen.choice.procedure == "CA01"


# --- refusals ------------------------------------------------------------------

@pytest.fixture
async def closed_harness(open_config: CenterConfig, tmp_path: Path) -> AsyncIterator[Harness]:
    """The sample center with the Department of Justice not taking tickets."""
    departments = tuple(dataclasses.replace(d, open=False) if d.code == "TP" else d
                        for d in open_config.departments)
    h = Harness(dataclasses.replace(open_config, departments=departments), tmp_path / "c.db")
    await h.start()
    try:
        yield h
    finally:
        await h.close()


@pytest.fixture
async def evening_harness(sample_config: CenterConfig, tmp_path: Path) -> AsyncIterator[Harness]:
    """The sample center (tickets until 16:30) at 20:00 on a Monday."""
    h = Harness(sample_config, tmp_path / "e.db", clock=fixed(MORNING.replace(hour=20)))
    await h.start()
    try:
        yield h
    finally:
        await h.close()


async def take_number_by_keys(app: KioskApp, pilot, dept_index: str = "1") -> None:
    await pilot.press(dept_index)
    await until(pilot, lambda: isinstance(app.screen, DepartmentScreen))
    await pilot.press("1")
    await until(pilot, lambda: isinstance(app.screen, PriorityScreen))
    await pilot.press("1")


async def test_closed_department_is_shown_but_cannot_be_chosen(closed_harness: Harness) -> None:
    async with kiosk(closed_harness.url, home_after=0.5) as (app, pilot):
        await ready(app, pilot)
        tp = app.screen.query_one("#dept-TP", Button)
        assert tp.disabled and "Tạm ngừng nhận hồ sơ" in str(tp.label)
        assert not app.screen.query_one("#dept-KHDT", Button).disabled
        await pilot.press("1")  # the digit of the closed department
        await pilot.pause(0.2)
        assert isinstance(app.screen, HomeScreen)
        await pilot.press(*"ly lich tu phap")  # a Justice procedure, by search
        await until(pilot, lambda: bool(app.screen.query("#result-TP01")), what="search result")
        result = app.screen.query_one("#result-TP01", Button)
        assert result.disabled and "Tạm ngừng nhận hồ sơ" in str(result.label)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HomeScreen) and not app.screen.query(BigNumber)
    assert closed_harness.server.core.tickets == {}


async def closed_home(app: KioskApp, pilot) -> str:
    """Wait for the home screen to say the center issues no tickets now; its text."""
    await until(pilot, lambda: app.online and isinstance(app.screen, HomeScreen)
                and bool(app.screen.query("#prompt.-closed")), what="hours on the home screen")
    return text_of(app.screen, "#prompt")


async def test_after_hours_the_home_screen_says_so_before_any_choice(
        evening_harness: Harness) -> None:
    """Found at 20:00: the kiosk looked open and refused only after three
    screens. Now the home screen says so, and nothing can be chosen."""
    async with kiosk(evening_harness.url, language="en") as (app, pilot):
        assert await closed_home(app, pilot) == (
            "No more tickets today (last ticket at 16:30). Please come back tomorrow from 07:30.")
        buttons = list(app.screen.query(".dept").results(Button))
        assert buttons and all(b.disabled for b in buttons)
        await pilot.press("1")  # a department's digit
        await pilot.pause(0.2)
        assert isinstance(app.screen, HomeScreen)
        await pilot.press(*"passport")  # search still works, but offers nothing to take
        await until(pilot, lambda: bool(app.screen.query("#result-CA01")), what="result")
        assert app.screen.query_one("#result-CA01", Button).disabled
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HomeScreen)
    assert evening_harness.server.core.tickets == {}


@pytest.fixture
async def early_harness(sample_config: CenterConfig, tmp_path: Path) -> AsyncIterator[Harness]:
    """The sample center at 06:00 on a Monday by the server's clock."""
    h = Harness(sample_config, tmp_path / "e.db", clock=fixed(MORNING.replace(hour=6)))
    await h.start()
    try:
        yield h
    finally:
        await h.close()


async def test_before_hours_by_the_servers_clock_not_the_kiosks(early_harness: Harness) -> None:
    """The kiosk's own clock says 09:00 (open); the server's says 06:00. The
    server is right: the welcome's server_time sets the kiosk's time."""
    async with kiosk(early_harness.url, clock=fixed(MORNING)) as (app, pilot):
        assert await closed_home(app, pilot) == \
            "Chưa đến giờ phát số: Trung tâm bắt đầu phát số lúc 07:30."
        assert app.now().hour == 6
        assert "06:0" in text_of(app.screen, "#clock")


async def test_a_closed_day_says_when_to_come_back(sample_config: CenterConfig,
                                                   tmp_path: Path) -> None:
    sunday = MORNING.replace(day=16)  # the sample center opens Monday to Saturday
    h = Harness(sample_config, tmp_path / "s.db", clock=fixed(sunday))
    await h.start()
    try:
        async with kiosk(h.url, clock=fixed(MORNING)) as (app, pilot):
            assert await closed_home(app, pilot) == \
                "Hôm nay Trung tâm không làm việc. Mời công dân quay lại vào ngày mai từ 07:30."
    finally:
        await h.close()


async def test_the_kiosk_opens_by_itself_when_ticket_hours_begin(
        sample_config: CenterConfig, tmp_path: Path) -> None:
    now = [MORNING.replace(hour=7, minute=29, second=50)]
    h = Harness(sample_config, tmp_path / "o.db", clock=lambda: now[0].astimezone(timezone.utc))
    await h.start()
    try:
        async with kiosk(h.url, clock=lambda: now[0].astimezone(timezone.utc)) as (app, pilot):
            await closed_home(app, pilot)
            now[0] = MORNING.replace(hour=7, minute=30, second=5)
            await ready(app, pilot)  # the departments can be chosen again, no reconnect
            assert not app.screen.query("#prompt.-closed")
            await take_number_by_keys(app, pilot)
            screen = await ticket_shown(app, pilot)
            assert screen.issued.number == "A001"
    finally:
        await h.close()


# --- the server going away -------------------------------------------------------

async def test_out_of_service_while_the_server_restarts(harness: Harness) -> None:
    async with kiosk(harness.url) as (app, pilot):
        await ready(app, pilot)
        await pilot.press("2")  # into a department: the outage must not strand the citizen
        await harness.stop()
        await until(pilot, lambda: isinstance(app.screen, OutOfServiceScreen), what="oos")
        assert text_of(app.screen, "#oos-title") == "TẠM NGỪNG PHỤC VỤ"
        await harness.start()
        await until(pilot, lambda: not isinstance(app.screen, OutOfServiceScreen), 12,
                    "reconnection")
        assert isinstance(app.screen, DepartmentScreen)
        await pilot.press("1", "1")
        screen = await ticket_shown(app, pilot)
        assert screen.issued.number == "B001"


async def test_wrong_token_says_so_on_the_out_of_service_screen(harness: Harness) -> None:
    async with kiosk(harness.url, token="not-the-token", connect_grace=0.1) as (app, pilot):
        await until(pilot, lambda: isinstance(app.screen, OutOfServiceScreen)
                    and bool(app.screen.query("#oos-config")), what="config error shown")
        assert "Sai mã thiết bị" in text_of(app.screen, "#oos-config")


class Relay:
    """A websocket relay standing for the network between kiosk and server.
    It can lose the reply to one ``issue`` (after the server committed the
    ticket) and then keep the kiosk away until told."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.lose_next_issue_reply = False
        self.blocked = False
        self.lost: list[dict] = []
        self._server = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, downstream) -> None:
        if self.blocked:
            await downstream.close()
            return
        try:
            upstream = await connect(self.harness.url, open_timeout=1)
        except OSError:
            await downstream.close()
            return

        async def up() -> None:
            async for message in downstream:
                await upstream.send(message)

        async def down() -> None:
            async for message in upstream:
                msg = json.loads(message)
                if self.lose_next_issue_reply and msg.get("type") == "reply" and "ticket" in msg:
                    self.lose_next_issue_reply = False
                    self.blocked = True
                    self.lost.append(msg)
                    return
                await downstream.send(message)

        tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await upstream.close()
        await downstream.close()


async def test_lost_reply_and_restart_give_exactly_one_ticket(harness: Harness) -> None:
    relay = Relay(harness)
    await relay.start()
    try:
        async with kiosk(relay.url) as (app, pilot):
            await ready(app, pilot)
            relay.lose_next_issue_reply = True
            await take_number_by_keys(app, pilot, "3")
            # The server issued C001 but the kiosk never heard: it must not
            # show a number, and it keeps the request while it is away.
            await until(pilot, lambda: relay.lost, what="reply lost")
            await until(pilot, lambda: isinstance(app.screen, OutOfServiceScreen), what="oos")
            assert app.screen.query("#oos-pending")
            assert not any(isinstance(s, TicketScreen) for s in app.screen_stack)
            request_id = app.pending.request_id
            await harness.restart()
            relay.blocked = False
            screen = await ticket_shown(app, pilot, timeout=12)
            assert screen.issued.repeat  # the retry found the ticket already issued
            assert screen.issued.number == relay.lost[0]["ticket"]["number"] == "C001"
            assert app.pending is None
    finally:
        await relay.close()
    tickets = list(harness.server.core.tickets.values())
    assert [(t.number, t.request_id) for t in tickets] == [("C001", request_id)]


# --- going back to the start -------------------------------------------------------

async def test_idle_returns_home_from_any_screen(harness: Harness) -> None:
    async with kiosk(harness.url, idle_after=3.0, home_after=1.5) as (app, pilot):
        await ready(app, pilot)
        await pilot.press("1")
        await until(pilot, lambda: isinstance(app.screen, DepartmentScreen))
        await pilot.press("escape")  # back by hand first
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("1")
        await until(pilot, lambda: isinstance(app.screen, DepartmentScreen))
        await pilot.press("1")
        await until(pilot, lambda: isinstance(app.screen, PriorityScreen))
        await until(pilot, lambda: isinstance(app.screen, HomeScreen), 10, "idle return")
        # A search left half-typed is cleared too.
        await pilot.press(*"ho chieu")
        await until(pilot, lambda: app.screen.search_text == "ho chieu")
        await until(pilot, lambda: app.screen.search_text == "", 10, "search cleared")
        await until(pilot, lambda: app.focused is not None and app.focused.id == "dept-TP",
                    what="first department focused again")
        # And the ticket screen goes back by itself.
        await take_number_by_keys(app, pilot)
        await ticket_shown(app, pilot)
        await until(pilot, lambda: isinstance(app.screen, HomeScreen), 10, "ticket timeout")
    assert len(harness.server.core.tickets) == 1


# --- printing ----------------------------------------------------------------------

async def test_ticket_printed_before_its_screen_shows(harness: Harness, tmp_path: Path) -> None:
    """A printer that takes the whole ticket at once (a device file) may be done
    before the ticket screen is up: the screen must still say "printed"."""
    lp = tmp_path / "lp0"
    async with kiosk(harness.url, printer_spec=f"file:{lp}", home_after=30) as (app, pilot):
        await ready(app, pilot)
        for expected in ("A001", "A002"):
            await take_number_by_keys(app, pilot)
            screen = await ticket_shown(app, pilot)
            await until(pilot, lambda: screen.print_state == "printed", 10, "printed")
            assert text_of(screen, "#print-state") == "Xin mời nhận phiếu bên dưới."
            assert screen.issued.number == expected
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, HomeScreen), 5, "home")
            await ready(app, pilot)
        assert app._print_states == {}
    tickets = lp.read_bytes()
    assert [op.text for op in decode(tickets) if op.kind == "text" and op.width > 2] == [
        "A002"]  # a file printer is rewritten for each ticket: the last one is there


async def test_printed_ticket(harness: Harness) -> None:
    with FakePrinter("ok") as printer:
        async with kiosk(harness.url, printer_spec=printer.spec) as (app, pilot):
            await ready(app, pilot)
            await take_number_by_keys(app, pilot)
            screen = await ticket_shown(app, pilot)
            await until(pilot, lambda: screen.print_state == "printed", 10, "printed")
            assert text_of(screen, "#print-state") == "Xin mời nhận phiếu bên dưới."
            link = screen.issued.link
            assert link and link.startswith(f"http://127.0.0.1:{harness.port}/ve/")
            assert link in text_of(screen, "#t-link")  # on the ticket screen too
        assert b"A001" in printer.received
        assert link.encode() in printer.received  # the QR opens the ticket's live page
    assert harness.server.core.meta.printers == {}  # nothing to alert about


@pytest.fixture
async def raster_qr_harness(open_config: CenterConfig, tmp_path: Path) -> AsyncIterator[Harness]:
    """A center whose kiosk printers lack GS ( k and print 512 dots wide."""
    config = dataclasses.replace(open_config, printer={"qr": "raster", "dots": 512})
    h = Harness(config, tmp_path / "r.db")
    await h.start()
    try:
        yield h
    finally:
        await h.close()


async def test_center_printer_settings_reach_the_paper(raster_qr_harness: Harness) -> None:
    """[printer] in the center file chooses the raster QR and the 512-dot width;
    a kiosk's own option overrides the center."""
    with FakePrinter("ok") as printer:
        async with kiosk(raster_qr_harness.url, printer_spec=printer.spec) as (app, pilot):
            await ready(app, pilot)
            await take_number_by_keys(app, pilot)
            screen = await ticket_shown(app, pilot)
            await until(pilot, lambda: screen.print_state == "printed", 10, "printed")
        assert printer.wait_for_jobs(1)
        job = printer.jobs[-1]
        ticket = job[job.index(b"\x1b@"):]
        assert b"\x1d(k" not in ticket  # no native QR command for this printer
        assert all(op.dots <= 512 for op in ink_rasters(ticket))
        found = zxingcpp.read_barcodes(page(ticket, 512))
        assert [r.text for r in found] == [qr_payload(screen.issued.ticket, screen.issued.link)]
        assert found[0].text.startswith("http")  # the ticket's live page

        printer.clear()
        async with kiosk(raster_qr_harness.url, printer_spec=printer.spec,
                         printer_settings={"qr": "native"}) as (app, pilot):
            await ready(app, pilot)
            await take_number_by_keys(app, pilot)
            screen = await ticket_shown(app, pilot)
            await until(pilot, lambda: screen.print_state == "printed", 10, "printed")
        assert printer.wait_for_jobs(1)
        qrs = [op.text for op in decode(printer.jobs[-1][6:]) if op.kind == "qr"]
        assert qrs == [qr_payload(screen.issued.ticket, screen.issued.link)]


async def test_printer_that_never_answers_status_still_prints(harness: Harness) -> None:
    """Many cheap printers ignore DLE EOT: the kiosk prints anyway, raises no
    alert, and records that the printer's status is unknown (on the server too,
    as printer_status ok with problem "status_unknown")."""
    with FakePrinter("silent") as printer:
        async with kiosk(harness.url, printer_spec=printer.spec) as (app, pilot):
            await ready(app, pilot)
            await until(pilot, lambda: app.printer_status == "unknown", 5, "probe")
            assert app.printer_ok  # the start-up probe did not call it faulty
            await take_number_by_keys(app, pilot)
            screen = await ticket_shown(app, pilot)
            await until(pilot, lambda: screen.print_state == "printed", 10, "printed")
            assert text_of(screen, "#print-state") == "Xin mời nhận phiếu bên dưới."
            assert app.printer_ok and app.printer_status == "unknown"
            # Staff are told it prints without a status: not a fault.
            printers = harness.server.core.meta.printers
            await wait_for(lambda: "kiosk-test" in printers)
            assert printers["kiosk-test"]["ok"] is True
            assert "status unknown" in printers["kiosk-test"]["detail"]
        assert printer.wait_for_jobs(2)
        assert any(b"A001" in job and job.endswith(b"\x1dV\x00") for job in printer.jobs)


async def test_printer_fault_keeps_the_number_on_screen_and_alerts_staff(
        harness: Harness) -> None:
    with FakePrinter("paper_out") as printer:
        async with kiosk(harness.url, printer_spec=printer.spec, probe_every=0.3) as (app, pilot):
            await ready(app, pilot)
            await take_number_by_keys(app, pilot)
            screen = await ticket_shown(app, pilot)
            await until(pilot, lambda: screen.print_state == "failed", 10, "print failure")
            assert text_of(screen, "#print-state") == \
                "Máy in gặp sự cố — công dân vui lòng ghi nhớ số thứ tự"
            assert screen.query_one("#number", BigNumber).value == "A001"
            printers = harness.server.core.meta.printers
            await wait_for(lambda: "kiosk-test" in printers)
            assert printers["kiosk-test"]["ok"] is False
            assert printers["kiosk-test"]["problem"] == "paper_out"
            # Paper replaced: the kiosk notices by itself and clears the alert.
            printer.mode = "ok"
            await until(pilot, lambda: printers["kiosk-test"]["ok"] is True, 10, "recovery")
        assert b"A001" not in printer.received  # nothing printed without paper


# --- snapshots -------------------------------------------------------------------------
#
# Snapshots are drawn from fixed state, not from a live server: the server's
# wait estimate and the sample center keep evolving, and a snapshot should
# change only when the kiosk's own look does. The state goes in through the
# same message the client's callbacks post, ServerChanged.

def _dept(code: str, letter: str, vi: str, en: str, *procs: tuple[str, str, str]) -> dict:
    return {"code": code, "letter": letter, "vi": vi, "en": en, "target_wait": 20,
            "daily_cap": None, "procedures": [{"code": c, "vi": pv, "en": pe, "minutes": 10}
                                              for c, pv, pe in procs]}


SNAP_CENTER = {
    "name": "Trung tâm Phục vụ Hành chính công tỉnh",
    "name_en": "Provincial Public Administration Service Center",
    "timezone": "Asia/Ho_Chi_Minh", "opens": "07:30", "closes": "17:00", "last_ticket": "16:30",
    "notice": "Công dân vui lòng giữ phiếu số thứ tự và theo dõi màn hình gọi số.",
    "notice_en": "Please keep your ticket and watch the screen.", "recent_calls": 10,
    "departments": [
        _dept("TP", "A", "Sở Tư pháp", "Department of Justice",
              ("TP01", "Cấp Phiếu lý lịch tư pháp", "Criminal record certificate")),
        _dept("KHDT", "B", "Sở Kế hoạch và Đầu tư", "Department of Planning and Investment",
              ("KHDT01", "Đăng ký thành lập doanh nghiệp", "Business registration")),
        _dept("TNMT", "C", "Sở Tài nguyên và Môi trường", "Department of Natural Resources",
              ("TNMT01", "Đăng ký đất đai", "Land registration")),
        _dept("XD", "D", "Sở Xây dựng", "Department of Construction",
              ("XD01", "Cấp giấy phép xây dựng", "Construction permit")),
        _dept("GTVT", "E", "Sở Giao thông vận tải", "Department of Transport",
              ("GTVT01", "Cấp lại giấy phép lái xe", "Driving licence re-issue")),
        _dept("LDTB", "F", "Sở Lao động - Thương binh và Xã hội", "Department of Labour",
              ("LDTB01", "Giải quyết hưởng trợ cấp thất nghiệp", "Unemployment benefit")),
        _dept("CA", "G", "Công an tỉnh", "Provincial Police",
              ("CA01", "Cấp hộ chiếu phổ thông", "Ordinary passport"),
              ("CA04", "Đăng ký thường trú", "Permanent residence registration")),
        _dept("BHXH", "H", "Bảo hiểm xã hội tỉnh", "Provincial Social Insurance",
              ("BHXH01", "Cấp lại thẻ bảo hiểm y tế", "Health insurance card re-issue")),
        _dept("THUE", "K", "Cục Thuế tỉnh", "Provincial Tax Department",
              ("THUE01", "Đăng ký thuế lần đầu", "First-time tax registration")),
    ],
    "counters": [{"number": n, "name": f"Quầy {n}", "departments": d} for n, d in
                 [(1, ["TP"]), (2, ["KHDT"]), (3, ["TNMT"]), (4, ["XD", "GTVT"]),
                  (5, ["LDTB", "BHXH"]), (6, ["CA"]), (7, ["CA"]), (8, ["THUE"])]],
    "officers": [],
    "priority_groups": [{"code": "elderly75", "vi": "Người từ 75 tuổi trở lên",
                         "en": "People aged 75 or over"}],
}
SNAP_WAITING = {"TP": (3, 12), "CA": (7, 25), "BHXH": (1, 4)}


def snapshot_app(connect_grace: float = 60.0) -> KioskApp:
    # Nothing listens on port 9 (discard): the client never gets through.
    return KioskApp("ws://127.0.0.1:9", device="kiosk-snap",
                    clock=fixed(MORNING.replace(minute=5)), connect_grace=connect_grace)


async def _show_fixed_state(pilot) -> None:
    app = pilot.app
    app.client.state.center = SNAP_CENTER
    app.client.state.load({"day": "2025-03-10", "departments": [
        {"code": d["code"], "waiting": SNAP_WAITING.get(d["code"], (0, 0))[0],
         "wait_minutes": SNAP_WAITING.get(d["code"], (0, 0))[1]}
        for d in SNAP_CENTER["departments"]]})
    app.post_message(KioskApp.ServerChanged(True))
    app.post_message(KioskApp.ServerChanged(None, snapshot=True))
    await ready(app, pilot)
    await pilot.pause(0.05)


async def _show_ticket(pilot) -> None:
    await _show_fixed_state(pilot)
    app = pilot.app
    ticket = {"id": 57, "number": "G012", "day": "2025-03-10", "department": "CA",
              "procedure": "CA04", "priority": "elderly75", "status": "waiting",
              "issued_at": MORNING.replace(minute=4).timestamp()}
    app.show(TicketScreen(IssuedTicket(ticket, ahead=7, wait_minutes=25, repeat=False), "none"))
    await ticket_shown(app, pilot)
    await pilot.pause(0.05)


def test_snapshot_out_of_service(snap_compare) -> None:
    async def wait_oos(pilot) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, OutOfServiceScreen))

    assert snap_compare(snapshot_app(0.05), terminal_size=(80, 24), run_before=wait_oos)


SIZES = [(60, 20), (80, 24), (120, 40)]
SIZE_IDS = ["60x20", "80x24", "120x40"]


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_home(snap_compare, size) -> None:
    assert snap_compare(snapshot_app(), terminal_size=size, run_before=_show_fixed_state)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_ticket(snap_compare, size) -> None:
    assert snap_compare(snapshot_app(), terminal_size=size, run_before=_show_ticket)


async def _show_priorities(pilot) -> None:
    await _show_fixed_state(pilot)
    app = pilot.app
    app.client.state.center = dict(SNAP_CENTER, priority_groups=[
        {"code": c, "vi": vi, "en": en} for c, vi, en in (
            ("elderly75", "Người từ 75 tuổi trở lên", "People aged 75 or over"),
            ("disabled_severe", "Người khuyết tật nặng, đặc biệt nặng", "Severe disability"),
            ("pregnant", "Phụ nữ mang thai", "Pregnant women"),
            ("merit", "Người có công với cách mạng", "People with merit to the revolution"),
            ("child_under6", "Trẻ em dưới 6 tuổi (có người giám hộ đi cùng)",
             "Children under 6 (with a guardian)"))])
    await pilot.press("7")  # G · Công an tỉnh
    await until(pilot, lambda: isinstance(app.screen, DepartmentScreen))
    await pilot.press("2")  # Đăng ký thường trú
    await until(pilot, lambda: isinstance(app.screen, PriorityScreen))
    await pilot.pause(0.05)


@pytest.mark.parametrize("size", SIZES[:2], ids=SIZE_IDS[:2])
def test_snapshot_priority_choices_all_fit(snap_compare, size) -> None:
    """Found at 80×24: priority choices 5–6 were below the fold."""
    assert snap_compare(snapshot_app(), terminal_size=size, run_before=_show_priorities)


async def _search(pilot) -> None:
    await _show_fixed_state(pilot)
    await pilot.press(*"dang ky")
    await until(pilot, lambda: bool(pilot.app.screen.query("#results .result")))
    await pilot.pause(0.05)


@pytest.mark.parametrize("size", SIZES[:2], ids=SIZE_IDS[:2])
def test_snapshot_search_results_keep_their_department(snap_compare, size) -> None:
    """Found at 80×24: a wrapped result lost its department line."""
    assert snap_compare(snapshot_app(), terminal_size=size, run_before=_search)


def test_snapshot_home_outside_ticket_hours(snap_compare) -> None:
    app = KioskApp("ws://127.0.0.1:9", device="kiosk-snap",
                   clock=fixed(MORNING.replace(hour=6, minute=40)), connect_grace=60)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_show_closed_state)


async def _show_closed_state(pilot) -> None:
    app = pilot.app
    app.client.state.center = SNAP_CENTER
    app.client.state.load({"day": "2025-03-10", "departments": []})
    app.post_message(KioskApp.ServerChanged(True))
    app.post_message(KioskApp.ServerChanged(None, snapshot=True))
    await until(pilot, lambda: bool(app.screen.query("#prompt.-closed")))
    await pilot.pause(0.05)
