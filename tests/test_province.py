"""``motcua province`` driven with Pilot against real site servers shipping
to a real hub: one row per site, live figures, silent sites marked, the
site's own screen on Enter, a lost hub shown (not fatal)."""

from __future__ import annotations

import asyncio

import asyncpg
from textual.widgets import DataTable, Static

from motcua.client import connect_once
from motcua.hub.province import ProvinceApp, SiteScreen
from motcua.server.app import MotcuaServer

from conftest import TOKENS


def cells(app, key: str) -> list[str]:
    table = app.query_one("#sites", DataTable)
    return [str(getattr(c, "plain", c)) for c in table.get_row(key)]


def text(widget: Static) -> str:
    r = widget.render()
    return str(getattr(r, "plain", r))


async def until(pilot, predicate, timeout: float = 45.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


async def test_province_view_of_two_live_sites(open_config, hub, tmp_path):
    servers = {}
    try:
        for code in ("XA01", "XA02"):
            url = await hub.add_site(code, f"UBND xã {code[-1]}")
            srv = MotcuaServer(open_config, tmp_path / f"{code}.db", port=0, hub=url)
            await srv.start()
            srv.shipper.heartbeat_every = 0.2
            servers[code] = srv
        kiosk = await connect_once(f"ws://127.0.0.1:{servers['XA01'].port}", "kiosk", "k",
                                   TOKENS["kiosk"])
        counter = await connect_once(f"ws://127.0.0.1:{servers['XA01'].port}", "counter", "c",
                                     TOKENS["counter"], counter=1)
        for i in range(5):
            await kiosk.request("issue", department="TP", request_id=f"p{i}")
        await counter.request("login", officer="cb01", pin="1234")
        called = await counter.request("call_next")
        await counter.request("finish")
        visit = called["ticket"]["visit"]
        rating = await connect_once(f"ws://127.0.0.1:{servers['XA01'].port}", "rating", "r",
                                    TOKENS["rating"], counter=1)
        await rating.request("rate", visit=visit, value=4, request_id="rate-1")
        for c in (kiosk, counter, rating):
            await c.close()
        reader = await hub.add_reader()
        app = ProvinceApp(reader, every=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: len(app.sites) == 2 and
                        cells(app, "XA01")[1:3] == ["4", "1"] and cells(app, "XA01")[4] == "100%")
            row = cells(app, "XA01")
            assert row[0] == "XA01 – UBND xã 1"
            assert "giây" in row[6] and "MẤT" not in row[6]
            assert cells(app, "XA02")[1:3] == ["0", "0"]
            assert "2 đơn vị · 0 mất liên lạc · 4 đang chờ · 1 đã phục vụ" in \
                text(app.query_one("#totals", Static))
            # A site that stops talking is marked silent after a minute.
            await servers.pop("XA02").stop()
            await hub.conn.execute(
                "UPDATE hub.site_live SET heard_at = now() - interval '5 minutes' WHERE site_id "
                "= (SELECT id FROM hub.sites WHERE code = 'XA02')")
            await until(pilot, lambda: "MẤT LL" in cells(app, "XA02")[6])
            assert cells(app, "XA02")[6] == "MẤT LL 5 phút" and cells(app, "XA02")[5] == "1"
            assert "1 mất liên lạc" in text(app.query_one("#totals", Static))
            # Enter: the site's departments and counters.
            await pilot.press("home", "enter")
            await until(pilot, lambda: isinstance(app.screen, SiteScreen))
            screen = app.screen
            depts = screen.query_one("#site-departments", DataTable)
            await until(pilot, lambda: depts.row_count > 0)
            tp = [str(getattr(c, "plain", c)) for c in depts.get_row("TP")]
            assert tp[0] == "TP – Sở Tư pháp" and tp[1] == "4"
            counters = screen.query_one("#site-counters", DataTable)
            c1 = [str(getattr(c, "plain", c)) for c in counters.get_row("1")]
            assert c1[1] == "Đang mở" and c1[2] == "Nguyễn Thị Lan"
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, SiteScreen))
            await pilot.press("l")
            await until(pilot, lambda: "Province: 2 sites" in text(app.query_one("#totals")))
            table = app.query_one("#sites", DataTable)
            assert [str(c.label) for c in table.columns.values()][:3] == ["Site", "Waiting",
                                                                          "Served"]
            await until(pilot, lambda: "SILENT" in cells(app, "XA02")[6])
    finally:
        for srv in servers.values():
            await srv.stop()


async def test_a_lost_hub_and_a_wrong_secret_are_shown_not_fatal(hub):
    url = await hub.add_reader()
    wrong = url.replace("@", "x@", 1)
    app = ProvinceApp(wrong, every=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.error is not None)
        status = text(app.query_one("#status", Static))
        assert "Mất kết nối kho dữ liệu tỉnh" in status and "password" in status
        assert app.query_one("#sites", DataTable).row_count == 0
    # Nothing listens there: the same, and the app keeps running.
    dead = "postgresql://x:y@127.0.0.1:9/motcua"
    app = ProvinceApp(dead, every=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.error is not None)
        assert app.is_running


async def test_a_site_credential_sees_only_its_own_live_state(open_config, hub, tmp_path):
    """A site's credential used for the province view: other sites' live
    state and figures stay hidden (row-level security), only names show."""
    a = await hub.add_site("XA01")
    b = await hub.add_site("XA02")
    servers = []
    try:
        for code, url in (("XA01", a), ("XA02", b)):
            srv = MotcuaServer(open_config, tmp_path / f"{code}.db", port=0, hub=url)
            await srv.start()
            srv.shipper.heartbeat_every = 0.2
            servers.append(srv)
        await asyncio.sleep(0)
        deadline = asyncio.get_running_loop().time() + 10
        while await hub.conn.fetchval("SELECT count(*) FROM hub.site_live") < 2:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        app = ProvinceApp(a, every=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: len(app.sites) == 2 and app.sites[0].heard_age is not None)
            assert app.sites[1].heard_age is None and app.sites[1].monitor is None
            assert "chưa liên lạc" in cells(app, "XA02")[6]
    finally:
        for srv in servers:
            await srv.stop()
    conn = await asyncpg.connect(a)
    try:
        assert await conn.fetchval("SELECT count(*) FROM hub.site_live") == 1
    finally:
        await conn.close()
