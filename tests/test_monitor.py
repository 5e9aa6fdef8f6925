"""The supervisor monitor, driven with Pilot against a real server."""

from __future__ import annotations

import re
from datetime import date

import pytest
from conftest import TEST_START, Harness, WallClock, wait_for
from textual.widgets import DataTable, Static

from motcua.monitor.app import MonitorApp, bar, duration
from motcua.monitor.model import Monitor
from motcua.client import CenterState
from motcua.server.core import QueueCore
from motcua.sim.model import DaySimulation
from motcua.sim.profile import Profile
from motcua.sim.run import SimClock, day_rng, run_on_core



def text(app, selector):
    return str(app.query_one(selector, Static).content)


def cells(app, table, key):
    return [str(c) for c in app.query_one(f"#{table}", DataTable).get_row(key)]


@pytest.fixture
async def night(open_config, tmp_path):
    """A server at 03:15 in Vietnam with hours lifted (``--ignore-hours``)."""
    h = Harness(open_config, tmp_path / "night.db", WallClock(TEST_START.replace(hour=3, minute=15)))
    await h.start()
    try:
        yield h
    finally:
        await h.close()


async def test_live_counters_queues_alerts_and_figures(night):
    harness = night
    offset = [0.0]
    app = MonitorApp(harness.url, "admin-demo", pause_alert=120,
                     clock=lambda: harness.clock.time() + offset[0])
    async with app.run_test(size=(190, 50)) as pilot:
        await wait_for(lambda: app.connected and app.model.day)
        kiosk = await harness.client("kiosk")
        c1 = await harness.client("counter", counter=1)
        c2 = await harness.client("counter", counter=2)
        await kiosk.request("issue", department="TP", request_id="m1")
        await kiosk.request("issue", department="TP", procedure="TP01", request_id="m2",
                            priority="elderly75")
        await kiosk.request("issue", department="KHDT", request_id="m3")
        await c1.request("login", officer="cb01", pin="1234")
        called = await c1.request("call_next")
        assert called["ticket"]["number"] == "A002"  # the priority ticket first
        await c1.request("start")
        await c2.request("login", officer="cb02", pin="1234")
        await c2.request("pause", reason="Họp giao ban")
        await wait_for(lambda: app.model.state.counters[2]["status"] == "paused")
        # Queue counts arrive in coalesced queue_changed events (up to 0.1 s late).
        deps = app.model.state.departments
        await wait_for(lambda: deps["TP"]["waiting"] == 1 and deps["TP"]["issued"] == 2
                       and deps["KHDT"]["waiting"] == 1)
        await pilot.pause()
        app.redraw()

        row = cells(app, "counters", "1")
        assert row[:4] == ["Quầy 1", "● Đang mở", "A002", "Đang phục vụ"]
        assert row[5] == "Nguyễn Thị Lan"
        paused = cells(app, "counters", "2")
        assert paused[1:4] == ["◐ Tạm dừng", "", "Họp giao ban"] and paused[5] == "Trần Văn Hùng"
        assert cells(app, "counters", "3")[1] == "○ Đóng"
        tp = cells(app, "departments", "TP")
        assert tp[:2] == ["TP – Sở Tư pháp", "1"] and tp[3] == "20 phút" and tp[5] == ""
        assert cells(app, "departments", "KHDT")[1] == "1"
        assert text(app, "#alerts") == "Không có cảnh báo."
        kpis = text(app, "#kpis")
        assert "Số phiếu phát" in kpis and "Đang chờ" in kpis
        assert app.model.figures().issued == 3 and app.model.figures().waiting == 2
        assert "Đã kết nối" in text(app, "#conn")

        # Half an hour later: TP's and KHDT's oldest tickets are past their
        # 20-minute target, counter 2 has been paused too long.
        offset[0] = 30 * 60
        app.redraw()
        alerts = text(app, "#alerts")
        assert "TP – Sở Tư pháp" not in alerts and "Sở Tư pháp: chờ lâu nhất 30 phút " \
            "(mục tiêu 20 phút), 1 người chờ" in alerts
        assert "Sở Kế hoạch và Đầu tư: chờ lâu nhất 30 phút" in alerts
        assert "Quầy 2 tạm dừng 30 phút (Họp giao ban) Trần Văn Hùng" in alerts
        assert cells(app, "counters", "1")[4].startswith("30:0")
        assert cells(app, "departments", "TP")[2].startswith("30:0")

        # A kiosk's printer runs out of paper: an error alert, first in the list.
        await kiosk.request("printer_status", ok=False, problem="paper_out",
                            detail="Hết giấy")
        await wait_for(lambda: "kiosk-test" in app.model.printers)
        app.redraw()
        assert text(app, "#alerts").startswith("● Máy in kiosk-test lỗi: hết giấy (từ ")
        assert app.query_one("#alerts").has_class("-error")
        await kiosk.request("printer_status", ok=True)
        await wait_for(lambda: app.model.printers["kiosk-test"]["ok"])

        # Service ends and is rated: the figures follow.
        ended = await c1.request("finish")
        pad = await harness.client("rating", counter=1)
        await pad.request("rate", visit=ended["visit"]["id"], value=4, request_id="r1")
        await c1.request("call_next")  # A001, waited since the start
        await wait_for(lambda: app.model.figures().kpis.rated == 1)
        await wait_for(lambda: app.model.figures().served == 1)  # totals come coalesced
        # The call of A001 is its own event, not ordered with the coalesced totals.
        await wait_for(lambda: app.model.figures().kpis.waits >= 2)
        offset[0] = 0
        app.redraw()
        f = app.model.figures()
        assert f.served == 1 and f.kpis.served == 1
        assert f.kpis.waits == 2  # A002 and A001, both issued after the monitor connected
        assert f.kpis.satisfaction == 1.0
        # Issued at 03:15, outside opening hours: charted all the same, in order.
        assert f.arrivals_by_hour == {3: 3} and f.served_by_hour == {3: 1}
        chart = text(app, "#chart").splitlines()
        assert [line[:3] for line in chart[1:]] == ["03h"] + [f"{h:02d}h" for h in range(7, 18)]
        assert re.fullmatch(r"03h [█▏▎▍▌▋▊▉]+\s+3 [█▏▎▍▌▋▊▉]+\s+1", chart[1]), chart[1]
        kpis = dict(line.rsplit(None, 1) for line in text(app, "#kpis").splitlines()
                    if "/" not in line)
        assert kpis["Tỷ lệ hài lòng"] == "100,0%" and kpis["Lượt đánh giá"] == "1"
        assert "Số liệu từ" in text(app, "#kpi-note")

        # English on a key press.
        await pilot.press("l")
        assert cells(app, "counters", "1")[1] == "● Open"
        assert "Department of Justice" in cells(app, "departments", "TP")[0]
        assert "Tickets issued" in text(app, "#kpis")


