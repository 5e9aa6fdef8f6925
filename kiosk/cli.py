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


def _dots(text: str) -> int:
    from motcua.printer.options import dots_problem

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of dots, not {text!r}") from None
    problem = dots_problem(value, 80)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


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
    p.add_argument("--paper", type=int, choices=(58, 80), default=None,
                   help="paper width in mm (default: the center's [printer] paper, else 80)")
    p.add_argument("--printer-dots", type=_dots, default=None, metavar="DOTS",
                   help="printable width in dots: 384 (58 mm), 576 (80 mm), 512 for 80 mm "
                        "printers that print 64 mm (default: from the paper)")
    p.add_argument("--qr", choices=("native", "raster"), default=None,
                   help="native: the printer draws the QR code (GS ( k); raster: send it as "
                        "an image, for printers without GS ( k (default: the center's, else "
                        "native)")
    p.add_argument("--image-align", choices=("command", "padded"), default=None,
                   help="padded: for printers that print centered lines at the left edge "
                        "(they ignore ESC a for images)")
    p.add_argument("--no-status-check", dest="check_status", action="store_false",
                   default=None,
                   help="do not ask the printer for its status before printing (a printer "
                        "that never answers is printed on anyway)")
    p.add_argument("--lang", choices=("vi", "en"), default="vi",
                   help="starting language (default vi; citizens can switch)")
    p.add_argument("--home-after", type=_positive, default=15.0, metavar="SECONDS",
                   help="leave the ticket screen after this long (default 15)")
    p.add_argument("--idle-after", type=_positive, default=60.0, metavar="SECONDS",
                   help="return to the start after this long without a touch (default 60)")
    p.add_argument("--log", metavar="FILE", default=os.environ.get("MOTCUA_KIOSK_LOG"),
                   help="write the kiosk's log here (it cannot go to the screen)")
    from motcua.device_options import add_device_options

    add_device_options(p)
    p.set_defaults(func=_run)


def printer_settings(args: argparse.Namespace) -> dict:
    """The printer settings given on the command line (the center's apply to the rest)."""
    if args.paper is not None and args.printer_dots is not None:
        from motcua.printer.options import dots_problem

        problem = dots_problem(args.printer_dots, args.paper)
        if problem:
            raise SystemExit(f"motcua kiosk: --printer-dots {problem}")
    given = {"dots": args.printer_dots, "qr": args.qr, "image_align": args.image_align,
             "check_status": args.check_status}
    return {k: v for k, v in given.items() if v is not None}


def _run(args: argparse.Namespace) -> int:
    from motcua.tui import quiet_terminal_logging

    from motcua.device_options import apply_device_options, client_options

    from .app import KioskApp

    apply_device_options(args)
    app = KioskApp(args.url, args.token, args.device, args.printer, args.paper, args.lang,
                   home_after=args.home_after, idle_after=args.idle_after,
                   printer_settings=printer_settings(args),
                   client_options=client_options(args))
    with quiet_terminal_logging(args.log):
        app.run()
    return 0
