"""The ESC/POS commands a ticket is made of, as bytes.

Only commands that cheap clone printers (Xprinter, Rongta, Zjiang/POS-58 …)
share with Epson's are used, and each in its oldest form.  The picture of a
ticket (:mod:`printer.emulator`) reads back exactly these commands, so what the
preview shows is what these bytes print.
"""

from __future__ import annotations

from PIL import Image

ESC, GS, LF = b"\x1b", b"\x1d", b"\n"

INIT = ESC + b"@"                 # forget styles left over from a previous job
#: Print and feed 6 lines (the head-to-cutter distance of most printers), full cut.
FEED_AND_CUT = ESC + b"d\x06" + GS + b"V\x00"

ALIGNS = {"left": 0, "center": 1, "right": 2}

#: QR error correction levels of GS ( k fn 69 (48 + n).
QR_EC = {"L": 48, "M": 49, "Q": 50, "H": 51}

#: Tallest raster image sent in one GS v 0 (yH <= 8 on every printer manual).
MAX_RASTER_ROWS = 2047

# Pillow's "1" images store white as 1; ESC/POS rasters print a 1 bit.
_INVERT = bytes(255 - i for i in range(256))


def align(where: str) -> bytes:
    """ESC a n: justification of the following lines (text, and images on most printers)."""
    return ESC + b"a" + bytes([ALIGNS[where]])


def bold(on: bool) -> bytes:
    """ESC E n: emphasized text."""
    return ESC + b"E" + (b"\x01" if on else b"\x00")


def reverse(on: bool) -> bytes:
    """GS B n: white on black text."""
    return GS + b"B" + (b"\x01" if on else b"\x00")


def text_size(width: int = 1, height: int = 1) -> bytes:
    """GS ! n: character magnification, 1–8 in each direction."""
    if not (1 <= width <= 8 and 1 <= height <= 8):
        raise ValueError(f"magnification must be 1..8, not {width}x{height}")
    return GS + b"!" + bytes([(width - 1) << 4 | (height - 1)])


def raster(image: Image.Image) -> bytes:
    """GS v 0: a 1-bit image (mode "1", black = ink) whose width is a multiple of 8.

    Taller images are sent as several commands; the printer prints them
    without a gap.
    """
    if image.mode != "1":
        raise ValueError(f"raster images must be mode '1', not {image.mode!r}")
    width, height = image.size
    if width % 8 or width == 0 or height == 0:
        raise ValueError(f"raster image must be a non-empty multiple of 8 dots wide, not {width}x{height}")
    row = width // 8
    data = image.tobytes().translate(_INVERT)
    out = bytearray()
    for top in range(0, height, MAX_RASTER_ROWS):
        rows = min(MAX_RASTER_ROWS, height - top)
        out += GS + b"v0\x00" + bytes([row & 0xFF, row >> 8, rows & 0xFF, rows >> 8])
        out += data[top * row:(top + rows) * row]
    return bytes(out)


def feed_dots(dots: int) -> bytes:
    """Advance the paper exactly ``dots`` dot rows.

    Sent as a blank raster image one byte wide: ESC J counts in "motion units"
    that differ between models (1/203, 1/180 or 1/360 inch), a raster row is
    one dot row on all of them.  Costs ``dots + 8`` bytes.
    """
    out = bytearray()
    while dots > 0:
        rows = min(MAX_RASTER_ROWS, dots)
        out += GS + b"v0\x00\x01\x00" + bytes([rows & 0xFF, rows >> 8]) + bytes(rows)
        dots -= rows
    return bytes(out)


def _qr_function(fn: int, data: bytes) -> bytes:
    body = b"1" + bytes([fn]) + data   # cn = 49: QR Code
    return GS + b"(k" + bytes([len(body) & 0xFF, len(body) >> 8]) + body


def qr_native(payload: str, module: int, ec: str = "M") -> bytes:
    """GS ( k: the printer builds and prints a model 2 QR code of ``payload`` itself.

    ``module`` is the dot size of one module (1–16).  The payload must be ASCII
    (ours are URLs or ``motcua:`` identifiers).
    """
    data = payload.encode("ascii")
    if not 1 <= module <= 16:
        raise ValueError(f"QR module size must be 1..16 dots, not {module}")
    return (_qr_function(65, b"\x32\x00")          # model 2
            + _qr_function(67, bytes([module]))     # module size
            + _qr_function(69, bytes([QR_EC[ec]]))  # error correction
            + _qr_function(80, b"0" + data)         # store the data
            + _qr_function(81, b"0"))               # print it
