"""Apps that run all day keep what they hold in memory bounded.

Each test drives an app with many server events (or the change that grew it)
and checks that the structure that used to grow with them stays the size of
what is on screen. The RSS figures over a whole day are in bench/bench_apps.py.
"""

from __future__ import annotations

import gc

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets._footer import FooterKey

from conftest import TOKENS, wait_for
from motcua.client import MotcuaClient
from motcua.counter.app import CounterConsole
from motcua.monitor.app import MonitorApp
from motcua.tui import Footer


def live(kind: type) -> int:
    """How many objects of ``kind`` are alive (reachable or not yet collected)."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is kind)


class Keys(App[None]):
    BINDINGS = [Binding("f1", "one", "One"), Binding("f2", "two", "Two"),
                Binding("f3", "three", "Three")]

    def compose(self) -> ComposeResult:
        yield Footer(compact=True)


async def test_the_footer_keeps_no_keys_it_removed():
    app = Keys()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for _ in range(40):
            app.refresh_bindings()  # the footer rebuilds its keys
            await pilot.pause()
        await pilot.pause()
        shown = len(app.query(FooterKey))
        assert shown >= 3
        assert live(FooterKey) == shown


async def test_the_console_at_the_login_screen_does_not_grow_with_events(harness):
    client = MotcuaClient(harness.url, "counter", "console-1", TOKENS["counter"], counter=1)
    app = CounterConsole(client, 1, clock=harness.clock.time)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: app.connected and app.state.counters)
        await pilot.pause()
        keys = live(FooterKey)
        kiosk = await harness.client("kiosk")
        desk = await harness.client("counter", "desk-2", counter=2)
        await desk.request("login", officer="cb02", pin="1234")
        seq = client.seq
        for i in range(30):
            await kiosk.request("issue", department="TP", request_id=f"mem-{i}")
            await desk.request("pause", reason="Nghỉ")
            await desk.request("resume")
        await wait_for(lambda: client.seq >= seq + 60, 10)
        await pilot.pause()
        await pilot.pause()
        # Nothing the footer shows changed (the officer is not logged in): the
        # keys are the same ones, and none left over from rebuilds.
        assert live(FooterKey) == len(app.query(FooterKey)) == keys


async def test_the_monitor_tables_keep_no_stale_renders(harness):
    app = MonitorApp(harness.url, TOKENS["admin"], clock=harness.clock.time)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.connected and app.model.day)
        kiosk = await harness.client("kiosk")
        desk = await harness.client("counter", "desk-1", counter=1)
        await desk.request("login", officer="cb01", pin="1234")
        for i in range(40):
            await kiosk.request("issue", department="TP", request_id=f"mon-{i}")
            if i:
                await desk.request("finish")
            await desk.request("call_next")  # a new number on counter 1's row
            await pilot.pause(0.05)
            app.redraw()  # what the redraw timer does each second
            await pilot.pause()
            app.export_screenshot()  # a whole frame rendered, as a terminal gets it
        for table in app.query(DataTable).results(DataTable):
            cells = max(1, table.row_count) * len(table.columns)
            # Renders are cached per cell (and cursor/hover state): a screenful,
            # not one set per change.
            assert len(table._cell_render_cache) <= 2 * cells, table.id
