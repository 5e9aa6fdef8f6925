"""The display served to a browser through textual-serve, which runs it under
Textual's web driver: a child process talking packets on stdin/stdout.

Found: a headless Chromium that closed within a second left `motcua display`
processes spinning at 30–50 % CPU, deaf to SIGTERM. The browser had sent two
sizes (88×25, then 88×33) and "quit" while the display was still mounting;
its screen then held resizes to both sizes, each one re-posted the other, and
a screen's message loop never yields while its queue is full. These tests
replay what textual-serve sent, byte for byte, against a real server.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import pytest

#: What textual-serve sent when Chromium opened the page and closed it at once.
BROWSER_SIZES = [(88, 25), (88, 33)]


def _packet(meta: dict) -> bytes:
    payload = json.dumps(meta).encode()
    return b"M" + len(payload).to_bytes(4, "big") + payload


async def _served_display(url: str):
    """Start `motcua display` the way textual-serve does (web driver, pipes)."""
    env = dict(os.environ, TEXTUAL_DRIVER="textual.drivers.web_driver:WebDriver",
               TEXTUAL_FPS="60", TEXTUAL_COLOR_SYSTEM="truecolor", TERM_PROGRAM="textual",
               COLUMNS=str(BROWSER_SIZES[0][0]), ROWS=str(BROWSER_SIZES[0][1]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "motcua.cli", "display", "--voice", "off", "--url", url,
        "--device", "tv-browser", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env)

    started = asyncio.Event()

    async def drain() -> None:  # textual-serve keeps reading the app's output
        assert proc.stdout is not None
        seen = b""
        while chunk := await proc.stdout.read(65536):
            if not started.is_set():
                seen += chunk
                if b"__GANGLION__" in seen:  # the web driver's "application mode" mark
                    started.set()

    proc.started = started  # type: ignore[attr-defined]
    return proc, asyncio.create_task(drain())


async def _browser_opens_and_closes(proc, end: str) -> None:
    """Two sizes as the page lays out, then the browser goes: "quit" from
    textual-serve, or SIGTERM from whoever stops the service."""
    assert proc.stdin is not None
    for i, (width, height) in enumerate(BROWSER_SIZES):
        proc.stdin.write(_packet({"type": "resize", "width": width, "height": height}))
        await proc.stdin.drain()
        await asyncio.sleep(0.08 if i == 0 else 0.17)
    if end == "quit":
        proc.stdin.write(_packet({"type": "quit"}))
        await proc.stdin.drain()
    else:
        # The signal must land once the driver listens for it, as it mounts.
        await asyncio.wait_for(proc.started.wait(), 20)
        proc.send_signal(signal.SIGTERM)


@pytest.mark.parametrize("end", ["quit", "sigterm"])
async def test_a_browser_that_closes_at_once_leaves_no_display_behind(harness, end):
    proc, drain = await _served_display(harness.url)
    try:
        await _browser_opens_and_closes(proc, end)
        try:
            code = await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            pytest.fail(f"the display kept running after {end!r} (spinning in a resize loop)")
        assert code == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        drain.cancel()


async def test_a_display_left_open_settles_and_stops_on_sigterm(harness):
    """The same sizes with the browser staying: the display settles (it
    answers the server like any display) and a SIGTERM ends it."""
    proc, drain = await _served_display(harness.url)
    try:
        assert proc.stdin is not None
        for width, height in BROWSER_SIZES:
            proc.stdin.write(_packet({"type": "resize", "width": width, "height": height}))
            await proc.stdin.drain()
            await asyncio.sleep(0.08)
        from conftest import wait_for
        await wait_for(lambda: harness.server.conns["display"], 20)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        drain.cancel()