async def test_connection_loss_is_shown_and_recovers(harness):
    app = MonitorApp(harness.url, "admin-demo", clock=harness.clock.time)
    async with app.run_test(size=(160, 45)):
        await wait_for(lambda: app.connected)
        await harness.stop()
        await wait_for(lambda: not app.connected)
        app.redraw()
        assert "MẤT KẾT NỐI" in text(app, "#conn")
        assert app.query_one("#conn").has_class("-down")
        await harness.start()
        await wait_for(lambda: app.connected, timeout=10)
        app.redraw()
        assert "Đã kết nối" in text(app, "#conn")


async def test_wrong_token_says_so(harness):
    app = MonitorApp(harness.url, "wrong-token", clock=harness.clock.time)
    async with app.run_test(size=(160, 45)):
        await wait_for(lambda: app.stopped is not None)
        app.redraw()
        assert "Máy chủ từ chối" in text(app, "#conn")


async def test_whole_day_figures_from_the_database(harness):
    """Visits before the monitor started are in the log: with --db they count."""
    kiosk = await harness.client("kiosk")
    c1 = await harness.client("counter", counter=1)
    pad = await harness.client("rating", counter=1)
    await kiosk.request("issue", department="TP", request_id="d1")
    await c1.request("login", officer="cb01", pin="1234")
    await c1.request("call_next")
    ended = await c1.request("finish")
    await pad.request("rate", visit=ended["visit"]["id"], value=1, reason="officer",
                      request_id="p1")
    live = MonitorApp(harness.url, "admin-demo", clock=harness.clock.time)
    async with live.run_test(size=(160, 45)):
        await wait_for(lambda: live.connected and live.model.day)
        assert live.model.figures().kpis.rated == 0
    app = MonitorApp(harness.url, "admin-demo", db=harness.db, clock=harness.clock.time)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(lambda: app.report_at is not None)
        await pilot.pause()
        app.redraw()
        f = app.model.figures()
        assert f.kpis.rated == 1 and f.kpis.satisfaction == 0.0 and f.kpis.waits == 1
        assert f.since is None and "Cả ngày" in text(app, "#kpi-note")
        await kiosk.request("issue", department="TP", request_id="d2")
        await pilot.press("r")
        await wait_for(lambda: app.model.figures().kpis.issued == 2)


async def test_a_redraw_while_the_widgets_are_torn_down_is_harmless(sample_config):
    """The redraw timer can fire once more while the app quits (seen under
    load as NoMatches '#center-name' at the end of a test)."""
    app = MonitorApp(state=CenterState(center=sample_config.public()), clock=lambda: 0.0)
    async with app.run_test(size=(160, 45)) as pilot:
        await app.query_one("#topbar").remove()
        await app.query_one("#bottom").remove()
        app.redraw()
        await pilot.pause()


def test_helpers():
    assert duration(None) == "" and duration(59.9) == "0:59" and duration(3725) == "1:02:05"
    assert bar(0, 10, 5) == "" and bar(10, 10, 5) == "█████" and bar(1, 80, 10) == "▏"


