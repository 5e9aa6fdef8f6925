"""The rating pad against a real server: visits are ended by a real counter
client, the pad is touched through Pilot, the SQLite file is the judge."""

from __future__ import annotations

import sqlite3
import time

from textual.widgets import Button

from test_counter_console import pad, until

SIZE = (100, 30)


async def officer(harness, counter: int = 1):
    desk = await harness.client("counter", device=f"desk-{counter}", counter=counter)
    await desk.request("login", officer="cb01", pin="1234")
    return desk


async def visit(harness, desk, department: str = "TP") -> str:
    """One citizen served from start to end at the desk's counter."""
    kiosk = await harness.client("kiosk")
    r = await kiosk.request("issue", department=department, request_id=f"r{time.time()}")
    await desk.request("call_next")
    await desk.request("finish")
    return r["ticket"]["number"]


def ratings(harness) -> list[tuple]:
    return sqlite3.connect(harness.db).execute(
        "SELECT visit_id, counter, officer, value, reason FROM ratings ORDER BY visit_id"
    ).fetchall()


def text(app, selector: str) -> str:
    return str(app.query_one(selector).render())


async def test_idle_shows_the_counter_and_its_officer(harness):
    app = pad(harness)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connected)
        assert text(app, "#idle-officer") == "Quầy chưa mở"
        await officer(harness)
        await until(pilot, lambda: text(app, "#idle-officer") == "Nguyễn Thị Lan")
        assert app.phase == "idle"


async def test_negative_rating_asks_one_sipas_reason(harness):
    app = pad(harness)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connected)
        desk = await officer(harness)
        number = await visit(harness, desk)
        await until(pilot, lambda: app.phase == "levels")
        assert text(app, "#levels-ticket") == f"Số {number}"
        assert "Nguyễn Thị Lan" in text(app, "#levels-question")
        assert await pilot.click("#level-1")          # Không hài lòng
        assert app.phase == "reasons"
        labels = [str(b.label) for b in app.query("#reasons-buttons Button").results(Button)]
        assert len(labels) == 5 and "3. Công chức giải quyết" in labels
        assert await pilot.click("#reason-officer")
        assert app.phase == "thanks"
        await until(pilot, lambda: app.delivered)
    assert ratings(harness) == [(1, 1, "cb01", 1, "officer")]


async def test_a_visit_is_rated_once(harness):
    app = pad(harness)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connected)
        desk = await officer(harness)
        await visit(harness, desk)
        await until(pilot, lambda: app.phase == "levels")
        ended = app.visit
        await pilot.press("2")                          # keypad: the second level
        await pilot.press("1")                          # a second touch does nothing
        await until(pilot, lambda: app.delivered)
        app.show_visit(ended)                           # the same visit again: ignored
        assert app.phase == "thanks"
    assert ratings(harness) == [(1, 1, "cb01", 3, None)]


async def test_visit_rated_elsewhere_clears_the_pad(harness):
    app = pad(harness)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connected)
        desk = await officer(harness)
        await visit(harness, desk)
        await until(pilot, lambda: app.phase == "levels")
        admin = await harness.client("admin")
        await admin.request("rate", visit=app.visit["id"], value=3, request_id="admin-1")
        await until(pilot, lambda: app.phase == "idle")
    assert len(ratings(harness)) == 1


async def test_untouched_pad_goes_back_to_idle(harness):
    now = [harness.clock.time()]
    app = pad(harness, timeout=30, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connected)
        desk = await officer(harness)
        await visit(harness, desk)
        await until(pilot, lambda: app.phase == "levels")
        assert "30 giây" in text(app, "#footline")
        now[0] += 31                                    # the citizen walked away
        await until(pilot, lambda: app.phase == "idle")
        # A negative level chosen, then nobody picks a reason: the rating
        # itself still counts, without a reason.
        await visit(harness, desk)
        await until(pilot, lambda: app.phase == "levels")
        await pilot.press("4")
        assert app.phase == "reasons"
        now[0] += 31
        await until(pilot, lambda: app.phase == "thanks")
        await until(pilot, lambda: app.delivered)
        now[0] += 6                                     # the thank-you goes away too
        await until(pilot, lambda: app.phase == "idle")
    assert ratings(harness) == [(2, 1, "cb01", 1, None)]


async def test_language_toggle_and_reset_for_the_next_citizen(harness):
    app = pad(harness)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connected)
        desk = await officer(harness)
        await visit(harness, desk)
        await until(pilot, lambda: app.phase == "levels")
        assert await pilot.click("#language")
        assert str(app.query_one("#level-4", Button).label) == "1. Very satisfied"
        assert "satisfied with the service of Nguyễn Thị Lan" in text(app, "#levels-question")
        await pilot.press("1")
        assert text(app, "#thanks-text") == "Thank you for your rating!"
        await until(pilot, lambda: app.delivered)
        await visit(harness, desk)
        await until(pilot, lambda: app.phase == "levels" and len(app.delivered) == 1)
        assert str(app.query_one("#level-4", Button).label) == "1. Rất hài lòng"


