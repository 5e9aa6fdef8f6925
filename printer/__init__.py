"""Ticket printing for motcua kiosks: ESC/POS thermal printers with Vietnamese text.

Public API:

- :class:`TicketSlip` — what goes on a ticket.
- :class:`PrinterOptions` — paper, printable width, QR mode, status check.
- :func:`ticket_bytes` / :func:`ticket_chunks` — the ticket as ESC/POS bytes.
- :func:`render` — send a ticket to any python-escpos printer object.
- :func:`write_png` / :func:`ticket_image` — picture of the ticket, drawn from its bytes.
- :func:`open_printer` / :func:`parse_printer_spec` — connection from a spec string.
- :func:`print_ticket` → :class:`PrintResult` — blocking, never raises for printer faults.
- :func:`check_status` → :class:`PrinterStatus` — DLE EOT, "unknown" when unanswered.
- :func:`find_font` — the Vietnamese-capable font (``MOTCUA_FONT`` overrides).
"""

from .connection import (
    PrinterSpec,
    PrinterStatus,
    PrintResult,
    check_status,
    open_printer,
    parse_printer_spec,
    print_ticket,
)
from .fonts import VIETNAMESE_LETTERS, find_font, missing_vietnamese_glyphs, strip_diacritics
from .options import PrinterOptions
from .ticket import (
    TicketSlip,
    render,
    ticket_bytes,
    ticket_chunks,
    ticket_image,
    warm_up,
    write_png,
)

__all__ = [
    "PrintResult",
    "PrinterOptions",
    "PrinterSpec",
    "PrinterStatus",
    "TicketSlip",
    "VIETNAMESE_LETTERS",
    "check_status",
    "find_font",
    "missing_vietnamese_glyphs",
    "open_printer",
    "parse_printer_spec",
    "print_ticket",
    "render",
    "strip_diacritics",
    "ticket_bytes",
    "ticket_chunks",
    "ticket_image",
    "warm_up",
    "write_png",
]
