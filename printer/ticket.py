"""The queue ticket: its content, its layout, and its ESC/POS bytes.

The slip is laid out as a list of blocks, and each block becomes ESC/POS bytes
on its own, so the top of a ticket reaches the printer while the rest is still
being drawn.  Each line is printed the cheapest way that keeps it readable:

- lines in plain ASCII (the number, English labels, times) as the printer's
  own text: a few bytes each;
- other lines (Vietnamese) as 1-bit bitmaps drawn with a font that has every
  Vietnamese letter, each line cropped to its ink: blank paper costs nothing,
  while every byte sent costs about 1 ms at 9,600 baud;
- the QR code with the printer's GS ( k command, or as a bitmap for printers
  that lack it (``PrinterOptions.qr = "raster"``).

The PNG preview (:func:`ticket_image`) is drawn from these very bytes by
:mod:`printer.emulator`, so it shows what the printer gets.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import qrcode
import qrcode.constants
from PIL import Image

from . import commands as cmd
from . import fonts
from .options import PrinterOptions
from .raster import (SIDE_MARGIN, crop_to_ink, ink_box, load_font, matrix_image, rule_image,
                     text_image, text_line_images, wrap_text)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TicketSlip:
    """Everything printed on one queue ticket, worded in the citizen's language.

    ``facts`` are the information lines (people ahead, the expected wait, the
    counters, the time of issue), printed left-aligned in this order.  The
    kiosk words them from its catalogue, so a wait range or a new line needs
    no change here.  ``priority`` is the whole line ("Ưu tiên: Người cao
    tuổi"), printed white on black when set.
    """

    center: str                    # center name
    number: str                    # "A023": ASCII, printed in the printer's own font
    department: str
    procedure: str | None = None
    priority: str | None = None
    number_label: str = "SỐ THỨ TỰ"
    facts: tuple[str, ...] = ()
    qr: str | None = None          # QR payload; None = no QR
    footer: str = ""

    def __post_init__(self) -> None:
        # Fail when the kiosk builds the slip, not half-way through printing.
        if not self.number.strip():
            raise ValueError("ticket number is empty")
        if not self.number.strip().isascii():
            raise ValueError(f"ticket number must be ASCII, not {self.number!r}")
        if self.qr is not None and not self.qr.isascii():
            raise ValueError("the QR payload must be ASCII (a URL or an identifier)")
        object.__setattr__(self, "facts", tuple(self.facts))  # hashable, whatever was given


# --------------------------------------------------------------------------- layout

@dataclass(frozen=True)
class _Text:
    text: str
    size: str                 # key of _SIZES
    bold: bool = False
    align: str = "center"
    invert: bool = False
    pad_top: int = 0


@dataclass(frozen=True)
class _Number:
    text: str


@dataclass(frozen=True)
class _QR:
    payload: str


@dataclass(frozen=True)
class _Rule:
    pass


# Text sizes in dots (= px) for 80 mm and 58 mm paper.  At 203 dpi, 26 dots is
# about 3.3 mm — comfortably readable, with room for stacked Vietnamese marks.
_SIZES = {
    80: {"title": 26, "dept": 34, "body": 26, "label": 24, "small": 22},
    58: {"title": 22, "dept": 28, "body": 22, "label": 20, "small": 19},
}
# Sizes printed double-height as native text.
_NATIVE_TALL = {"dept"}
# Native font A is 12 x 24 dots per character on ESC/POS printers.
NATIVE_CHAR_W, NATIVE_CHAR_H = 12, 24
# Blank dots around a QR code drawn as an image (the printer adds its own
# around a native one).
_QR_PAD = 12


def _layout(slip: TicketSlip) -> list:
    """Turn the slip into the ordered list of blocks printed top to bottom."""
    blocks: list = [_Text(slip.center, "title", bold=True), _Rule(),
                    _Text(slip.department, "dept", bold=True, pad_top=4)]
    if slip.procedure:
        blocks.append(_Text(slip.procedure, "body"))
    if slip.priority:
        blocks.append(_Text(slip.priority, "body", bold=True, invert=True, pad_top=8))
    blocks.append(_Text(slip.number_label, "label", pad_top=14))
    blocks.append(_Number(slip.number.strip()))
    for i, fact in enumerate(slip.facts):
        blocks.append(_Text(fact, "body", align="left", pad_top=6 if i == 0 else 0))
    if slip.qr:
        blocks.append(_QR(slip.qr))
    if slip.footer:
        blocks.append(_Text(slip.footer, "small", pad_top=4))
    return blocks


def number_magnification(number: str, dots: int) -> int:
    """Largest ESC/POS text magnification (1..8) at which ``number`` fits the paper."""
    fit = (dots - 4 * SIDE_MARGIN) // (NATIVE_CHAR_W * max(1, len(number)))
    return max(1, min(8, fit))


# Typographic characters with an exact ASCII stand-in on the printer.
_ASCII_STANDINS = str.maketrans({"\u00a0": " ", "–": "-", "—": "-", "‘": "'", "’": "'",
                                 "“": '"', "”": '"', "…": "..."})


def native_text(text: str) -> str | None:
    """``text`` as the printer's own font can print it exactly, or None if it cannot.

    Printable ASCII can (code pages differ only above 127); a no-break space
    or a dash becomes its ASCII twin.  Vietnamese letters cannot.
    """
    plain = text.translate(_ASCII_STANDINS)
    if plain.isascii() and all(" " <= ch <= "~" or ch == "\n" for ch in plain):
        return plain
    return None


# --------------------------------------------------------------------------- QR

def _qr_code(payload: str) -> qrcode.QRCode:
    # The symbol the printer builds natively: model 2, error correction M, no
    # border (the quiet zone is the blank paper around it).
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(payload)
    return code


def qr_modules(payload: str) -> int:
    """Modules per side of the QR code for ``payload``.

    Found from the version alone: building the symbol would also try all eight
    mask patterns, wasted work when the printer draws the code itself.
    """
    code = _qr_code(payload)
    return 17 + 4 * code.best_fit()


def qr_module_size(payload: str, dots: int) -> int:
    """Dots per QR module: about 30 mm wide on 80 mm paper, 25 mm on 58 mm, never wider than the paper."""
    modules = qr_modules(payload)
    target = 240 if dots >= 512 else 200
    return max(1, min(8, target // modules, (dots - 2 * SIDE_MARGIN) // modules))


def qr_image(payload: str, module: int) -> Image.Image:
    """A 1-bit image of the QR code for ``payload``, ``module`` dots per module, no border."""
    code = _qr_code(payload)
    code.make(fit=True)  # chooses the best mask: this symbol is ours to get right
    return matrix_image(code.get_matrix(), module)


# --------------------------------------------------------------------------- fonts

@dataclass(frozen=True)
class _Fonts:
    regular: Path | None
    bold: Path | None

    @property
    def available(self) -> bool:
        return self.regular is not None


def _resolve_fonts() -> _Fonts:
    regular = fonts.find_font(bold=False)
    if regular is None:
        log.warning(
            "No font with Vietnamese coverage found (%s unset or unusable and the "
            "'%s' package is not installed); printing unaccented text with the "
            "printer's built-in font", fonts.FONT_ENV_VAR, fonts.FONT_PACKAGE.replace("_", "-"))
        return _Fonts(None, None)
    bold = fonts.find_font(bold=True) or regular
    return _Fonts(regular, bold)


# --------------------------------------------------------------------------- bytes

@dataclass(frozen=True)
class _Piece:
    """One block's bytes, and the blank dot rows wanted above and below it.

    Blank rows are kept apart so that those of neighbouring blocks merge into
    one paper feed instead of being sent as blank bitmap rows.
    """

    lead: int
    body: bytes
    trail: int


def _place(image: Image.Image, where: str, opts: PrinterOptions) -> bytes:
    """A cropped bitmap, aligned on the paper the way ``opts.image_align`` says.

    A left-aligned line starts at the edge of the printable area, like the
    printer's own text (the printable area lies inside the paper's margins).
    """
    if where == "left":
        return cmd.align("left") + cmd.raster(image)
    if opts.image_align == "command":
        return cmd.align(where) + cmd.raster(image)
    # Printers that ignore ESC a for images: put blank dots on the left.
    dots = opts.width
    box = ink_box(image)
    ink = box[2] if box else image.width
    left = max(0, (dots - ink) // 2 if where == "center" else dots - ink)
    padded = Image.new("1", ((left + ink + 7) // 8 * 8, image.height), 1)
    padded.paste(image.crop((0, 0, ink, image.height)), (left, 0))
    return cmd.align("left") + cmd.raster(padded)


def _bitmaps(images: list[Image.Image], where: str, opts: PrinterOptions,
             lead: int = 0) -> _Piece:
    """Crop each image to its ink and print them one under the other.

    The blank rows cut off become paper feeds, so the lines keep their spacing.
    """
    body = bytearray()
    gap = lead
    for img in images:
        cropped = crop_to_ink(img)
        if cropped is None:
            gap += img.height
            continue
        piece, top, bottom = cropped
        if body:
            body += cmd.feed_dots(gap + top)
        else:
            lead = gap + top
        body += _place(piece, where, opts)
        gap = bottom
    if not body:
        return _Piece(gap, b"", 0)
    return _Piece(lead, bytes(body), gap)


def _native_lines(text: str, where: str, *, bold: bool, tall: bool, invert: bool,
                  dots: int) -> bytes:
    out = bytearray(cmd.align(where) + cmd.bold(bold) + cmd.text_size(1, 2 if tall else 1))
    if invert:
        out += cmd.reverse(True)
    for line in wrap_text(text, len, dots // NATIVE_CHAR_W):
        out += line.translate(_ASCII_STANDINS).encode("ascii", "replace") + cmd.LF
    out += cmd.bold(False) + cmd.text_size(1, 1) + (cmd.reverse(False) if invert else b"")
    return bytes(out)


@functools.lru_cache(maxsize=512)
def _text_piece(block: _Text, f: _Fonts, opts: PrinterOptions) -> _Piece:
    # Cached: the center's name, the labels, the department and procedure
    # names and the footer repeat from ticket to ticket.
    dots = opts.width
    tall = block.size in _NATIVE_TALL
    native = native_text(block.text)
    if native is None and not f.available:
        native = fonts.strip_diacritics(block.text)  # no font: unaccented is better than nothing
    if native is not None:
        body = _native_lines(native, block.align, bold=block.bold, tall=tall,
                             invert=block.invert, dots=dots)
        return _Piece(block.pad_top, body, 0)
    size = _SIZES[opts.paper_mm][block.size]
    font = load_font(f.bold if block.bold else f.regular, size)
    # A single MOTCUA_FONT file serves both weights: thicken it for "bold" lines.
    stroke = 1 if block.bold and f.bold == f.regular else 0
    if block.invert:
        # The black box must stay one piece around all its lines.
        images = [text_image(block.text, font, dots, align=block.align, invert=True,
                             bold_stroke=stroke)]
    else:
        images = text_line_images(block.text, font, dots, align=block.align, bold_stroke=stroke)
    return _bitmaps(images, block.align, opts, lead=block.pad_top)


@functools.lru_cache(maxsize=8)
def _rule_piece(f: _Fonts, opts: PrinterOptions) -> _Piece:
    if not f.available:
        return _Piece(0, cmd.align("left") + b"-" * (opts.width // NATIVE_CHAR_W) + cmd.LF, 0)
    return _bitmaps([rule_image(opts.width)], "center", opts)


def _number_piece(number: str, dots: int) -> _Piece:
    text = fonts.strip_diacritics(number)  # the number is meant to be ASCII; make sure
    mag = number_magnification(text, dots)
    body = (cmd.align("center") + cmd.bold(True) + cmd.text_size(mag, mag)
            + text.encode("ascii") + cmd.LF + cmd.bold(False) + cmd.text_size(1, 1))
    return _Piece(0, body, 0)


def _qr_piece(payload: str, opts: PrinterOptions) -> _Piece:
    module = qr_module_size(payload, opts.width)
    if opts.qr == "native":
        # Most printers add no quiet zone of their own above the code.
        return _Piece(_QR_PAD, cmd.align("center") + cmd.qr_native(payload, module) + cmd.LF, 0)
    piece = _bitmaps([qr_image(payload, module)], "center", opts)
    return _Piece(piece.lead + _QR_PAD, piece.body, piece.trail + _QR_PAD)


def _piece(block, f: _Fonts, opts: PrinterOptions) -> _Piece:
    if isinstance(block, _Text):
        return _text_piece(block, f, opts)
    if isinstance(block, _Rule):
        return _rule_piece(f, opts)
    if isinstance(block, _Number):
        return _number_piece(block.text, opts.width)
    if isinstance(block, _QR):
        return _qr_piece(block.payload, opts)
    raise TypeError(f"unknown block {block!r}")  # pragma: no cover


def ticket_chunks(slip: TicketSlip, options: PrinterOptions | None = None) -> Iterator[bytes]:
    """The ticket's ESC/POS bytes, one chunk per block, top of the ticket first.

    Send each chunk as it comes: the printer starts on the center's name while
    the rest is drawn.  The last chunk feeds the paper past the cutter and cuts.
    """
    opts = options or PrinterOptions()
    f = _resolve_fonts()
    head = cmd.INIT
    feed = 0
    for block in _layout(slip):
        piece = _piece(block, f, opts)
        feed += piece.lead
        if piece.body:
            yield head + cmd.feed_dots(feed) + piece.body
            head, feed = b"", piece.trail
        else:
            feed += piece.trail
    yield head + cmd.feed_dots(feed) + cmd.FEED_AND_CUT


def ticket_bytes(slip: TicketSlip, options: PrinterOptions | None = None) -> bytes:
    """The whole ticket as ESC/POS bytes (see :func:`ticket_chunks`)."""
    return b"".join(ticket_chunks(slip, options))


def render(slip: TicketSlip, printer, options: PrinterOptions | None = None) -> None:
    """Send the ticket to ``printer`` (any python-escpos printer object) and cut.

    Chunks are written as soon as each is ready.  Without a usable Vietnamese
    font, every line is printed natively without diacritics and a warning is
    logged.  Printer I/O errors propagate; :func:`printer.print_ticket` turns
    them into a result.
    """
    for chunk in ticket_chunks(slip, options):
        printer._raw(chunk)


def warm_up(options: PrinterOptions | None = None) -> None:
    """Load the fonts and draw a sample ticket, so the first citizen's ticket is not slower."""
    ticket_bytes(TicketSlip(center="Trung tâm", number="A000", department="Sở",
                            facts=("Số người chờ trước: 0",), qr="motcua:warm-up"), options)


# --------------------------------------------------------------------------- PNG

def ticket_image(slip: TicketSlip, options: PrinterOptions | None = None) -> Image.Image:
    """A 1-bit picture of the ticket, as wide as the printable area.

    Drawn from :func:`ticket_bytes` by :mod:`printer.emulator`: bitmaps dot for
    dot; the printer's own text and QR code as a typical printer draws them.
    """
    from .emulator import draw

    opts = options or PrinterOptions()
    return draw(ticket_bytes(slip, opts), opts.width)


def write_png(slip: TicketSlip, path: str | os.PathLike[str],
              options: PrinterOptions | None = None) -> Path:
    """Write a PNG picture of the ticket (for center setup and documentation); return its path."""
    out = Path(path)
    ticket_image(slip, options).save(out, format="PNG")
    return out
