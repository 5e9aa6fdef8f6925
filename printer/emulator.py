"""Draw ESC/POS bytes as the paper that comes out of a thermal printer.

``motcua print-preview`` shows a ticket through this, from the very bytes the
kiosk sends, so the picture cannot drift from the printout.  It reads the
commands of :mod:`printer.commands` and refuses anything else (a ValueError
naming the byte), so a new command cannot slip into tickets unseen.

Bitmaps are drawn dot for dot.  What the printer draws itself is imitated the
way a typical 203 dpi printer does it: font A in 12 x 24 dot cells (magnified
by repeating dots), 30 dot rows per text line, and QR codes with the same
version and module size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw

from . import fonts
from .raster import load_font, matrix_image

CELL_W, CELL_H = 12, 24
LINE_DOTS = 30          # default line spacing: 24 dots of glyph and 6 of paper
TOP_MARGIN = 16         # paper above the first line, as it comes out of the printer

_EC = {48: qrcode.constants.ERROR_CORRECT_L, 49: qrcode.constants.ERROR_CORRECT_M,
       50: qrcode.constants.ERROR_CORRECT_Q, 51: qrcode.constants.ERROR_CORRECT_H}


@dataclass
class _Style:
    align: int = 0
    bold: bool = False
    reverse: bool = False
    width: int = 1
    height: int = 1


@dataclass
class _Paper:
    dots: int
    parts: list[tuple[int, int, Image.Image]] = field(default_factory=list)  # (x, y, image)
    y: int = TOP_MARGIN

    def put(self, image: Image.Image, align: int) -> None:
        x = {0: 0, 1: (self.dots - image.width) // 2, 2: self.dots - image.width}[align]
        self.parts.append((max(0, x), self.y, image))

    def picture(self) -> Image.Image:
        out = Image.new("1", (self.dots, self.y), 1)
        for x, y, image in self.parts:
            # Paste only the ink: a bitmap's blank dots never erase anything.
            out.paste(0, (x, y), _ink_mask(image))
        return out


def _ink_mask(image: Image.Image) -> Image.Image:
    return image.convert("L").point(lambda v: 255 if v < 128 else 0).convert("1")


class _Glyphs:
    """Font A imitated with the ticket's font, one character per 12 x 24 cell."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, bool], Image.Image] = {}
        self._fonts = {False: load_font(fonts.find_font(bold=False), 20),
                       True: load_font(fonts.find_font(bold=True), 20)}

    def cell(self, ch: str, bold: bool) -> Image.Image:
        key = (ch, bold)
        if key not in self._cache:
            img = Image.new("1", (CELL_W, CELL_H), 1)
            ImageDraw.Draw(img).text((CELL_W / 2, 19), ch, font=self._fonts[bold], fill=0,
                                     anchor="ms")
            self._cache[key] = img
        return self._cache[key]


