"""``motcua kiosk``: run the ticket kiosk in this terminal."""

from __future__ import annotations

import argparse
import os

DEFAULT_URL = "ws://127.0.0.1:8765"


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _printer(text: str) -> str:
    # Checked here so a typo fails at start, not at the first citizen's ticket.
    from motcua.printer import parse_printer_spec

    try:
        parse_printer_spec(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``kiosk`` subcommand."""
    p = sub.add_parser("kiosk", help="kiosk lấy số / ticket kiosk (touch screen + printer)")
    p.add_argument("--url", default=os.environ.get("MOTCUA_URL", DEFAULT_URL),
                   help=f"server address (default {DEFAULT_URL})")
    p.add_argument("--token", default=os.environ.get("MOTCUA_KIOSK_TOKEN", "kiosk-demo"),
                   help="the center's kiosk token ([devices] kiosk in the center file)")
    p.add_argument("--device", default=os.environ.get("MOTCUA_DEVICE", "kiosk-1"),
                   help="this kiosk's name, as staff see it in printer alerts")
    p.add_argument("--printer", default=os.environ.get("MOTCUA_PRINTER", "none"), type=_printer,
                   help="none | file:/dev/usb/lp0 | tcp:HOST[:PORT] | usb:VVVV:PPPP | "
                        "serial:/dev/ttyUSB0 (default none)")
    p.add_argument("--paper", type=int, choices=(58, 80), default=80,
                   help="paper width in mm (default 80)")
    p.add_argument("--lang", choices=("vi", "en"), default="vi",
                   help="starting language (default vi; citizens can switch)")
    p.add_argument("--home-after", type=_positive, default=15.0, metavar="SECONDS",
                   help="leave the ticket screen after this long (default 15)")
    p.add_argument("--idle-after", type=_positive, default=60.0, metavar="SECONDS",
                   help="return to the start after this long without a touch (default 60)")
    p.add_argument("--log", metavar="FILE", default=os.environ.get("MOTCUA_KIOSK_LOG"),
                   help="write the kiosk's log here (it cannot go to the screen)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from motcua.tui import quiet_terminal_logging

    from .app import KioskApp

    app = KioskApp(args.url, args.token, args.device, args.printer, args.paper, args.lang,
                   home_after=args.home_after, idle_after=args.idle_after)
    with quiet_terminal_logging(args.log):
        app.run()
    return 0
