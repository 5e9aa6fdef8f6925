"""The citizen's page and the waiting room in a real browser: headless
Chromium driven over the DevTools protocol (tests/browser.py).

Without Chromium these tests are skipped with a message saying so (and fail
under CI, where .ci/run installs it). ``MOTCUA_SCREENSHOTS=<dir>`` keeps the
screenshots there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from pathlib import Path

import pytest

from browser import Browser, require_chromium
from conftest import Harness, wait_for
from fake_gateway import FakeGateway
from motcua.web.settings import NotifySettings, WebSettings
from motcua.web.strings import VI


@pytest.fixture
async def browser():
    require_chromium()
    b = await Browser.launch()
    try:
        yield b
    finally:
        await b.close()


def shots(tmp_path: Path) -> Path:
    out = Path(os.environ.get("MOTCUA_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


async def counter_at(h: Harness, n: int = 1):
    c = await h.client("counter", counter=n)
    await c.request("login", officer=f"cb{n:02d}", pin="1234")
    return c


LIVE = "document.getElementById('conn').textContent === %s"


async def test_ticket_page_on_a_phone_follows_the_queue_live(harness, browser, tmp_path):
    k = await harness.client("kiosk")
    tickets = [await k.request("issue", department="TP", request_id=f"p{i}") for i in range(3)]
    mine = tickets[2]
    phone = await browser.new_page(360, 740, mobile=True, scale=2, network="3g")
    await phone.goto(mine["link"])
    await phone.wait_for(LIVE % json.dumps("Đang cập nhật trực tiếp"))
    assert await phone.text("#num") == "A003"
    assert await phone.text("#state") == "Còn 2 người trước bạn"
    # No counter is open yet: the page says why it cannot estimate.
    assert await phone.text("#wait") == VI["js_wait_no_open_counter"]
    # Small, and nothing fetched from anywhere else (the center may be offline).
    sizes = phone.transferred()
    assert sum(sizes.values()) < 50 * 1024, sizes
    assert all(u.startswith(f"http://127.0.0.1:{harness.port}/") or u.startswith("data:")
               for u in phone.requests()), phone.requests()
    assert await phone.evaluate("document.documentElement.scrollWidth <= 360")  # no zooming
    await phone.screenshot(shots(tmp_path) / "web-ticket-phone.png")

    c = await counter_at(harness)
    await c.request("call_next")  # another ticket is called: the page moves by itself
    await phone.wait_for("document.getElementById('state').textContent === 'Còn 1 người trước bạn'")
    assert (await phone.text("#wait")).startswith("Dự kiến khoảng")
    assert "Quầy 1: A001" in await phone.text("#serving")
    await c.request("finish")
    await c.request("call_next")
    await phone.wait_for("document.getElementById('state').textContent === 'Bạn là người tiếp theo'")
    await c.request("finish")
    await c.request("call_next")  # its own call
    await phone.wait_for("!document.getElementById('call').hidden")
    assert await phone.text("#call-big") == "Mời đến quầy\u00a01"
    assert await phone.evaluate("document.title") == "Mời đến quầy\u00a01"
    await phone.screenshot(shots(tmp_path) / "web-ticket-called-phone.png")
    assert phone.console_errors() == []


async def test_ticket_page_without_scripts_is_readable(harness, browser):
    await counter_at(harness)  # a counter is open, so there is an estimate
    k = await harness.client("kiosk")
    await k.request("issue", department="TP", request_id="a")
    r = await k.request("issue", department="TP", request_id="b")
    page = await browser.new_page(360, 740, mobile=True)
    await page.send("Emulation.setScriptExecutionDisabled", value=True)
    await page.goto(r["link"])
    text = await page.send("Runtime.evaluate", expression="document.body.innerText",
                           returnByValue=True)
    body = text["result"]["value"]
    assert "A002" in body and "Còn 1 người trước bạn" in body and "Dự kiến khoảng" in body
    assert "Tôi không chờ nữa" not in body  # actions need the live channel


async def test_ticket_page_reconnects_after_a_server_restart(harness, browser):
    k = await harness.client("kiosk")
    await k.request("issue", department="TP", request_id="a")
    r = await k.request("issue", department="TP", request_id="b")
    page = await browser.new_page(360, 740, mobile=True)
    await page.goto(r["link"])
    await page.wait_for(LIVE % json.dumps("Đang cập nhật trực tiếp"))
    await harness.restart()
    await page.wait_for("document.getElementById('conn').className === 'conn off'", 10)
    c = await counter_at(harness)
    await c.request("call_next")
    await page.wait_for("document.getElementById('state').textContent === 'Bạn là người tiếp theo'",
                        20)


async def test_ticket_page_in_english_leave_and_notify(open_config, tmp_path, browser):
    with FakeGateway() as gw:
        cfg = dataclasses.replace(open_config, web=WebSettings(notify=NotifySettings(
            url=gw.url + "/sms", body='{"to": "{phone}", "text": "{text}"}', ahead=0,
            backoff=0.05)))
        h = Harness(cfg, tmp_path / "m.db")
        await h.start()
        try:
            k = await h.client("kiosk")
            first = await k.request("issue", department="TP", request_id="a")
            r = await k.request("issue", department="TP", request_id="b")
            page = await browser.new_page(360, 740, mobile=True)
            await page.goto(r["link"] + "?lang=en")
            await page.wait_for(LIVE % json.dumps("Live"))
            assert await page.text("#state") == "1 people ahead of you"
            await page.evaluate("document.getElementById('phone').value = '0912 345 678';"
                                "document.querySelector('#notify-form button').click()")
            await page.wait_for("!document.getElementById('notify-on').hidden")
            assert h.server.web.alerts[2].phone == "0912345678"
            # A first ticket leaves from its own page: the second moves up.
            other = await browser.new_page(360, 740, mobile=True)
            await other.goto(first["link"])
            await other.wait_for(LIVE % json.dumps("Đang cập nhật trực tiếp"))
            await other.evaluate("document.getElementById('leave').click()")  # confirm() → OK
            await other.wait_for("document.getElementById('state').textContent === 'Số này đã hủy.'")
            assert h.server.core.tickets[1].status == "cancelled"
            await page.wait_for("document.getElementById('state').textContent === 'You are next'")
            await wait_for(lambda: len(gw.received) == 1, 10)  # 0 ahead: "come back now"
            assert gw.received[0].json()["to"] == "0912345678"
        finally:
            await h.close()


# --- the waiting room and the kiosk in a browser (textual-serve) -------------------------

async def serve_app(app: str, server_url: str, font_size: int | None = None):
    """Run `motcua web APP` in this loop on 127.0.0.1, port 0; (runner, url)."""
    from aiohttp import web

    from motcua.web.serve import FONT_SIZES, BrowserServer, app_command

    srv = BrowserServer(app, app_command(app, server_url, []), host="127.0.0.1", port=0,
                        font_size=font_size or FONT_SIZES[app])
    application = await srv.make_app()
    application.on_startup.clear()  # no banner on the test's console
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - port 0's real port
    srv.public_url = f"http://127.0.0.1:{port}"
    return runner, srv.public_url


async def test_display_in_a_tv_browser_shows_a_call_within_seconds(harness, browser, tmp_path):
    runner, url = await serve_app("display", harness.url)
    try:
        tv = await browser.new_page(1920, 1080)
        await tv.goto(url + "/")
        await tv.wait_for("document.body.classList.contains('-first-byte')", 30)
        assert await tv.evaluate(
            "document.getElementById('terminal').dataset.fontSize") == "24"
        # Nothing but this server: the terminal font is served here too.
        assert all(u.startswith(url) or u.startswith("ws://127.0.0.1") or u.startswith("data:")
                   for u in tv.requests()), tv.requests()
        await tv.wait_for("document.fonts.check(\"24px 'Roboto Mono'\")", 10)
        k = await harness.client("kiosk")
        await k.request("issue", department="TP", request_id="tv1")
        c = await counter_at(harness)
        await asyncio.sleep(1.5)  # let the display settle on its first screen
        loop = asyncio.get_running_loop()
        called_at = loop.time()
        await c.request("call_next")
        while not any("A001" in f for f in tv.frames_received()):
            assert loop.time() - called_at < 5, "the TV did not show the call within 5 s"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        await tv.screenshot(shots(tmp_path) / "web-display-tv.png")
        assert tv.console_errors() == []
    finally:
        await runner.cleanup()


async def test_kiosk_in_a_browser_takes_a_number(harness, browser, tmp_path):
    runner, url = await serve_app("kiosk", harness.url)
    try:
        screen = await browser.new_page(1280, 800)
        await screen.goto(url + "/")
        await screen.wait_for("document.body.classList.contains('-first-byte')", 30)
        await asyncio.sleep(2)
        # A touch on the screen, then "1" three times as the kiosk's keys allow:
        # the first department, its first procedure, no priority.
        for kind in ("mousePressed", "mouseReleased"):
            await screen.send("Input.dispatchMouseEvent", type=kind, x=640, y=700,
                              button="left", clickCount=1)
        await asyncio.sleep(0.5)
        for _ in range(3):
            await screen.send("Input.insertText", text="1")
            await asyncio.sleep(1.2)
        await wait_for(lambda: len(harness.server.core.tickets) >= 1, 15)
        await screen.screenshot(shots(tmp_path) / "web-kiosk.png")
    finally:
        await runner.cleanup()
