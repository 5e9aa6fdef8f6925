"""Choosing and opening the printer connection, and printing a ticket safely.

One configuration string (``spec``) chooses the connection:

=====================================  ==========================================
``none``                               no printer (print_ticket succeeds, prints nothing)
``dummy``                              python-escpos Dummy (keeps bytes in memory; tests)
``file:/dev/usb/lp0`` or ``/dev/...``  a device node or file written directly
``tcp:HOST[:PORT]`` or ``HOST:PORT``   network printer, raw TCP (port 9100 by default)
``usb:VVVV:PPPP[:IN:OUT]``             USB vendor:product in hex (optional endpoints)
``serial:/dev/ttyUSB0[:BAUD]``         serial port (9600 baud by default)
=====================================  ==========================================
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple

from escpos.constants import RT_STATUS_ONLINE, RT_STATUS_PAPER
from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError

from .options import PrinterOptions
from .ticket import TicketSlip, ticket_chunks

log = logging.getLogger(__name__)

KINDS = ("none", "dummy", "file", "tcp", "usb", "serial")
DEFAULT_TCP_PORT = 9100
DEFAULT_BAUDRATE = 9600

# Stable problem codes callers (the kiosk) can branch on.
OFFLINE = "offline"
PAPER_OUT = "paper_out"
TIMEOUT = "timeout"
ERROR = "error"

# What was known about the printer before a ticket was sent (PrintResult.status).
ONLINE = "online"
UNKNOWN = "unknown"
UNCHECKED = "unchecked"


@dataclass(frozen=True)
class PrinterSpec:
    """A parsed connection spec (see the module docstring for the syntax)."""

    kind: str
    path: str | None = None       # file / serial device
    host: str | None = None
    port: int | None = None
    vendor: int | None = None     # USB ids
    product: int | None = None
    in_ep: int | None = None      # USB endpoints, if not python-escpos' defaults
    out_ep: int | None = None
    baudrate: int | None = None


_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+)):(?P<port>\d+)$")
_HEX_ID = re.compile(r"^(?:0x)?[0-9A-Fa-f]{1,4}$")


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"printer spec {spec!r}: port must be a number 1-65535, not {text!r}")
    return int(text)


def _hex(text: str, what: str, spec: str) -> int:
    if not _HEX_ID.match(text):
        raise ValueError(f"printer spec {spec!r}: {what} must be hex like 04b8, not {text!r}")
    return int(text, 16)


def parse_printer_spec(spec: str) -> PrinterSpec:
    """Parse a printer connection string without touching any device.

    Raises ValueError with a message naming the problem and the accepted forms.
    """
    raw = (spec or "").strip()
    low = raw.lower()
    if low in ("", "none", "off", "no"):
        if low == "":
            raise ValueError("printer spec is empty; use 'none' for no printer")
        return PrinterSpec("none")
    if low == "dummy":
        return PrinterSpec("dummy")
    if low.startswith("file:"):
        path = raw[5:]
        if not path:
            raise ValueError(f"printer spec {spec!r}: give a path, e.g. file:/dev/usb/lp0")
        return PrinterSpec("file", path=path)
    if raw.startswith("/"):
        return PrinterSpec("file", path=raw)
    if low.startswith("tcp:"):
        rest = raw[4:]
        m = _HOST_PORT.match(rest)
        if m:
            return PrinterSpec("tcp", host=m["v6"] or m["host"], port=_port(m["port"], spec))
        if re.fullmatch(r"[A-Za-z0-9._-]+", rest):
            return PrinterSpec("tcp", host=rest, port=DEFAULT_TCP_PORT)
        raise ValueError(f"printer spec {spec!r}: expected tcp:HOST[:PORT], e.g. tcp:192.0.2.10:9100")
    if low.startswith("usb:"):
        parts = raw[4:].split(":")
        if len(parts) not in (2, 4):
            raise ValueError(f"printer spec {spec!r}: expected usb:VVVV:PPPP[:IN_EP:OUT_EP] in hex, "
                             "e.g. usb:04b8:0202")
        vendor, product = _hex(parts[0], "vendor id", spec), _hex(parts[1], "product id", spec)
        in_ep = out_ep = None
        if len(parts) == 4:
            in_ep, out_ep = _hex(parts[2], "IN endpoint", spec), _hex(parts[3], "OUT endpoint", spec)
        return PrinterSpec("usb", vendor=vendor, product=product, in_ep=in_ep, out_ep=out_ep)
    if low.startswith("serial:"):
        rest = raw[7:]
        device, baud = rest, DEFAULT_BAUDRATE
        head, sep, tail = rest.rpartition(":")
        if sep and tail.isdigit():
            device, baud = head, int(tail)
        elif sep and head.startswith("/") and tail:
            raise ValueError(f"printer spec {spec!r}: baud rate must be a number, not {tail!r}")
        if not device:
            raise ValueError(f"printer spec {spec!r}: expected serial:/dev/ttyUSB0[:BAUD]")
        if baud <= 0:
            raise ValueError(f"printer spec {spec!r}: baud rate must be positive")
        return PrinterSpec("serial", path=device, baudrate=baud)
    m = _HOST_PORT.match(raw)
    if m:
        return PrinterSpec("tcp", host=m["v6"] or m["host"], port=_port(m["port"], spec))
    raise ValueError(
        f"unknown printer spec {spec!r}; use one of: none, dummy, file:/path (or /path), "
        "tcp:HOST[:PORT] (or HOST:PORT), usb:VVVV:PPPP, serial:/dev/ttyUSB0[:BAUD]")


def open_printer(spec: str | PrinterSpec, *, timeout: float = 5.0, profile: str | None = None):
    """Create and connect the python-escpos printer described by ``spec``.

    Returns None for ``none``.  ``timeout`` (seconds) bounds connecting and each
    read/write where the transport supports it; ``profile`` is a python-escpos
    printer profile name (e.g. "TM-T88V").  Raises ValueError for a bad spec and
    python-escpos / OS errors if the device cannot be opened.
    """
    from escpos import printer as ep  # imported here: Usb/Serial need optional libs

    s = spec if isinstance(spec, PrinterSpec) else parse_printer_spec(spec)
    kw = {"profile": profile} if profile else {}
    if s.kind == "none":
        return None
    if s.kind == "dummy":
        return ep.Dummy(**kw)
    if s.kind == "file":
        p = ep.File(devfile=s.path, **kw)
    elif s.kind == "tcp":
        p = ep.Network(host=s.host, port=s.port, timeout=timeout, **kw)
    elif s.kind == "usb":
        if not ep.Usb.is_usable():
            raise RuntimeError("USB printing needs the 'pyusb' package (and libusb-1.0)")
        extra = {}
        if s.in_ep is not None:
            extra = {"in_ep": s.in_ep, "out_ep": s.out_ep}
        # pyusb timeouts are in milliseconds; 0 would mean "wait forever".
        p = ep.Usb(s.vendor, s.product, timeout=max(1, int(timeout * 1000)), **extra, **kw)
    elif s.kind == "serial":
        if not ep.Serial.is_usable():
            raise RuntimeError("serial printing needs the 'pyserial' package")
        p = ep.Serial(devfile=s.path, baudrate=s.baudrate, timeout=timeout, **kw)
    else:  # pragma: no cover - parse_printer_spec only returns known kinds
        raise ValueError(f"unsupported printer kind {s.kind!r}")
    p.open()
    if s.kind == "tcp":
        # A ticket goes out as a few chunks, the first as soon as it is drawn:
        # without this, Nagle's algorithm holds each one back until the
        # printer acknowledges the previous one (up to 200 ms on some).
        p.device.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return p


@dataclass(frozen=True)
class PrintResult:
    """Outcome of :func:`print_ticket`.

    ``problem`` is None when ok, else one of "offline", "paper_out", "timeout",
    "error"; ``detail`` is a human-readable explanation for logs / staff screens.
    ``paper_low`` is True when the printer reported its paper near-end sensor
    (the ticket still printed; staff should change the roll soon).  ``status``
    says what was known before printing: "online" (the printer answered),
    "unknown" (it was asked and did not answer: many cheap printers never do,
    and the ticket is printed anyway) or "unchecked" (not asked, or the
    connection cannot answer).
    """

    ok: bool
    problem: str | None
    detail: str
    paper_low: bool = False
    status: str = UNCHECKED


class PrinterStatus(NamedTuple):
    """What DLE EOT told about a printer (see :func:`check_status`)."""

    problem: str | None   # None, OFFLINE or PAPER_OUT
    detail: str
    paper_low: bool = False
    known: bool = True    # False: no understandable answer; it may still print


def can_answer(printer) -> bool:
    """Whether ``printer``'s connection can carry a status answer back.

    Only transports that implement _read (Network, Usb, Serial) can; File and
    Dummy are write-only.
    """
    return type(printer)._read is not Escpos._read


# DLE EOT n answers: bits 1 and 4 are always 1, bits 0 and 7 always 0
# (ESC/POS spec).  Anything else is not a status byte (e.g. a Star printer in
# its own emulation), and is then not trusted either way.
_FIXED_MASK, _FIXED_VALUE = 0x93, 0x12
_OFFLINE_BIT = 0x08     # DLE EOT 1, bit 3
_NEAR_END_BITS = 0x0C   # DLE EOT 4, bits 2-3
_PAPER_END_BITS = 0x60  # DLE EOT 4, bits 5-6

#: How long to wait for a DLE EOT answer.  A printer that answers does so in a
#: few milliseconds (real-time commands skip the print buffer); one that has
#: not answered by then never will, and the citizen is waiting.
STATUS_WAIT = 0.5


def _read_within(printer, wait: float) -> bytes:
    """Read whatever the printer sent, waiting at most ``wait`` seconds (b"" if nothing)."""
    from escpos.printer import Network, Serial, Usb

    device = printer.device
    if isinstance(printer, Network):
        before = device.gettimeout()
        device.settimeout(wait)
        try:
            return device.recv(16)
        except TimeoutError:
            return b""
        finally:
            device.settimeout(before)
    if isinstance(printer, Serial):
        before = device.timeout
        device.timeout = wait
        try:
            return device.read(16)
        finally:
            device.timeout = before
    if isinstance(printer, Usb):
        try:
            return bytes(device.read(printer.in_ep, 16, timeout=max(1, int(wait * 1000))))
        except Exception as exc:  # noqa: BLE001 - pyusb is optional: match its timeout by name
            if type(exc).__name__ == "USBTimeoutError":
                return b""
            raise
    return printer._read()  # another transport: its own timeout applies


def _status_byte(printer, query: bytes, wait: float) -> int | None:
    """The answer to one DLE EOT query; None if none came or it is not a status byte."""
    printer._raw(query)
    answer = _read_within(printer, wait)
    if not answer:
        return None
    byte = answer[-1]
    return byte if byte & _FIXED_MASK == _FIXED_VALUE else None


def check_status(printer, wait: float = STATUS_WAIT) -> PrinterStatus:
    """Ask a connected printer whether it can print, waiting ``wait`` s for each answer.

    Uses DLE EOT 1 (online) and DLE EOT 4 (paper sensor).  Paper-out is
    reported in preference to offline because printers go offline *because*
    the paper ran out.  A printer that does not answer the first query is not
    asked the second: the result is ``known=False`` with no problem, since most
    such printers print fine.  Broken connections raise.
    """
    online = _status_byte(printer, RT_STATUS_ONLINE, wait)
    if online is None:
        return PrinterStatus(None, "status unknown: the printer did not answer DLE EOT",
                             known=False)
    paper = _status_byte(printer, RT_STATUS_PAPER, wait)
    if paper is not None and paper & _PAPER_END_BITS:
        return PrinterStatus(PAPER_OUT, "printer reports paper out")
    if online & _OFFLINE_BIT:
        return PrinterStatus(OFFLINE, "printer reports it is offline (cover open or error)")
    if paper is None:
        return PrinterStatus(None, "printer online; paper sensor not reported", known=False)
    low = bool(paper & _NEAR_END_BITS)
    return PrinterStatus(None, "printer online" + ("; paper near end" if low else ""), low)


def _classify(exc: BaseException) -> tuple[str, str]:
    """Map an exception from connecting/printing to a stable problem code."""
    # python-escpos re-raises OS errors as DeviceNotFoundError without "from", so
    # the real cause (refused, timed out...) is found along __cause__/__context__.
    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    # pyusb / pyserial are optional, so their exceptions are matched by name.
    names = {type(x).__name__ for x in chain}
    text = str(exc).strip().replace("\n", " ") or type(exc).__name__
    if "NoBackendError" in names:
        # pyusb found no libusb on this machine: a setup problem, not a printer fault.
        return ERROR, ("USB printing needs libusb-1.0 installed on this machine "
                       "(Debian: libusb-1.0-0)")
    timed_out = any(isinstance(x, TimeoutError) for x in chain)
    if timed_out or names & {"USBTimeoutError", "SerialTimeoutException"}:
        return TIMEOUT, f"printer did not answer in time ({text})"
    unreachable = any(isinstance(x, (DeviceNotFoundError, OSError)) for x in chain)
    if unreachable or names & {"USBError", "SerialException"}:
        return OFFLINE, f"printer not reachable ({text})"
    return ERROR, f"{type(exc).__name__}: {text}"


def _finish_network(printer, timeout: float) -> None:
    # Graceful end of a raw TCP job: send FIN after the data, then read until the
    # printer closes.  Closing while unread bytes sit in our receive buffer (e.g.
    # the printer answering a DLE EOT that happened to occur inside image data)
    # would make the kernel send RST and may discard the tail of the ticket.
    sock = printer.device
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + min(timeout, 2.0)
        while time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            if not sock.recv(1024):
                break
    except OSError:
        pass  # the data was sent; a slow or abrupt close is not a failed print


def print_ticket(slip: TicketSlip, spec: str, options: PrinterOptions | None = None,
                 timeout: float = 5.0, *, status_wait: float = STATUS_WAIT,
                 profile: str | None = None,
                 started: threading.Event | None = None) -> PrintResult:
    """Print ``slip`` on the printer chosen by ``spec``; blocking, never raises for printer faults.

    Where the connection can answer (TCP, USB, serial) and
    ``options.check_status`` is set, the printer is asked for its status first
    (waiting ``status_wait`` s) and nothing is printed if it says it cannot
    print.  A printer that does not answer gets the ticket all the same, with
    ``status="unknown"`` in the result.  ``timeout`` bounds connecting and
    writing.  ``started`` is set once the top of the ticket has been written
    (or printing has ended without it), for a caller that wants the paper
    moving before it does anything else.  A bad ``spec`` gives problem
    "error" too, so the kiosk's worker thread never has to catch anything.
    """
    opts = options or PrinterOptions()
    try:
        parsed = parse_printer_spec(spec)
    except ValueError as exc:
        return PrintResult(False, ERROR, str(exc))
    if parsed.kind == "none":
        return PrintResult(True, None, "no printer configured")
    printer = None
    try:
        printer = open_printer(parsed, timeout=timeout, profile=profile)
        status, paper_low, detail = UNCHECKED, False, "printed"
        if opts.check_status and can_answer(printer):
            st = check_status(printer, status_wait)
            if st.problem:
                log.warning("printer %s: %s", spec, st.detail)
                return PrintResult(False, st.problem, st.detail, status=ONLINE)
            status, paper_low = (ONLINE if st.known else UNKNOWN), st.paper_low
            if paper_low:
                log.warning("printer %s: paper near end", spec)
            detail = f"printed ({st.detail})"
        for chunk in ticket_chunks(slip, opts):
            printer._raw(chunk)
            if started is not None:
                started.set()
        if parsed.kind == "tcp":
            _finish_network(printer, timeout)
        return PrintResult(True, None, detail, paper_low, status)
    except Exception as exc:  # noqa: BLE001 - the contract is "never raises"
        problem, detail = _classify(exc)
        if problem == ERROR and not detail.startswith("USB printing needs"):
            log.exception("printing ticket %s on %s failed", slip.number, spec)
        else:
            log.warning("printing ticket %s on %s failed: %s", slip.number, spec, detail)
        return PrintResult(False, problem, detail)
    finally:
        if started is not None:
            started.set()
        if printer is not None:
            try:
                printer.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail too
                log.debug("closing printer %s failed", spec, exc_info=True)