async def test_rating_during_a_network_blip_is_delivered_once(harness):
    app = pad(harness)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connected)
        desk = await officer(harness)
        await visit(harness, desk)
        await until(pilot, lambda: app.phase == "levels")
        await harness.stop()
        await until(pilot, lambda: not app.connected)
        assert await pilot.click("#level-3")            # touched while offline
        assert app.phase == "thanks"                    # the citizen is thanked anyway
        assert "Mất kết nối" in text(app, "#footline")
        assert "1 đánh giá chờ gửi" in text(app, "#footline")
        await harness.start()
        await until(pilot, lambda: app.delivered, timeout=10)
        assert app.outbox == []
        assert app.delivered[0]["reply"]["repeat"] is False
        # The reply to a delivered rating is lost, so the pad sends it again:
        # same request_id, so the server answers "repeat" and stores nothing.
        app.outbox.append(app.delivered[0]["item"])
        app._wake.set()
        await until(pilot, lambda: len(app.delivered) == 2)
        assert app.delivered[1]["reply"]["repeat"] is True
    assert ratings(harness) == [(1, 1, "cb01", 3, None)]


async def test_a_visit_ended_while_the_pad_was_away_is_offered_when_it_connects(
        harness):
    desk = await officer(harness)
    number = await visit(harness, desk)
    await harness.restart()                             # the visit is read back from SQLite
    app = pad(harness, thanks=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.phase == "levels")
        assert text(app, "#levels-ticket") == f"Số {number}"
        assert "Nguyễn Thị Lan" in text(app, "#levels-question")
        await pilot.press("1")
        await until(pilot, lambda: app.delivered and app.phase == "idle")
        # Rated: a reconnection offers it no more.
        await harness.stop()
        await until(pilot, lambda: not app.connected)
        await harness.start()
        await until(pilot, lambda: app.connected, timeout=10)
        await pilot.pause(0.2)
        assert app.phase == "idle"
    assert ratings(harness) == [(1, 1, "cb01", 4, None)]


async def test_a_visit_left_unrated_is_not_offered_again_on_reconnect(harness):
    now = [harness.clock.time()]
    app = pad(harness, timeout=30, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connected)
        desk = await officer(harness)
        await visit(harness, desk)
        await until(pilot, lambda: app.phase == "levels")
        now[0] += 31                                    # the citizen walked away
        await until(pilot, lambda: app.phase == "idle")
        await harness.stop()
        await until(pilot, lambda: not app.connected)
        await harness.start()                           # still pending on the server
        await until(pilot, lambda: app.connected, timeout=10)
        await pilot.pause(0.2)
        assert harness.server.core.pending_visit(1) is not None
        assert app.phase == "idle"                      # the next citizen rates no one else's
    assert ratings(harness) == []


def on_screen(app, button_id: str) -> bool:
    """The whole button lies inside the screen (a touch can reach it)."""
    button = app.query_one(f"#{button_id}", Button)
    region = button.region
    width, height = app.size
    return (region.width > 0 and region.height > 0 and region.x >= 0 and region.y >= 0
            and region.right <= width and region.bottom <= height)


async def test_every_rating_is_on_screen_and_touchable_at_60x20(harness):
    """Found: at 60×20 only "1. Rất hài lòng" showed; 2–4 were off-screen, so
    a touch user could not give a negative rating."""
    app = pad(harness)
    async with app.run_test(size=(60, 20)) as pilot:
        await until(pilot, lambda: app.connected)
        desk = await officer(harness)
        await visit(harness, desk)
        await until(pilot, lambda: app.phase == "levels")
        await pilot.pause(0.1)
        for value in (4, 3, 2, 1):
            assert on_screen(app, f"level-{value}"), value
            label = str(app.query_one(f"#level-{value}", Button).label)
            assert "…" not in label
        assert await pilot.click("#level-1")  # Không hài lòng, by touch
        await until(pilot, lambda: app.phase == "reasons")
        for reason in app.reasons:
            assert on_screen(app, f"reason-{reason['code']}")


async def test_before_the_first_snapshot_the_pad_says_connecting(harness):
    """Found: before the first connection the pad said "Quầy chưa mở"."""
    await harness.stop()
    app = pad(harness)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        assert text(app, "#idle-officer") == "Đang kết nối…"
        assert "Mất kết nối" not in text(app, "#footline")
        await harness.start()
        await until(pilot, lambda: text(app, "#idle-officer") == "Quầy chưa mở", 10)


async def test_nothing_a_citizen_types_quits_the_pad(harness):
    app = pad(harness)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.connected)
        for key in ("ctrl+q", "ctrl+c", "ctrl+p", "q", "escape"):
            await pilot.press(key)
            await pilot.pause(0.1)
        assert app.is_running and app.return_code is None
        assert len(app.screen_stack) == 1
        assert not app.screen.query("Toast")
