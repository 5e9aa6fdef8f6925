"""The kiosk, display and rating pad are public devices: nothing a citizen
types may quit them, open a menu or show English developer text. The
operator stops them from outside (SIGTERM), and they leave cleanly.

Run as a person would: the real command in a real pseudo-terminal (80×24),
keys typed as bytes, against a real server.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading

import pytest

CTRL_Q, CTRL_C, CTRL_P = b"\x11", b"\x03", b"\x10"


class Terminal:
    """A command in a pseudo-terminal; everything it draws is collected."""

    def __init__(self, args: list[str], size: tuple[int, int] = (80, 24)) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(size[0]),
                   LINES=str(size[1]))
        env.pop("TEXTUAL_DRIVER", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "motcua.cli", *args], stdin=slave,
                                     stdout=slave, stderr=slave, env=env, close_fds=True,
                                     start_new_session=True)
        os.close(slave)
        self.output = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def text(self) -> str:
        return self.output.decode("utf-8", "replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


async def until(predicate, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("app, args, ready_text", [
    ("kiosk", [], "Mời công dân"),
    ("display", ["--voice", "off"], "MỜI CÔNG DÂN"),
    ("rate", ["--counter", "1"], "Kính chào công dân"),
])
async def test_quit_keys_do_nothing_and_sigterm_stops_it_cleanly(harness, app, args,
                                                                 ready_text):
    term = Terminal([app, "--url", harness.url, *args])
    try:
        await until(lambda: ready_text in term.text())
        role = {"rate": "rating"}.get(app, app)
        await until(lambda: any(s.role == role for s in harness.server.sessions.values()))
        for key in (CTRL_Q, CTRL_C, CTRL_P, b"q"):
            term.type(key)
            await asyncio.sleep(0.3)
        await asyncio.sleep(0.5)
        assert term.proc.poll() is None, "a key typed on the device ended it"
        shown = term.text()
        for english in ("Quit", "quit", "palette", "Screenshot", "Theme", "Press"):
            assert english not in shown, english
        drawn = len(term.output)
        term.proc.send_signal(signal.SIGTERM)
        await until(lambda: term.proc.poll() is not None, 15)
        assert term.proc.returncode == 0
        # It left the alternate screen: the operator's terminal is usable again.
        assert b"\x1b[?1049l" in term.output[drawn:]
    finally:
        term.close()