def test_model_without_a_server(sample_config):
    """The model's view of a simulated morning: every counter and department."""
    config = sample_config
    clock = SimClock()
    core = QueueCore(config, clock)
    day = date(2026, 11, 23)
    sim = DaySimulation(config, Profile.for_config(config), day, day_rng(1, day))
    run_on_core(sim, core, clock, until=9 * 3600 + 30 * 60)
    state = CenterState(center=config.public())
    state.load(core.snapshot())
    m = Monitor(state)
    now = clock.now.timestamp()
    counters = m.counters(now)
    assert [c.number for c in counters] == list(range(1, 15))
    assert sum(1 for c in counters if c.ticket) >= 8
    depts = m.departments(now)
    assert [d.code for d in depts] == [d.code for d in config.departments]
    assert sum(d.waiting for d in depts) == sum(len(q) for q in core.waiting.values())
    assert all(a.key == "alert_wait" for a in m.alerts(now) if a.severity == "error")
    assert m.hours() == list(range(7, 18))


def test_chart_hours_include_every_hour_with_arrivals_or_services(sample_config):
    """Opening hours, plus any hour that saw a ticket or a service, in order:
    a night shift under --ignore-hours, a visit served after closing."""
    from motcua.server.app import always_open
    state = CenterState(center=always_open(sample_config).public())
    m = Monitor(state)
    f = m.figures()
    assert m.hours(f) == list(range(7, 18))  # --ignore-hours charts the usual day
    f.arrivals_by_hour = {3: 2, 9: 1, 0: 0}
    f.served_by_hour = {20: 1, 3: 1}
    assert m.hours(f) == [3, *range(7, 18), 20]
    m = Monitor(CenterState(center=sample_config.public()))  # opens 07:30, closes 17:00
    f = m.figures()
    f.served_by_hour = {6: 1}
    assert m.hours(f) == list(range(6, 18))


async def test_a_display_whose_voice_fails_is_an_alert(harness):
    """The TV no longer shows its voice trouble; the supervisor sees it here."""
    app = MonitorApp(harness.url, "admin-demo")
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(lambda: app.connected and app.model.day)
        tv = await harness.client("display", device="tv-sanh-a")
        await tv.request("voice_status", ok=False, problem="no_audio",
                         detail="error: no audio device")
        await wait_for(lambda: "tv-sanh-a" in app.model.voices)
        app.redraw()
        alerts = text(app, "#alerts")
        assert alerts.startswith("● Màn hình tv-sanh-a không đọc được số: không có đầu ra "
                                  "âm thanh — error: no audio device")
        assert app.query_one("#alerts").has_class("-error")
        await tv.request("voice_status", ok=True)
        await wait_for(lambda: app.model.voices["tv-sanh-a"]["ok"])
        app.redraw()
        assert text(app, "#alerts") == "Không có cảnh báo."
    # A monitor that connects later learns it from the snapshot.
    await tv.request("voice_status", ok=False, problem="no_engine", detail="espeak-ng")
    late = MonitorApp(harness.url, "admin-demo")
    async with late.run_test(size=(160, 45)):
        await wait_for(lambda: late.connected and late.model.day)
        late.redraw()
        assert "tv-sanh-a" in text(late, "#alerts") and \
            "chưa cài bộ đọc giọng nói — espeak-ng" in text(late, "#alerts")


async def test_before_the_first_snapshot_it_says_connecting_not_no_alerts(harness):
    """Found: before the first connection the monitor said "Không có cảnh báo"."""
    await harness.stop()
    app = MonitorApp(harness.url, "admin-demo")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        app.redraw()
        assert text(app, "#alerts") == "Đang kết nối…"
        assert text(app, "#kpis") == "Đang kết nối…"
        await harness.start()
        await wait_for(lambda: app.synced, 10)
        app.redraw()
        assert text(app, "#alerts") == "Không có cảnh báo."


def _visible(app, selector: str) -> bool:
    region = app.query_one(selector).region
    width, height = app.size
    return region.width > 2 and region.height >= 3 and region.right <= width \
        and region.bottom <= height


async def test_small_terminals_keep_alerts_and_tell_open_from_closed(harness):
    """Found at 60×20: the alerts panel collapsed to an empty box and counter
    status was cut to "Đ" (open and closed looked alike)."""
    tv = await harness.client("display", device="tv-1")
    await tv.request("voice_status", ok=False, problem="no_audio")
    desk = await harness.client("counter", counter=1)
    await desk.request("login", officer="cb01", pin="1234")
    app = MonitorApp(harness.url, "admin-demo")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: app.connected and app.model.day)
        for width, height in ((80, 24), (60, 20)):
            await pilot.resize_terminal(width, height)
            await pilot.pause(0.3)
            app.redraw()
            await pilot.pause()
            assert _visible(app, "#alerts"), (width, app.query_one("#alerts").region)
            assert "tv-1" in text(app, "#alerts")
            assert _visible(app, "#counters") and _visible(app, "#departments")
            status = app.query_one("#counters", DataTable)
            col = status.get_column_index("col_status")
            shown = status.columns[status.ordered_columns[col].key].get_render_width(status)
            opened, closed = cells(app, "counters", "1")[1], cells(app, "counters", "2")[1]
            assert opened[0] != closed[0]  # "●" against "○", however narrow the column
            assert shown >= 3, (width, shown)
            assert "Phát" in text(app, "#kpis")  # the figures, in short lines