def draw(data: bytes, dots: int) -> Image.Image:
    """The paper that ``data`` (ESC/POS bytes) prints on a printer ``dots`` wide."""
    paper = _Paper(dots)
    style = _Style()
    glyphs = _Glyphs()
    line: list[tuple[str, _Style]] = []
    qr = {"data": b"", "module": 3, "ec": 49}
    i, n = 0, len(data)

    def need(count: int) -> bytes:
        if i + count > n:
            raise ValueError(f"ESC/POS command at byte {i} is cut short")
        return data[i:i + count]

    def flush_line() -> None:
        nonlocal line
        if not line:
            paper.y += LINE_DOTS
            return
        height = max(CELL_H * s.height for _, s in line)
        width = sum(CELL_W * s.width for _, s in line)
        img = Image.new("1", (min(width, dots), height), 1)
        x = 0
        for ch, s in line:
            cell = glyphs.cell(ch, s.bold)
            if s.reverse:
                cell = Image.eval(cell.convert("L"), lambda v: 255 - v).convert("1")
            cell = cell.resize((CELL_W * s.width, CELL_H * s.height), Image.Resampling.NEAREST)
            img.paste(cell, (x, height - cell.height))
            x += cell.width
        paper.put(img, line[0][1].align)
        paper.y += max(LINE_DOTS, height)
        line = []

    while i < n:
        b = data[i]
        if b == 0x0A:
            flush_line()
            i += 1
        elif 0x20 <= b <= 0x7E:
            s = _Style(style.align, style.bold, style.reverse, style.width, style.height)
            if line and (sum(CELL_W * c.width for _, c in line) + CELL_W * s.width > dots):
                flush_line()  # the printer wraps a line that runs off the paper
            line.append((chr(b), s))
            i += 1
        elif b == 0x1B:
            op = need(2)[1:2]
            if op == b"@":
                style = _Style()
                i += 2
            elif op == b"a":
                value = need(3)[2]
                style.align = value - 48 if value >= 48 else value  # 0-2 or "0"-"2"
                if style.align not in (0, 1, 2):
                    raise ValueError(f"ESC a {value} at byte {i}")
                i += 3
            elif op == b"E":
                style.bold = bool(need(3)[2] & 1)
                i += 3
            elif op == b"d":
                if line:
                    flush_line()
                paper.y += LINE_DOTS * need(3)[2]
                i += 3
            else:
                raise ValueError(f"unsupported ESC/POS command ESC {op!r} at byte {i}")
        elif b == 0x1D:
            op = need(2)[1:2]
            if op == b"!":
                m = need(3)[2]
                style.width, style.height = (m >> 4) + 1, (m & 0x0F) + 1
                i += 3
            elif op == b"B":
                style.reverse = bool(need(3)[2] & 1)
                i += 3
            elif op == b"v":
                head = need(8)
                if head[2] not in (0x00, 0x30) or head[3] not in (0, 48):
                    raise ValueError(f"unsupported raster mode at byte {i}")
                if line:
                    raise ValueError(f"raster image at byte {i} follows unprinted text")
                row, rows = head[4] + 256 * head[5], head[6] + 256 * head[7]
                i += 8
                pixels = need(row * rows)
                i += row * rows
                # In GS v 0 a 1 bit is a black dot; in a Pillow "1" image 0 is black.
                image = Image.frombytes("1", (row * 8, rows), bytes(255 - p for p in pixels))
                paper.put(image, style.align)
                paper.y += rows
            elif op == b"(":
                head = need(5)
                if head[2:3] != b"k":
                    raise ValueError(f"unsupported ESC/POS command GS ( {head[2:3]!r} at byte {i}")
                size = head[3] + 256 * head[4]
                body = need(5 + size)[5:]
                i += 5 + size
                if body[:1] != b"1":
                    raise ValueError(f"GS ( k for a symbol other than QR at byte {i}")
                fn = body[1]
                if fn == 67:
                    qr["module"] = body[2]
                elif fn == 69:
                    qr["ec"] = body[2]
                elif fn == 80:
                    qr["data"] = body[3:]
                elif fn == 81:
                    if line:
                        flush_line()
                    image = _qr(qr["data"], qr["module"], qr["ec"])
                    paper.put(image, style.align)
                    paper.y += image.height
                elif fn != 65:
                    raise ValueError(f"unsupported QR function {fn} at byte {i}")
            elif op == b"V":
                if line:
                    flush_line()
                break  # the cut: this ticket ends here
            else:
                raise ValueError(f"unsupported ESC/POS command GS {op!r} at byte {i}")
        else:
            raise ValueError(f"unexpected byte 0x{b:02x} at byte {i}")
    if line:
        flush_line()
    return paper.picture()


def _qr(payload: bytes, module: int, ec: int) -> Image.Image:
    code = qrcode.QRCode(error_correction=_EC.get(ec, qrcode.constants.ERROR_CORRECT_M),
                         border=0, box_size=module)
    code.add_data(payload)
    code.make(fit=True)
    return matrix_image(code.get_matrix(), module)
