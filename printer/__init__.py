"""Ticket printing for motcua kiosks: ESC/POS thermal printers with Vietnamese text.

Public API:

- :class:`TicketSlip` — what goes on a ticket.
- :func:`render` — send a ticket to any python-escpos printer object.
- :func:`write_png` / :func:`ticket_image` — picture of the ticket (setup, docs).
- :func:`open_printer` / :func:`parse_printer_spec` — connection from a spec string.
- :func:`print_ticket` → :class:`PrintResult` — blocking, never raises for printer faults.
- :func:`find_font` — the Vietnamese-capable font (``MOTCUA_FONT`` overrides).
"""

from .connection import (
    PrintResult,
    PrinterSpec,
    check_status,
    open_printer,
    parse_printer_spec,
    print_ticket,
)
from .fonts import VIETNAMESE_LETTERS, find_font, missing_vietnamese_glyphs, strip_diacritics
from .ticket import LABELS, TicketSlip, render, ticket_image, write_png

__all__ = [
    "LABELS",
    "PrintResult",
    "PrinterSpec",
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
    "ticket_image",
    "write_png",
]
