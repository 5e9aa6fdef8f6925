"""``motcua web display|kiosk``: serve the display or the kiosk to a browser."""

from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``web`` subcommand to the ``motcua`` command."""
    p = sub.add_parser(
        "web", help="màn hình phòng chờ / kiosk trong trình duyệt / display or kiosk in a browser",
        description="Serve the waiting-room display (for a TV with only a browser) or the "
                    "kiosk (for a touch-screen PC with only a browser) through textual-serve. "
                    "Arguments after the options go to the app, e.g. "
                    "`motcua web display -- --departments TP,KHDT`.")
    p.add_argument("app", choices=("display", "kiosk"))
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (0.0.0.0 for the center's network)")
    p.add_argument("--port", type=int, default=None, help="port (display 8080, kiosk 8081)")
    p.add_argument("--url", default=os.environ.get("MOTCUA_URL", "ws://127.0.0.1:8765"),
                   help="the queue server (default ws://127.0.0.1:8765)")
    p.add_argument("--font-size", type=int, default=None,
                   help="terminal font size in px (display 24, kiosk 20; ?fontsize=N overrides)")
    p.add_argument("--public-url", default=None,
                   help="the address browsers use, if not http://HOST:PORT")
    p.add_argument("app_args", nargs=argparse.REMAINDER, help="options for the app")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .serve import FONT_SIZES, BrowserServer, app_command

    extra = [a for a in args.app_args if a != "--"]
    port = args.port or (8080 if args.app == "display" else 8081)
    server = BrowserServer(args.app, app_command(args.app, args.url, extra), host=args.host,
                           port=port, font_size=args.font_size or FONT_SIZES[args.app],
                           public_url=args.public_url)
    server.serve()
    return 0
