"""``motcua print-preview``: a PNG of the ticket a kiosk of this center prints.

The ticket goes through the kiosk's own path: the center file (``--config``)
is loaded as the server loads it, the queue core issues the number (people
ahead, wait estimate, time in the center's time zone, QR payload), the kiosk
builds the slip from that reply, and the printer code turns it into ESC/POS
bytes.  The PNG is drawn from those bytes.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Callable

from .emulator import draw
from .options import PrinterOptions
from .ticket import TicketSlip, ticket_bytes

#: Serial line speeds the preview reports transfer times for (8N1: 10 bits a byte).
BAUDS = (9600, 115200)


def preview_slip(config_path: str | None = None, language: str = "vi", *,
                 department: str | None = None, procedure: str | None = None,
                 priority: str | None = None, ahead: int = 7,
                 clock: Callable[[], datetime] | None = None) -> tuple[TicketSlip, dict]:
    """The slip a kiosk of the center in ``config_path`` prints now, and the center's public config.

    ``department`` defaults to the first open one, ``procedure`` to its first;
    ``ahead`` tickets are issued before it so the wait line is realistic.
    Raises ConfigError for a bad center file and ValueError for an unknown code.
    """
    from motcua.i18n import Catalogue
    from motcua.kiosk.model import IssuedTicket
    from motcua.kiosk.slip import build_slip
    from motcua.kiosk.strings import EN, VI
    from motcua.server.app import always_open
    from motcua.server.config import load_config
    from motcua.server.core import QueueCore

    config = always_open(load_config(config_path))  # a preview at 03:15 must work too
    dept = config.department(department) if department else next(
        (d for d in config.departments if d.open), config.departments[0])
    if dept is None:
        raise ValueError(f"no department {department!r} in the center file")
    if not dept.open:
        raise ValueError(f"department {dept.code!r} is closed in the center file")
    if procedure is None and dept.procedures:
        procedure = dept.procedures[0].code
    core = QueueCore(config, clock or (lambda: datetime.now(timezone.utc)))
    for _ in range(max(0, ahead)):
        core.issue(dept.code)
    reply = core.issue(dept.code, procedure, priority, device="print-preview").result
    public = config.public()
    slip = build_slip(public, IssuedTicket.from_reply(reply), Catalogue(VI, EN, language))
    return slip, public


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``motcua print-preview``."""
    parser.add_argument("--out", default="ticket.png", help="PNG file to write (default ticket.png)")
    parser.add_argument("--config", help="center TOML file (default: built-in sample center)")
    parser.add_argument("--lang", choices=("vi", "en"), default="vi",
                        help="the citizen's language (default vi)")
    parser.add_argument("--department", help="department code (default: the first open one)")
    parser.add_argument("--procedure", help="procedure code (default: the department's first)")
    parser.add_argument("--priority", help="priority group code (default: none)")
    parser.add_argument("--ahead", type=int, default=7, help="people ahead (default 7)")
    parser.add_argument("--paper", type=int, choices=(58, 80), default=None,
                        help="paper width in mm (default: the center's, else 80)")
    parser.add_argument("--printer-dots", type=int, default=None, metavar="DOTS",
                        help="printable width in dots (default: from the paper)")
    parser.add_argument("--qr", choices=("native", "raster"), default=None)
    parser.add_argument("--image-align", choices=("command", "padded"), default=None)
    parser.add_argument("--escpos", metavar="FILE",
                        help="also write the ESC/POS bytes (e.g. to cat onto a printer)")


def run(args: argparse.Namespace) -> int:
    """Write the preview the parsed ``args`` ask for; prints where and how big."""
    from motcua.server.config import ConfigError
    from motcua.server.core import QueueError

    try:
        slip, center = preview_slip(args.config, args.lang, department=args.department,
                                    procedure=args.procedure, priority=args.priority,
                                    ahead=args.ahead)
        options = PrinterOptions.from_settings(
            center.get("printer"), {"paper": args.paper, "dots": args.printer_dots,
                                    "qr": args.qr, "image_align": args.image_align})
    except ConfigError as e:
        print(f"Cấu hình không hợp lệ / invalid configuration ({e.source}):")
        for path, msg in e.errors:
            print(f"  {path or '(file)'}: {msg}")
        return 2
    except (ValueError, QueueError) as e:
        print(f"motcua print-preview: {e}")
        return 2
    data = ticket_bytes(slip, options)
    draw(data, options.width).save(args.out, format="PNG")
    if args.escpos:
        with open(args.escpos, "wb") as f:
            f.write(data)
    times = ", ".join(f"{len(data) * 10 / baud:.1f} s at {baud:,} baud" for baud in BAUDS)
    print(f"wrote {args.out}: {slip.number}, {options.paper_mm} mm paper, {options.width} dots, "
          f"QR {options.qr}; {len(data):,} bytes ({times})")
    return 0


def main_preview(argv: list[str] | None = None) -> int:
    """Command-line entry: ``print-preview [--config center.toml] [--out ticket.png] …``."""
    parser = argparse.ArgumentParser(prog="motcua print-preview",
                                     description="Write a PNG of the ticket a kiosk prints.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


__all__ = ["BAUDS", "add_arguments", "main_preview", "preview_slip", "run"]
