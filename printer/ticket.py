"""The queue ticket: its content, its layout, and rendering to a printer or a PNG.

The layout is built once as a list of blocks; one backend sends the blocks to a
python-escpos printer, the other draws them into an image.  Text blocks become
the very same 1-bit bitmaps in both, so the PNG preview is faithful.

Why every text line is a bitmap (not only the Vietnamese ones): the number is the
only thing printed with the printer's own font; mixing the built-in font with the
TrueType one line by line looked uneven, and the preview could not show the
built-in font faithfully.  The number stays native text because it is ASCII and
native magnified text is the crispest, fastest thing a thermal printer prints.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import qrcode
import qrcode.constants
from escpos.constants import QR_ECLEVEL_M
from PIL import Image, ImageDraw

from motcua.waits import wait_phrase

from . import fonts
from .raster import SIDE_MARGIN, load_font, paper_dots, rule_image, text_image, to_1bit, wrap_text

log = logging.getLogger(__name__)

LANGUAGES = ("vi", "en")

#: Fixed labels printed on the ticket, per language.
LABELS: dict[str, dict[str, str]] = {
    "vi": {
        "number": "SỐ THỨ TỰ",
        "ahead": "Số người chờ trước: {n}",
        "wait": "Thời gian chờ dự kiến: khoảng {n}\u00a0phút",
        "wait_under": "Thời gian chờ dự kiến: dưới 1\u00a0phút",
        "wait_range": "Thời gian chờ dự kiến: khoảng {lo}–{hi}\u00a0phút",
        "wait_upto": "Thời gian chờ dự kiến: dưới {hi}\u00a0phút",
        "wait_unknown": "Thời gian chờ dự kiến: chưa ước tính được ({why})",
        "counters": "Quầy phục vụ: {c}",
        "issued": "Lấy số lúc: {time} ngày {date}",
        "priority": "Ưu tiên: {p}",
    },
    "en": {
        "number": "YOUR NUMBER",
        "ahead": "People ahead: {n}",
        "wait": "Estimated wait: about {n}\u00a0min",
        "wait_under": "Estimated wait: under 1\u00a0min",
        "wait_range": "Estimated wait: about {lo}–{hi}\u00a0min",
        "wait_upto": "Estimated wait: under {hi}\u00a0min",
        "wait_unknown": "Estimated wait: not known yet ({why})",
        "counters": "Counter(s): {c}",
        "issued": "Issued: {date} {time}",
        "priority": "Priority: {p}",
    },
}


@dataclass(frozen=True)
class TicketSlip:
    """Everything printed on one queue ticket."""

    center: str            # center name (Vietnamese)
    number: str            # "A023" — ASCII
    department: str        # "Sở Tư pháp"
    procedure: str | None  # "Đăng ký kết hôn"
    ahead: int             # people ahead
    wait_minutes: int | None
    issued_at: datetime    # aware, local time
    counters: list[str] = field(default_factory=list)   # e.g. ["Quầy 1", "Quầy 4"]
    qr: str | None = None  # QR payload; None = no QR
    footer: str = ""       # e.g. "Xin cảm ơn! Vui lòng chờ gọi số."
    priority: str | None = None   # priority group label, printed if set
    language: str = "vi"   # "vi" or "en" for the fixed labels
    wait_range: tuple[int, int] | None = None  # calibrated range, minutes
    wait_note: str | None = None  # why the wait is unknown (in ``language``)

    def __post_init__(self) -> None:
        # Fail when the kiosk builds the slip, not half-way through printing.
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, not {self.language!r}")
        if not self.number.strip():
            raise ValueError("ticket number is empty")
        if self.ahead < 0:
            raise ValueError(f"people ahead cannot be negative ({self.ahead})")


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
# Sizes printed double-height in the no-font (native text) fallback.
_NATIVE_TALL = {"dept"}
# Native font A is 12 x 24 dots per character on ESC/POS printers.
_NATIVE_CHAR_W, _NATIVE_CHAR_H = 12, 24


def _layout(slip: TicketSlip) -> list:
    """Turn the slip into the ordered list of blocks printed top to bottom."""
    lab = LABELS[slip.language]
    blocks: list = [_Text(slip.center, "title", bold=True), _Rule(),
                    _Text(slip.department, "dept", bold=True, pad_top=4)]
    if slip.procedure:
        blocks.append(_Text(slip.procedure, "body"))
    if slip.priority:
        blocks.append(_Text(lab["priority"].format(p=slip.priority), "body", bold=True,
                            invert=True, pad_top=8))
    blocks.append(_Text(lab["number"], "label", pad_top=14))
    blocks.append(_Number(slip.number.strip()))
    blocks.append(_Text(lab["ahead"].format(n=slip.ahead), "body", align="left", pad_top=6))
    wait = _wait_line(slip, lab)
    if wait:
        blocks.append(_Text(wait, "body", align="left"))
    if slip.counters:
        blocks.append(_Text(lab["counters"].format(c=", ".join(slip.counters)), "body",
                            align="left"))
    blocks.append(_Text(lab["issued"].format(time=slip.issued_at.strftime("%H:%M"),
                                             date=slip.issued_at.strftime("%d/%m/%Y")),
                        "body", align="left"))
    if slip.qr:
        blocks.append(_QR(slip.qr))
    if slip.footer:
        blocks.append(_Text(slip.footer, "small", pad_top=4))
    return blocks


def _wait_line(slip: TicketSlip, lab: dict[str, str]) -> str | None:
    """The wait as printed: why it is unknown, a range, or (from an older
    server) a single figure."""
    if slip.wait_note:
        return lab["wait_unknown"].format(why=slip.wait_note)
    phrase = wait_phrase(slip.wait_minutes, slip.wait_range)
    if phrase is None:
        return None
    key, params = phrase
    return lab[key].format(**params)


def number_magnification(number: str, dots: int) -> int:
    """Largest ESC/POS text magnification (1..8) at which ``number`` fits the paper."""
    fit = (dots - 4 * SIDE_MARGIN) // (_NATIVE_CHAR_W * max(1, len(number)))
    return max(1, min(8, fit))


def _qr_matrix(payload: str) -> list[list[bool]]:
    # Same symbol the printer builds natively: model 2, error correction M, no border
    # (the quiet zone comes from the blank paper around it).
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(payload)
    code.make(fit=True)
    return code.get_matrix()


def qr_module_size(payload: str, dots: int) -> int:
    """Dots per QR module: about 30 mm wide on 80 mm paper, 25 mm on 58 mm, never wider than the paper."""
    modules = len(_qr_matrix(payload))
    target = 240 if dots >= 576 else 200
    return max(1, min(8, target // modules, (dots - 2 * SIDE_MARGIN) // modules))


def qr_image(payload: str, dots: int, module: int | None = None) -> Image.Image:
    """A 1-bit image ``dots`` wide with the QR code for ``payload`` centered in it."""
    matrix = _qr_matrix(payload)
    module = module or qr_module_size(payload, dots)
    side = len(matrix) * module
    pad = 12
    img = Image.new("1", (dots, side + 2 * pad), 1)
    draw = ImageDraw.Draw(img)
    x0 = (dots - side) // 2
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                x, y = x0 + c * module, pad + r * module
                draw.rectangle((x, y, x + module - 1, y + module - 1), fill=0)
    return img


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


def _block_bitmap(block: _Text, f: _Fonts, dots: int, paper_mm: int) -> Image.Image:
    size = _SIZES[paper_mm][block.size]
    path = f.bold if block.bold else f.regular
    font = load_font(path, size)
    # A single MOTCUA_FONT file serves both weights: thicken it for "bold" lines.
    stroke = 1 if block.bold and f.bold == f.regular else 0
    return text_image(block.text, font, dots, align=block.align, invert=block.invert,
                      bold_stroke=stroke, pad_top=block.pad_top)


# --------------------------------------------------------------------------- printer backend

def _fit_profile(printer, dots: int) -> None:
    # python-escpos needs the media width to check/center images and print()s a
    # warning on every image when it is "Unknown" (the default profile).  Give this
    # printer object its own copy of the profile data: the original is shared by
    # every printer using the same profile class.
    data = copy.deepcopy(printer.profile.profile_data)
    data.setdefault("media", {}).setdefault("width", {})["pixels"] = dots
    printer.profile.profile_data = data


def render(slip: TicketSlip, printer, paper_mm: int = 80, *, native_qr: bool = True) -> None:
    """Send the ticket to ``printer`` (any python-escpos printer object) and cut.

    Text lines are printed as bitmaps drawn with a Vietnamese-capable font (see
    :func:`printer.fonts.find_font`); the number is large bold native text; the
    QR code uses the printer's native QR command (``native_qr=False`` sends it as
    an image instead, for printers without GS ( k).  Without a usable font, all
    text is printed natively without diacritics and a warning is logged.
    Printer I/O errors propagate; :func:`printer.print_ticket` turns them into
    a result.
    """
    dots = paper_dots(paper_mm)
    f = _resolve_fonts()
    _fit_profile(printer, dots)
    printer.hw("INIT")  # ESC @: forget styles left over from a previous job
    for block in _layout(slip):
        if isinstance(block, _Text):
            if f.available:
                printer.image(_block_bitmap(block, f, dots, paper_mm))
            else:
                _native_text(printer, block, dots)
        elif isinstance(block, _Rule):
            if f.available:
                printer.image(rule_image(dots))
            else:
                printer.set(align="left")
                printer.text("-" * (dots // _NATIVE_CHAR_W) + "\n")
        elif isinstance(block, _Number):
            _native_number(printer, block.text, dots)
        elif isinstance(block, _QR):
            module = qr_module_size(block.payload, dots)
            if native_qr:
                printer.set(align="center")
                printer.qr(block.payload, ec=QR_ECLEVEL_M, size=module, native=True)
                printer.text("\n")
                printer.set(align="left")
            else:
                printer.image(qr_image(block.payload, dots, module))
    printer.cut()


def _native_text(printer, block: _Text, dots: int) -> None:
    text = fonts.strip_diacritics(block.text)
    tall = block.size in _NATIVE_TALL
    printer.set(align=block.align, bold=block.bold, invert=block.invert,
                double_height=tall, normal_textsize=not tall)
    columns = dots // _NATIVE_CHAR_W
    for line in wrap_text(text, len, columns):
        printer.text(line + "\n")
    printer.set(align="left", bold=False, invert=False, normal_textsize=True)


def _native_number(printer, number: str, dots: int) -> None:
    text = fonts.strip_diacritics(number)  # the number is meant to be ASCII; make sure
    mag = number_magnification(text, dots)
    printer.set(align="center", bold=True, custom_size=True, width=mag, height=mag)
    printer.text(text + "\n")
    printer.set(align="left", bold=False, custom_size=True, width=1, height=1)


# --------------------------------------------------------------------------- PNG backend

def ticket_image(slip: TicketSlip, paper_mm: int = 80) -> Image.Image:
    """Draw the ticket as a 1-bit image as wide as the printable area (384 or 576 dots).

    Text and QR bitmaps are exactly what :func:`render` sends; the number imitates
    the printer's magnified built-in font with the bold TrueType font.
    """
    dots = paper_dots(paper_mm)
    f = _resolve_fonts()
    parts: list[Image.Image] = [Image.new("1", (dots, 16), 1)]
    for block in _layout(slip):
        if isinstance(block, _Text):
            if f.available:
                parts.append(_block_bitmap(block, f, dots, paper_mm))
            else:
                # Approximate the native fallback: unaccented text, built-in font.
                font = load_font(None, _NATIVE_CHAR_H * (2 if block.size in _NATIVE_TALL else 1))
                parts.append(text_image(fonts.strip_diacritics(block.text), font, dots,
                                        align=block.align, invert=block.invert,
                                        bold_stroke=1 if block.bold else 0))
        elif isinstance(block, _Rule):
            parts.append(rule_image(dots))
        elif isinstance(block, _Number):
            parts.append(_number_image(block.text, dots, f.bold))
        elif isinstance(block, _QR):
            parts.append(qr_image(block.payload, dots))
    parts.append(Image.new("1", (dots, 48), 1))  # the feed before the cut
    out = Image.new("1", (dots, sum(p.height for p in parts)), 1)
    y = 0
    for part in parts:
        out.paste(part, (0, y))
        y += part.height
    return out


def _number_image(number: str, dots: int, bold_font: Path | None) -> Image.Image:
    text = fonts.strip_diacritics(number)
    mag = number_magnification(text, dots)
    cell_w, cell_h = _NATIVE_CHAR_W * mag, _NATIVE_CHAR_H * mag
    # Grow the font until the text fills the cells the printer would use.
    size = cell_h
    font = load_font(bold_font, size)
    while size > 8 and (font.getlength(text) > cell_w * len(text) * 0.92
                        or _ink_height(font, text) > cell_h * 0.8):
        size -= 2
        font = load_font(bold_font, size)
    img = Image.new("L", (dots, cell_h + 8), 255)
    ImageDraw.Draw(img).text((dots / 2, (cell_h + 8) / 2), text, font=font, fill=0, anchor="mm")
    return to_1bit(img)


def _ink_height(font, text: str) -> int:
    left, top, right, bottom = font.getbbox(text)
    return bottom - top


def write_png(slip: TicketSlip, path: str | os.PathLike[str], paper_mm: int = 80) -> Path:
    """Write a PNG picture of the ticket (for center setup and documentation); return its path."""
    out = Path(path)
    ticket_image(slip, paper_mm).save(out, format="PNG")
    return out
