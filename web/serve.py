"""The waiting-room display and the kiosk in a browser, through textual-serve.

A TV with only a browser opens ``http://<host>:8080/`` and gets the very same
Textual display (each browser runs its own ``motcua display`` process on
this machine); a touch-screen PC with only a browser gets the kiosk. Our own
page template replaces textual-serve's: a TV-sized default font, the
terminal font served locally (textual-serve's page fetches one from the
internet, which fails at an offline center), and a page that restarts its
session by itself when it ends.
"""

from __future__ import annotations

import shlex
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import textual_serve
from aiohttp import web
from textual_serve.server import Server

#: Default font sizes (CSS px): a 1080p TV across a room, a touch screen at arm's length.
FONT_SIZES = {"display": 24, "kiosk": 20}
TITLES = {"display": "motcua — màn hình phòng chờ", "kiosk": "motcua — lấy số thứ tự"}
NOTES = {"display": "Đang kết nối màn hình phòng chờ…", "kiosk": "Đang khởi động kiosk…"}


def app_command(app: str, url: str, extra: list[str]) -> str:
    """The shell command textual-serve runs for each browser."""
    args = [sys.executable, "-m", "motcua.cli", app, "--url", url]
    if app == "display" and not any(a.startswith("--voice") for a in extra):
        # espeak-ng would speak on this machine, not at the TV.
        args += ["--voice", "off"]
    return " ".join(shlex.quote(a) for a in [*args, *extra])


class BrowserServer(Server):
    """textual-serve's server with our page."""

    def __init__(self, app: str, command: str, *, host: str, port: int, font_size: int,
                 public_url: str | None = None) -> None:
        statics = Path(textual_serve.__file__).parent / "static"
        templates = Path(str(resources.files("motcua.web").joinpath("templates")))
        super().__init__(command, host=host, port=port, title=TITLES[app],
                         public_url=public_url, statics_path=statics,
                         templates_path=templates)
        self.app_name = app
        self.font_size = font_size

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        try:
            size = int(request.query.get("fontsize", self.font_size))
        except ValueError:
            size = self.font_size
        router = request.app.router
        static = self.public_url + str(router["static"].url_for(filename="/")).rstrip("/") + "/"
        ws_url = self.public_url + str(router["websocket"].url_for())
        ws_url = ("wss:" if ws_url.startswith("https:") else "ws:") + ws_url.split(":", 1)[1]
        return {"font_size": max(8, min(size, 96)), "app_websocket_url": ws_url,
                "config": {"static": {"url": static}}, "application": {"name": self.title},
                "note": NOTES[self.app_name], "reload_ms": 5000}

    async def make_app(self) -> web.Application:
        """The aiohttp application (for tests that run it in their own loop)."""
        return await self._make_app()
