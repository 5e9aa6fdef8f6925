"""Drawing text lines into 1-bit images, and cropping them to their ink.

A line is drawn as wide as the paper, then cut down to the dots that carry
ink: every byte sent to the printer costs time (about 1 ms at 9,600 baud), and
blank paper is free.
"""

from __future__ import annotations

import functools
import re

from PIL import Image, ImageDraw, ImageFont

#: Printable width in dots of common ESC/POS thermal printers (203 dpi, 8 dots/mm):
#: 58 mm paper prints 48 mm wide, 80 mm paper prints 72 mm wide.
PAPER_DOTS = {58: 384, 80: 576}

#: Blank dots kept at each side of a text line so nothing touches the paper edge.
SIDE_MARGIN = 8

# Tallest stacked Vietnamese capitals and deepest descenders: measuring these once
# gives every line the same height, so marks like the ngã over "Ễ" are never clipped
# and lines do not jump around depending on their content.
_PROBE = "ẪẴỄỖỠỮỸẤẰÂĂÊgjpqyỵỹ"
_LINE_GAP = 4
# Pillow anti-aliases glyphs; a threshold a little above the middle keeps thin
# strokes (and the small hook/dot marks) rather than eroding them.
_INK_THRESHOLD = 160


_NUMBER_SPACE = re.compile(r"(\d) (?=[^\W\d_])")
_NEGATIVE = [255 - v for v in range(256)]


def paper_dots(paper_mm: int) -> int:
    """Return the usual printable width in dots for 58 or 80 mm paper (ValueError otherwise)."""
    try:
        return PAPER_DOTS[int(paper_mm)]
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"paper width must be 58 or 80 mm, not {paper_mm!r}") from None


def ink_box(img: Image.Image) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the black dots of a 1-bit image; None if blank."""
    # getbbox() finds non-zero pixels, and ink is 0: look at the negative.
    return img.convert("L").point(_NEGATIVE).getbbox()


def crop_to_ink(img: Image.Image) -> tuple[Image.Image, int, int] | None:
    """Cut a 1-bit image down to its ink: (image, blank rows above, blank rows below).

    The width is rounded up to whole bytes (GS v 0 sends 8 dots per byte), with
    the extra dots blank on the right.  None if the image has no ink.
    """
    box = ink_box(img)
    if box is None:
        return None
    left, top, right, bottom = box
    width = (right - left + 7) // 8 * 8
    out = Image.new("1", (width, bottom - top), 1)
    out.paste(img.crop((left, top, right, bottom)), (0, 0))
    return out, top, img.height - bottom


def wrap_text(text: str, measure, max_width: float) -> list[str]:
    """Greedy word-wrap ``text`` so ``measure(line) <= max_width``.

    ``measure`` returns a line's width (pixels for bitmaps, characters for native
    text).  Explicit newlines start new lines; a word longer than a whole line is
    broken between characters rather than running off the paper.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        # A number stays with the word after it ("25 phút", "15–25 phút"), and a
        # no-break space (U+00A0) is never a break: only plain spaces split.
        paragraph = _NUMBER_SPACE.sub("\\1\u00a0", paragraph)
        words = [w for w in paragraph.split(" ") if w]
        if words and measure(" ".join(words)) <= max_width:
            lines.append(" ".join(words))  # the usual case: one measurement
            continue
        if not words:
            lines.append("")
            continue
        current = ""
        for word in words:
            trial = f"{current} {word}" if current else word
            if measure(trial) <= max_width:
                current = trial
                continue
            if current:
                lines.append(current)
                current = ""
            # The word alone may still be too wide: split it by characters.
            while measure(word) > max_width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and measure(word[:cut]) > max_width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        lines.append(current)
    return lines


