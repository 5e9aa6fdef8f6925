"""Headless Chromium driven over the DevTools protocol, for the browser tests.

Why this and not Playwright: the project is Python and already depends on
websockets, which is all a DevTools client needs; Playwright would bring
Node.js and an npm tree to every CI machine for the same few calls
(navigate, evaluate, screenshot, read the network). Debian's ``chromium``
package is the browser (``.ci/run`` installs it).

Only what the tests use: pages with a device size, ``evaluate``, waiting for
a condition in the page, screenshots, the bytes each response took on the
wire, and the websocket frames a page received.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--no-default-browser-check", "--disable-extensions", "--mute-audio",
         "--autoplay-policy=no-user-gesture-required"]


def chromium_path() -> str | None:
    """Chromium's executable (``MOTCUA_CHROMIUM`` overrides), or None."""
    return os.environ.get("MOTCUA_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser") or shutil.which("google-chrome")


def require_chromium() -> str:
    """Chromium, or a loud skip (a failure under CI, where .ci/run installs it)."""
    path = chromium_path()
    if path is None:
        msg = ("headless Chromium is not installed: the browser tests did NOT run "
               "(apt-get install -y chromium, or set MOTCUA_CHROMIUM)")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


class Page:
    """One tab."""

    def __init__(self, browser: "Browser", session: str) -> None:
        self.browser = browser
        self.session = session
        self.events: list[dict[str, Any]] = []
        self._load = asyncio.Event()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.send(method, params, self.session)

    def _event(self, msg: dict[str, Any]) -> None:
        self.events.append(msg)
        if msg["method"] == "Page.loadEventFired":
            self._load.set()
        elif msg["method"] == "Page.javascriptDialogOpening":
            # confirm() answered "OK", as the citizen would.
            asyncio.ensure_future(self.send("Page.handleJavaScriptDialog", accept=True))

    async def goto(self, url: str, timeout: float = 15) -> None:
        self._load.clear()
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(self._load.wait(), timeout)

    async def evaluate(self, expression: str) -> Any:
        res = await self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                              awaitPromise=True)
        if "exceptionDetails" in res:
            raise AssertionError(f"page error: {res['exceptionDetails']}")
        return res["result"].get("value")

    async def text(self, selector: str) -> str:
        return await self.evaluate(
            f"(document.querySelector({json.dumps(selector)})||{{}}).innerText||''")

    async def wait_for(self, expression: str, timeout: float = 10) -> Any:
        """Poll a JavaScript expression until it is truthy."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if loop.time() > end:
                raise AssertionError(f"not true within {timeout}s: {expression}")
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> Path:
        res = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(res["data"]))
        return path

    def transferred(self) -> dict[str, int]:
        """Bytes on the wire per URL (headers and body, as Chromium counts)."""
        urls = {e["params"]["requestId"]: e["params"]["response"]["url"]
                for e in self.events if e["method"] == "Network.responseReceived"}
        return {urls.get(e["params"]["requestId"], e["params"]["requestId"]):
                int(e["params"]["encodedDataLength"])
                for e in self.events if e["method"] == "Network.loadingFinished"}

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]

    def frames_received(self) -> list[str]:
        """Payloads of websocket frames the page received (binary ones decoded)."""
        out = []
        for e in self.events:
            if e["method"] == "Network.webSocketFrameReceived":
                r = e["params"]["response"]
                data = r["payloadData"]
                out.append(base64.b64decode(data).decode("utf-8", "replace")
                           if r.get("opcode") == 2 else data)
        return out

    def console_errors(self) -> list[str]:
        return [json.dumps(e["params"]) for e in self.events
                if e["method"] in ("Runtime.exceptionThrown", "Log.entryAdded")
                and (e["method"] == "Runtime.exceptionThrown"
                     or e["params"]["entry"].get("level") == "error")]


class Browser:
    """A headless Chromium with a fresh profile, driven over DevTools."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.ws: Any = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self.pages: dict[str, Page] = {}
        self._reader: asyncio.Task | None = None
        self._profile = tempfile.TemporaryDirectory(prefix="motcua-chromium-")

    @classmethod
    async def launch(cls) -> "Browser":
        exe = require_chromium()
        b = cls()
        profile = Path(b._profile.name)
        b.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and len(port_file.read_text().splitlines()) >= 2:
                break
            if b.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {b.proc.returncode}")
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        b.ws = await connect(f"ws://127.0.0.1:{port}{path}", max_size=None, ping_interval=None)
        b._reader = asyncio.create_task(b._read())
        return b

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if "id" in msg:
                fut = self._waiting.pop(msg["id"], None)
                if fut is not None and not fut.done():
                    if "error" in msg:
                        fut.set_exception(RuntimeError(f"{msg['error']}"))
                    else:
                        fut.set_result(msg.get("result", {}))
            elif "sessionId" in msg and msg["sessionId"] in self.pages:
                self.pages[msg["sessionId"]]._event(msg)

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   session: str | None = None) -> dict[str, Any]:
        n = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[n] = fut
        msg: dict[str, Any] = {"id": n, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        await self.ws.send(json.dumps(msg))
        return await asyncio.wait_for(fut, 30)

    async def new_page(self, width: int, height: int, *, mobile: bool = False,
                       scale: float = 1, network: str | None = None) -> Page:
        """A tab of this size; ``mobile`` emulates a phone (touch, viewport);
        ``network="3g"`` throttles it like a weak mobile link."""
        target = (await self.send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        session = (await self.send("Target.attachToTarget",
                                   {"targetId": target, "flatten": True}))["sessionId"]
        page = Page(self, session)
        self.pages[session] = page
        for domain in ("Page", "Runtime", "Network", "Log"):
            await page.send(f"{domain}.enable")
        await page.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=scale, mobile=mobile)
        if mobile:
            await page.send("Emulation.setTouchEmulationEnabled", enabled=True)
        if network == "3g":
            # Chrome's "Slow 3G"-like figures: 400 ms latency, ~50 KB/s.
            await page.send("Network.emulateNetworkConditions", offline=False, latency=400,
                            downloadThroughput=50 * 1024, uploadThroughput=25 * 1024)
        await page.send("Network.setCacheDisabled", cacheDisabled=True)
        return page

    async def close(self) -> None:
        try:
            if self.ws is not None:
                await self.send("Browser.close")
        except Exception:  # noqa: BLE001 - it is going away anyway
            pass
        if self._reader is not None:
            self._reader.cancel()
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._profile.cleanup()
