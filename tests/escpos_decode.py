"""Reading ESC/POS bytes back, for tests: what a printer would print from them.

Written apart from printer.emulator (which draws the preview) so that tests do
not check the printer code with its own reading of the bytes.  It accepts only
the commands tickets are made of and fails on anything else.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

GS, ESC = b"\x1d", b"\x1b"


@dataclass
class Op:
    """One printed thing: a raster image, a line of native text, a QR code."""

    kind: str                       # "raster" | "text" | "qr"
    align: int = 0                  # ESC a in force: 0 left, 1 center, 2 right
    data: bytes = b""               # raster dots / text / QR payload
    row_bytes: int = 0              # raster: bytes per row
    height: int = 0                 # raster: rows
    width: int = 1                  # text magnification (GS !)
    tall: int = 1
    bold: bool = False
    reverse: bool = False
    module: int = 0                 # QR module size

    @property
    def dots(self) -> int:
        return self.row_bytes * 8

    @property
    def blank(self) -> bool:
        return not any(self.data)

    def image(self) -> Image.Image:
        # In GS v 0 a set bit is a printed (black) dot; in a PIL "1" image 0 is black.
        return Image.frombytes("1", (self.dots, self.height), bytes(b ^ 0xFF for b in self.data))

    @property
    def text(self) -> str:
        return self.data.decode("ascii")


def decode(out: bytes) -> list[Op]:
    """The ops a printer prints from ``out``; fails on any command tickets should not use."""
    ops: list[Op] = []
    align, width, tall, bold, reverse = 0, 1, 1, False, False
    qr = {"module": 0, "data": b""}
    line = bytearray()
    i = 0
    while i < len(out):
        b = out[i]
        if b == 0x0A:
            ops.append(Op("text", align, bytes(line), width=width, tall=tall, bold=bold,
                          reverse=reverse))
            line.clear()
            i += 1
        elif 0x20 <= b < 0x7F:
            line.append(b)
            i += 1
        elif out[i:i + 2] == ESC + b"@":
            align, width, tall, bold, reverse = 0, 1, 1, False, False
            i += 2
        elif out[i:i + 2] == ESC + b"a":
            align = out[i + 2] % 48
            i += 3
        elif out[i:i + 2] == ESC + b"E":
            bold = bool(out[i + 2])
            i += 3
        elif out[i:i + 2] == ESC + b"d":
            i += 3
        elif out[i:i + 2] == GS + b"!":
            width, tall = (out[i + 2] >> 4) + 1, (out[i + 2] & 15) + 1
            i += 3
        elif out[i:i + 2] == GS + b"B":
            reverse = bool(out[i + 2])
            i += 3
        elif out[i:i + 3] == GS + b"v0":
            assert not line, "raster image while text waits in the line buffer"
            m, xl, xh, yl, yh = out[i + 3:i + 8]
            assert m in (0, 48)
            wb, h = xl + 256 * xh, yl + 256 * yh
            data = out[i + 8:i + 8 + wb * h]
            assert len(data) == wb * h and wb > 0 and h > 0, "truncated raster data"
            ops.append(Op("raster", align, data, row_bytes=wb, height=h))
            i += 8 + wb * h
        elif out[i:i + 3] == GS + b"(k":
            n = out[i + 3] + 256 * out[i + 4]
            body = out[i + 5:i + 5 + n]
            assert len(body) == n and body[:1] == b"1"
            if body[1] == ord("C"):
                qr["module"] = body[2]
            elif body[1] == ord("P"):
                qr["data"] = body[3:]
            elif body[1] == ord("Q"):
                ops.append(Op("qr", align, qr["data"], module=qr["module"]))
            i += 5 + n
        elif out[i:i + 2] == GS + b"V":
            ops.append(Op("cut"))
            i += 3
        else:
            raise AssertionError(f"unexpected byte 0x{b:02x} at {i}: {out[i:i + 8]!r}")
    return ops


def ink_rasters(out: bytes) -> list[Op]:
    return [op for op in decode(out) if op.kind == "raster" and not op.blank]


def texts(out: bytes) -> list[str]:
    return [op.text for op in decode(out) if op.kind == "text" and op.data]


def number_op(out: bytes) -> Op:
    return max((op for op in decode(out) if op.kind == "text"), key=lambda op: op.width)


def qr_payloads(out: bytes) -> list[str]:
    return [op.text for op in decode(out) if op.kind == "qr"]


def page(out: bytes, dots: int) -> Image.Image:
    """The printed rasters stacked as the paper shows them (native text left out)."""
    ops = [op for op in decode(out) if op.kind == "raster"]
    img = Image.new("1", (dots, sum(op.height for op in ops) + 40), 1)
    y = 20
    for op in ops:
        x = {0: 0, 1: (dots - op.dots) // 2, 2: dots - op.dots}[op.align]
        assert x >= 0, "image wider than the paper"
        img.paste(op.image(), (x, y))
        y += op.height
    return img


def edges(op: Op) -> tuple[int, int, int, int]:
    """Blank dots left, right, and blank rows top, bottom of a raster image."""
    img = op.image().convert("L").point(lambda v: 255 - v)
    left, top, right, bottom = img.getbbox()
    return left, op.dots - right, top, op.height - bottom
