"""`motcua demo`: the server and simulated people start, and a waiting-room
display shows a call within seconds; in tmux it lays the apps out for the
terminal it has, and it cleans up after itself."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import wait_for
from motcua.display.app import DisplayApp, DisplayOptions
from motcua.demo import SPLIT_MIN, HUMAN_COUNTER, start_backend, tmux_plan


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


def test_demo_without_tmux_prints_the_app_commands_and_removes_its_folder(tmp_path):
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
        assert "Asia/Ho_Chi_Minh" in text  # its log's times are the center's
        folder = Path(re.search(r"(/\S*motcua-demo-\w+)/demo\.db", text).group(1))
        assert folder.is_dir()
    finally:
        proc.terminate()
        proc.wait(10)
    # Found: every demo left its /tmp/motcua-demo-* folder behind.
    assert proc.returncode == 0 and not folder.exists()


APPS = {"display": "D", "kiosk": "K", "counter": "C"}
TITLES = {"server": "server", "display": "display", "kiosk": "kiosk", "counter": "counter"}


@pytest.mark.parametrize("size", [(80, 23), (120, 40), (160, 44), (200, 49)])
def test_small_terminals_get_one_window_per_app(size):
    """Found at 80×24: panes of 30×8 and 1 line, the login box cut off."""
    layout, steps = tmux_plan("s", size, "SERVER", APPS, TITLES)
    assert layout == "windows"
    created = [args for made, args in steps if made in APPS]
    assert [a[0] for a in created] == ["new-window"] * 3  # each app gets the whole window
    assert not any(args[0] == "split-window" for _, args in steps)


def test_a_large_terminal_is_split_so_every_app_gets_80x24():
    layout, steps = tmux_plan("s", SPLIT_MIN, "SERVER", APPS, TITLES)
    assert layout == "split"
    titled = {args[args.index("-t") + 1]: args[-1] for _, args in steps
              if args[0] == "select-pane" and "-T" in args}
    assert titled == {"{server}": "server", "{display}": "display", "{counter}": "counter",
                      "{kiosk}": "kiosk"}


class TmuxClient:
    """A private tmux server (its own socket) with a client attached in a
    pseudo-terminal, as a person's terminal would be."""

    def __init__(self, tmux: str, socket: str, size: tuple[int, int]) -> None:
        import fcntl
        import pty
        import struct
        import termios
        import threading

        self.tmux, self.socket = tmux, socket
        self.run("-f", "/dev/null", "new-session", "-d", "-s", "outer", "-x", str(size[0]),
                 "-y", str(size[1]), "sh")
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.client = subprocess.Popen([tmux, "-L", socket, "attach", "-t", "outer"],
                                       stdin=slave, stdout=slave, stderr=slave,
                                       env=dict(os.environ, TERM="xterm-256color"),
                                       start_new_session=True)
        os.close(slave)
        self.master = master

        def drain() -> None:
            while True:
                try:
                    if not os.read(master, 65536):
                        return
                except OSError:
                    return
        threading.Thread(target=drain, daemon=True).start()

    def run(self, *args: str) -> str:
        return subprocess.run([self.tmux, "-L", self.socket, *args], capture_output=True,
                              text=True).stdout

    def wait(self, predicate, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise AssertionError("condition not met in time")
            time.sleep(0.2)

    def close(self) -> None:
        self.run("kill-server")
        if self.client.poll() is None:
            self.client.kill()
        self.client.wait(5)
        os.close(self.master)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.parametrize("size, layout", [((80, 24), "windows"), ((170, 52), "split")])
def test_demo_inside_tmux_switches_to_its_own_session_and_leaves_nothing(tmp_path, size,
                                                                        layout):
    """Found: inside tmux it printed "sessions should be nested with care" and
    left a detached session running."""
    tmux = TmuxClient(shutil.which("tmux"), f"motcua-test-{os.getpid()}-{size[0]}", size)
    try:
        tmux.wait(lambda: "outer" in tmux.run("list-clients", "-F", "#{client_session}"))
        cmd = f"cd {tmp_path} && {sys.executable} -m motcua.cli demo --seed t 2>&1 | tee out.txt"
        tmux.run("send-keys", "-t", "outer", cmd, "Enter")
        tmux.wait(lambda: "motcua-demo-" in tmux.run("list-clients", "-F", "#{client_session}"))
        session = tmux.run("list-clients", "-F", "#{client_session}").strip()
        assert "nested" not in (tmp_path / "out.txt").read_text()
        panes = [line.split("\t") for line in tmux.run(
            "list-panes", "-s", "-t", session,
            "-F", "#{pane_title}\t#{pane_width}\t#{pane_height}").splitlines()]
        titles = {title.split(" /")[0].split(" (")[0] for title, _, _ in panes}
        if layout == "split":
            assert len(panes) == 4 and {"màn hình", "kiosk", "máy chủ"} <= titles
        else:
            windows = tmux.run("list-windows", "-t", session, "-F", "#{window_name}")
            assert len(windows.splitlines()) == 4 and "kiosk" in windows
        for title, width, height in panes:
            if "server" not in title:
                assert int(width) >= 80 and int(height) >= 23, (title, width, height)
        tmux.wait(lambda: "mời số" in "".join(tmux.run("capture-pane", "-p", "-t", pane)
                                              for pane in tmux.run(
                                                  "list-panes", "-s", "-t", session, "-F",
                                                  "#{pane_id}").split()), 60)
        # Ctrl+C in the server's pane ends the demo: its session goes, the
        # client is back where it came from, the temporary folder is gone.
        server = next(line.split("\t")[0] for line in tmux.run(
            "list-panes", "-s", "-t", session, "-F", "#{pane_id}\t#{pane_title}\t#{window_name}"
        ).splitlines() if "server" in line)
        data = re.search(r"database (\S+)/demo\.db",
                         tmux.run("capture-pane", "-p", "-J", "-t", server))
        tmux.run("send-keys", "-t", server, "C-c")
        tmux.wait(lambda: session not in tmux.run("list-sessions", "-F", "#{session_name}"))
        assert tmux.run("list-clients", "-F", "#{client_session}").strip() == "outer"
        assert data is not None
        tmux.wait(lambda: not Path(data.group(1)).exists(), 10)
    finally:
        tmux.close()