@functools.lru_cache(maxsize=64)
def load_font(path, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Load the TrueType font at ``path`` in ``size`` px, or Pillow's built-in font if None.

    Cached: a ticket uses a handful of (font, size) pairs, and opening the font
    file again for every line costs more than drawing the line.
    """
    if path is None:
        # Only used by the PNG preview when no Vietnamese font exists (text is
        # unaccented then); Pillow >= 10.1 ships a scalable default font.
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(path), size)


def text_image(
    text: str,
    font,
    width: int,
    *,
    align: str = "left",
    invert: bool = False,
    bold_stroke: int = 0,
    pad_top: int = 0,
    pad_bottom: int = 0,
) -> Image.Image:
    """Render ``text`` word-wrapped into a 1-bit image exactly ``width`` dots wide.

    ``align`` is "left", "center" or "right"; ``invert`` prints white on black
    (used to make the priority label stand out); ``bold_stroke`` thickens glyphs
    when no separate bold font file exists.  Black = ink.
    """
    inner = width - 2 * SIDE_MARGIN - (16 if invert else 0)
    lines = wrap_text(text, lambda s: font.getlength(s) + 2 * bold_stroke, inner)
    above, line_h = _line_metrics(font, bold_stroke)
    box_pad = 6 if invert else 0
    height = pad_top + pad_bottom + 2 * box_pad + line_h * len(lines)
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    ink = 255 if invert else 0
    if invert:
        widest = max(font.getlength(line) for line in lines) + 2 * bold_stroke
        box_w = min(width - 2 * SIDE_MARGIN, int(widest) + 32)
        x0 = {"left": SIDE_MARGIN, "right": width - SIDE_MARGIN - box_w}.get(
            align, (width - box_w) // 2)
        draw.rectangle((x0, pad_top, x0 + box_w - 1, height - pad_bottom - 1), fill=0)
    for i, line in enumerate(lines):
        w = font.getlength(line) + 2 * bold_stroke
        if align == "center":
            x = (width - w) / 2
        elif align == "right":
            x = width - SIDE_MARGIN - w
        else:
            x = SIDE_MARGIN + (8 if invert else 0)
        y = pad_top + box_pad + i * line_h + above
        draw.text((x + bold_stroke, y), line, font=font, fill=ink, anchor="ls",
                  stroke_width=bold_stroke, stroke_fill=ink)
    return to_1bit(img)


def text_line_images(text: str, font, width: int, *, align: str = "left",
                     bold_stroke: int = 0) -> list[Image.Image]:
    """Word-wrap ``text`` like :func:`text_image`, one ``width``-wide image per line.

    Every line has the same height (room for stacked marks and descenders),
    so lines keep their spacing once each is cropped to its own ink.
    """
    lines = wrap_text(text, lambda s: font.getlength(s) + 2 * bold_stroke,
                      width - 2 * SIDE_MARGIN)
    above, line_h = _line_metrics(font, bold_stroke)
    out = []
    for line in lines:
        img = Image.new("L", (width, line_h), 255)
        w = font.getlength(line) + 2 * bold_stroke
        x = {"center": (width - w) / 2, "right": width - SIDE_MARGIN - w}.get(align, SIDE_MARGIN)
        ImageDraw.Draw(img).text((x + bold_stroke, above), line, font=font, fill=0, anchor="ls",
                                 stroke_width=bold_stroke, stroke_fill=0)
        out.append(to_1bit(img))
    return out


@functools.lru_cache(maxsize=64)
def _line_metrics(font, bold_stroke: int) -> tuple[int, int]:
    # (baseline from the top, line height), from the tallest and deepest letters.
    left, top, right, bottom = font.getbbox(_PROBE, anchor="ls")
    above = -top + bold_stroke
    return above, above + bottom + bold_stroke + _LINE_GAP


_THRESHOLD_TABLE = [255 if v >= _INK_THRESHOLD else 0 for v in range(256)]


def to_1bit(img: Image.Image) -> Image.Image:
    """Threshold a greyscale image to pure black/white without dithering.

    Dithering makes text look grainy on a thermal head; a hard threshold keeps
    glyph edges crisp.
    """
    return img.convert("L").point(_THRESHOLD_TABLE).convert("1", dither=Image.Dither.NONE)


def rule_image(width: int, thickness: int = 2, pad: int = 6) -> Image.Image:
    """A horizontal separator line as a 1-bit image ``width`` dots wide."""
    img = Image.new("1", (width, thickness + 2 * pad), 1)
    ImageDraw.Draw(img).rectangle(
        (SIDE_MARGIN, pad, width - SIDE_MARGIN - 1, pad + thickness - 1), fill=0)
    return img


def matrix_image(matrix: list[list[bool]], module: int) -> Image.Image:
    """A 1-bit image of a QR matrix, ``module`` dots per module, no border."""
    side = len(matrix) * module
    img = Image.new("1", (side, side), 1)
    draw = ImageDraw.Draw(img)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                x, y = c * module, r * module
                draw.rectangle((x, y, x + module - 1, y + module - 1), fill=0)
    return img
