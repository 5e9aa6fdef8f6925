"""`motcua demo`: the server and simulated people start, and a waiting-room
display shows a call within seconds."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from conftest import wait_for
from motcua.display.app import DisplayApp, DisplayOptions
from motcua.demo import HUMAN_COUNTER, start_backend


async def test_demo_shows_a_call_within_seconds(tmp_path):
    backend = await start_backend(tmp_path / "demo.db", speed=60)
    try:
        app = DisplayApp(DisplayOptions(url=backend.url, voice="off"))
        async with app.run_test(size=(160, 45)) as pilot:
            await wait_for(lambda: app.connected, 10)
            await wait_for(lambda: app.shown_call()[0] != "", 30)
            await pilot.pause()
            number, counter = app.shown_call()
            assert number[0].isalpha() and len(number) == 4
            assert int(counter) != HUMAN_COUNTER  # counter 1 is left to the person
    finally:
        await backend.stop()
    with sqlite3.connect(tmp_path / "demo.db") as db:
        called = db.execute("SELECT count(*) FROM events WHERE type='ticket_called'").fetchone()[0]
    assert called >= 1


def test_demo_without_tmux_prints_the_app_commands(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "motcua.cli", "demo", "--no-tmux"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, cwd=tmp_path)
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl+C" in line:
                break
        text = "".join(lines)
        for app in ("display --url ws://127.0.0.1:", "kiosk --url", "counter --url"):
            assert app in text, text
    finally:
        proc.terminate()
        proc.wait(10)
