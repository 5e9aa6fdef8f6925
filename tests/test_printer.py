"""Tests for printer/: ESC/POS bytes, fonts, PNG preview, connections and status.

Printer output is checked from the bytes, read back by this file's own small
ESC/POS decoder (not by printer.emulator, which the preview uses)."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import sys
import time
import unicodedata
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import qrcode
import zxingcpp
from escpos.printer import Dummy, Serial
from fontTools import subset
from fontTools.ttLib import TTFont
from PIL import Image

from motcua.printer import (
    VIETNAMESE_LETTERS,
    PrinterOptions,
    PrinterSpec,
    TicketSlip,
    find_font,
    missing_vietnamese_glyphs,
    open_printer,
    parse_printer_spec,
    print_ticket,
    render,
    strip_diacritics,
    ticket_bytes,
    ticket_chunks,
    write_png,
)
from motcua.printer import emulator
from motcua.printer import fonts as fonts_mod
from motcua.printer import raster as raster_mod
from motcua.printer.cli import main_preview, preview_slip

try:  # tests/ may or may not become a package; support both import styles
    from tests.escpos_decode import decode, edges, ink_rasters, number_op, page, qr_payloads, texts
    from tests.fake_printer import FakePrinter
except ImportError:  # pragma: no cover
    from escpos_decode import decode, edges, ink_rasters, number_op, page, qr_payloads, texts
    from fake_printer import FakePrinter

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
GS, ESC = b"\x1d", b"\x1b"
DOTS = {58: 384, 80: 576}

# The letters listed in the requirements, typed independently of the code's
# generated list so a mistake in one shows up against the other.
REQUIRED_LOWER = ("ạ ả ấ ầ ẩ ẫ ậ ắ ằ ẳ ẵ ặ ẹ ẻ ẽ ế ề ể ễ ệ ỉ ị ọ ỏ ố ồ ổ ỗ ộ ớ ờ ở ỡ ợ ụ ủ ứ ừ ử "
                  "ữ ự ỳ ỵ ỷ ỹ đ à á â ã è é ê ì í ò ó ô õ ù ú ý ă ĩ ũ ơ ư").split()

VI_FACTS = ("Số người chờ trước: 7", "Thời gian chờ dự kiến: khoảng 25 phút",
            "Quầy phục vụ: Quầy 1, Quầy 4", "Lấy số lúc 08:15 ngày 21/11/2025")


def make_slip(**changes) -> TicketSlip:
    data = dict(
        center="Trung tâm Phục vụ Hành chính công tỉnh Quảng Ninh",
        number="A023",
        department="Sở Tư pháp",
        procedure="Đăng ký kết hôn",
        priority="Ưu tiên: Người cao tuổi",
        number_label="SỐ THỨ TỰ",
        facts=VI_FACTS,
        qr="motcua:2025-11-21:A023:1234",
        footer="Xin cảm ơn! Vui lòng chờ gọi số.",
    )
    data.update(changes)
    return TicketSlip(**data)


def english_slip(**changes) -> TicketSlip:
    data = dict(center="Provincial Public Administration Service Center", number="A023",
                department="Department of Justice", procedure="Marriage registration",
                priority="Priority group: Older people", number_label="YOUR NUMBER",
                facts=("People ahead of you: 7", "Estimated wait: about 15\u201325\u00a0min",
                       "Served at: Counter 1, Counter 4", "Issued at 08:15 on 21/11/2025"),
                qr="motcua:2025-11-21:A023:1234",
                footer="Thank you! Please wait for your number to be called.")
    data.update(changes)
    return TicketSlip(**data)


def out_of(slip: TicketSlip, **options) -> bytes:
    p = Dummy()
    render(slip, p, PrinterOptions(**options))
    return p.output


# ----------------------------------------------------------------- the ticket's bytes

@pytest.mark.parametrize("paper_mm", [58, 80])
def test_render_bytes(paper_mm):
    slip = make_slip()
    out = out_of(slip, paper_mm=paper_mm)

    assert out.startswith(ESC + b"@")
    assert out.endswith(ESC + b"d\x06" + GS + b"V\x00")  # feed past the cutter, full cut
    # The number: native text, magnified and bold, fitting the paper.
    number = number_op(out)
    assert number.text == "A023" and number.width >= 4 and number.tall >= 4 and number.bold
    assert 12 * number.width * 4 <= DOTS[paper_mm]
    # The QR code: drawn by the printer (GS ( k), with our payload.
    assert qr_payloads(out) == [slip.qr]
    # Every Vietnamese line is a bitmap: center (2 lines on 80 mm), rule, department,
    # procedure, priority, label, 4 facts, footer.
    images = ink_rasters(out)
    assert len(images) >= 12
    for op in images:
        assert op.dots <= DOTS[paper_mm]
        assert 0 < op.height < 200
    # No Vietnamese text leaks out as native text (garbled code page on most printers).
    assert texts(out) == ["A023"]


def test_ascii_lines_are_native_text():
    """A line the printer's own font can print is sent as text: a few bytes, not a bitmap."""
    slip = make_slip(facts=("People ahead: 7", "Estimated wait: about 15\u201325\u00a0min",
                            "Lay so luc 08:15"))
    out = out_of(slip)
    assert texts(out) == ["A023", "People ahead: 7", "Estimated wait: about 15-25 min",
                          "Lay so luc 08:15"]
    native = [op for op in decode(out) if op.kind == "text" and op.data][1:]
    assert all(op.align == 0 and op.width == op.tall == 1 for op in native)
    # ...and the Vietnamese ones stay bitmaps: three fewer than with Vietnamese facts.
    assert len(ink_rasters(out)) == len(ink_rasters(out_of(make_slip()))) - 4

    # An English ticket: only the rule is a bitmap.
    out = out_of(english_slip(), paper_mm=80)
    assert len(ink_rasters(out)) == 1
    lines = texts(out)
    assert "Department of Justice" in lines and "Issued at 08:15 on 21/11/2025" in lines
    dept = next(op for op in decode(out) if op.kind == "text" and op.text == "Department of Justice")
    assert dept.bold and dept.tall == 2 and dept.align == 1
    prio = next(op for op in decode(out) if op.kind == "text" and op.text.startswith("Priority"))
    assert prio.reverse and prio.bold
    assert len(out) < 1500


@pytest.mark.parametrize("paper_mm", [58, 80])
@pytest.mark.parametrize("image_align", ["command", "padded"])
def test_bitmaps_are_cropped_to_their_ink(paper_mm, image_align):
    out = out_of(make_slip(), paper_mm=paper_mm, image_align=image_align)
    dots = DOTS[paper_mm]
    images = ink_rasters(out)
    for op in images:
        left, right, top, bottom = edges(op)
        assert top == 0 and bottom == 0, "blank rows are sent as paper feed, not as bitmap"
        assert right < 8, "no blank byte column on the right"
        if image_align == "command":
            assert left < 8, f"{left} blank dots on the left"
        else:
            # Padded: the blank dots on the left are those that center the line.
            assert op.align == 0 and left <= (dots - (op.dots - left - right)) // 2 + 8
    # Short lines are much narrower than the paper.
    assert min(op.dots for op in images) < dots / 2
    if image_align == "command":
        assert sum(op.dots for op in images) < 0.75 * dots * len(images)
    # Nothing blank goes out as a bitmap except the one-byte-wide feeds.
    feeds = [op for op in decode(out) if op.kind == "raster" and op.blank]
    assert feeds and all(op.row_bytes == 1 for op in feeds)


def test_lines_keep_their_spacing():
    """Cropping leaves every line where it was: the feeds replace the blank rows."""
    out = out_of(make_slip(), paper_mm=80)
    ops = [op for op in decode(out) if op.kind == "raster"]
    ys, y = [], 0
    for op in ops:
        if not op.blank:
            ys.append((y, op.height))
        y += op.height
    gaps = [b[0] - (a[0] + a[1]) for a, b in zip(ys, ys[1:])]
    assert all(g >= 2 for g in gaps), gaps  # lines never touch
    # The four fact lines are evenly spaced (same line height, like before cropping).
    facts = [ys[i + 1][0] - ys[i][0] for i in range(len(ys) - 5, len(ys) - 2)]
    assert max(facts) - min(facts) <= 6, facts


def test_raster_qr_is_selectable_and_decodes():
    slip = make_slip(qr="https://hcc.example.gov.vn/ve/Zq3xT0kY")
    native = out_of(slip)
    image = out_of(slip, qr="raster")
    assert GS + b"(k" in native and GS + b"(k" not in image
    assert qr_payloads(image) == []
    assert len(ink_rasters(image)) == len(ink_rasters(native)) + 1
    # Read the printed page back with an independent decoder (zxing-cpp).
    found = zxingcpp.read_barcodes(page(image, 576))
    assert [r.text for r in found] == [slip.qr]
    qr_op = max(ink_rasters(image), key=lambda op: op.height)
    assert qr_op.align == 1 and 150 <= qr_op.height <= 260  # about 25-30 mm
    for paper in (58, 80):
        out = out_of(slip, paper_mm=paper, qr="raster", image_align="padded")
        assert [r.text for r in zxingcpp.read_barcodes(page(out, DOTS[paper]))] == [slip.qr]


def test_512_dot_printable_width():
    slip = make_slip(procedure="Chứng thực chữ ký người dịch là cộng tác viên của Phòng Tư pháp")
    wide, narrow = out_of(slip, dots=576), out_of(slip, dots=512)
    for op in ink_rasters(narrow):
        assert op.dots <= 512 - 8
    assert max(op.dots for op in ink_rasters(wide)) > 512  # the same lines are wider on 576
    assert number_op(narrow).width * 12 * 4 <= 512
    qr = decode(narrow)
    module = next(op for op in qr if op.kind == "qr").module
    assert 25 * module <= 512 - 16
    # Padded centering centers on 512 dots, not 576; left-aligned lines stay left.
    padded = ink_rasters(out_of(slip, dots=512, image_align="padded"))
    assert all(op.align == 0 and op.dots <= 512 for op in padded)
    footer, first_fact = padded[-1], padded[-5]
    left, right, _, _ = edges(footer)
    assert abs(left + (footer.dots - left - right) / 2 - 256) <= 8
    assert edges(first_fact)[0] < 8
    # Native text wraps to 512 / 12 = 42 columns.
    out = out_of(english_slip(footer="Thank you! Please wait for your number to be called, "
                                     "and keep this ticket."), dots=512)
    assert max(len(t) for t in texts(out)) <= 42
    with pytest.raises(ValueError, match="multiple of 8"):
        PrinterOptions(dots=500)
    with pytest.raises(ValueError, match="between 256 and 464"):
        PrinterOptions(paper_mm=58, dots=512)


def test_vietnamese_lines_are_drawn_with_marks():
    """The bitmap of an accented line differs from its unaccented twin (marks are inked)."""
    dept_vi = ink_rasters(out_of(make_slip(department="Sở Tư pháp")))[3]
    dept_ascii = next(op for op in decode(out_of(make_slip(department="So Tu phap")))
                      if op.kind == "text" and op.text == "So Tu phap")
    assert dept_vi.height > 24 and dept_ascii.tall == 2  # bitmap vs native double height
    black = lambda im: im.convert("L").histogram()[0]  # noqa: E731
    plain = ink_rasters(out_of(make_slip(department="Só Tu phap")))[3]
    assert black(dept_vi.image()) > black(plain.image())


def test_long_text_wraps_within_paper():
    long_proc = "Cấp bản sao trích lục hộ tịch, cấp bản sao giấy khai sinh và xác nhận tình trạng hôn nhân"
    out = out_of(make_slip(procedure=long_proc), paper_mm=58)
    lines = ink_rasters(out)
    # center (2 lines on 58 mm), rule, department, then the procedure's lines.
    proc = lines[4:8]
    assert all(op.dots <= 384 for op in proc)
    assert len([op for op in lines if op.height > 15]) >= 14, "the procedure wraps onto 3+ lines"


def test_a_number_stays_with_its_unit():
    out = out_of(make_slip(facts=("Thời gian chờ dự kiến: khoảng 15–25 phút",)), paper_mm=58)
    assert raster_mod.wrap_text("Thời gian chờ dự kiến: khoảng 15–25 phút", len, 36)[-1] == \
        "15–25\u00a0phút"
    # Two lines on 58 mm paper, the second short.
    lines = ink_rasters(out)[-3:-1]
    assert len(ink_rasters(out)) == len(ink_rasters(out_of(make_slip(facts=()), paper_mm=58))) + 2
    assert lines[1].dots < lines[0].dots / 2


def test_optional_parts_absent():
    out = out_of(make_slip(qr=None, priority=None, procedure=None, facts=(), footer=""))
    assert GS + b"(k" not in out
    # center (2 lines), rule, department, "SỐ THỨ TỰ"
    assert len(ink_rasters(out)) == 5
    assert number_op(out).width >= 4


def test_native_qr_needs_no_mask_search(monkeypatch):
    """The printer draws a native QR code itself: building the symbol (and
    trying its eight masks) is wasted work; only the raster path needs it."""
    def no_masks(self):
        raise AssertionError("mask search on the native QR path")

    monkeypatch.setattr(qrcode.QRCode, "best_mask_pattern", no_masks)
    monkeypatch.setattr(qrcode.QRCode, "makeImpl", no_masks)
    out = out_of(make_slip(qr="motcua:2025-11-21:A023:99"))
    assert qr_payloads(out) == ["motcua:2025-11-21:A023:99"]
    with pytest.raises(AssertionError, match="mask search"):
        out_of(make_slip(qr="motcua:2025-11-21:A023:99"), qr="raster")


def test_chunks_stream_from_the_top(monkeypatch):
    """The first chunk (the center's name) is ready before the lines below are drawn."""
    drawn: list[str] = []
    real = raster_mod.text_line_images

    def recording(text, *args, **kwargs):
        drawn.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr("motcua.printer.ticket.text_line_images", recording)
    slip = make_slip(center="Trung tâm thử nghiệm phát trực tiếp",
                     facts=("Số người chờ trước: 314", "Lấy số lúc 09:26 ngày 05/03/2025"))
    chunks = ticket_chunks(slip, PrinterOptions())
    first = next(chunks)
    assert first.startswith(ESC + b"@") and drawn == [slip.center]
    rest = list(chunks)
    assert len(rest) >= 8 and drawn[-2:] == list(slip.facts)
    assert b"".join([first, *rest]) == ticket_bytes(slip, PrinterOptions())


def test_repeated_lines_are_drawn_once(monkeypatch):
    """The next ticket redraws only the lines that changed (number, facts, QR)."""
    ticket_bytes(make_slip(), PrinterOptions())
    drawn: list[str] = []
    real = raster_mod.text_line_images

    def recording(text, *args, **kwargs):
        drawn.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr("motcua.printer.ticket.text_line_images", recording)
    ticket_bytes(make_slip(number="A024", facts=("Số người chờ trước: 8",) + VI_FACTS[1:]),
                 PrinterOptions())
    assert drawn == ["Số người chờ trước: 8"]


def test_bad_options():
    with pytest.raises(ValueError, match="58 or 80"):
        PrinterOptions(paper_mm=76)
    with pytest.raises(ValueError, match="qr must be one of native, raster"):
        PrinterOptions(qr="image")
    with pytest.raises(ValueError, match="image_align"):
        PrinterOptions(image_align="middle")
    opts = PrinterOptions.from_settings({"paper": 80, "dots": 512, "qr": "raster"},
                                        {"paper": 58, "check_status": False, "future": 1})
    assert opts == PrinterOptions(paper_mm=58, dots=None, qr="raster", check_status=False)
    assert opts.width == 384
    assert PrinterOptions.from_settings({"dots": 512}, {"qr": None}).width == 512


def test_slip_validation():
    with pytest.raises(ValueError, match="empty"):
        make_slip(number=" ")
    with pytest.raises(ValueError, match="ASCII"):
        make_slip(number="Ă01")
    assert make_slip(facts=["a", "b"]).facts == ("a", "b")


# ----------------------------------------------------------------- fonts

def test_vietnamese_letter_list_is_complete():
    required = set(REQUIRED_LOWER) | {c.upper() for c in REQUIRED_LOWER}
    assert len(required) == 134
    assert set(VIETNAMESE_LETTERS) == required
    for ch in VIETNAMESE_LETTERS:
        assert unicodedata.normalize("NFC", ch) == ch


@pytest.mark.parametrize("bold", [False, True])
def test_packaged_font_covers_every_vietnamese_letter(bold, monkeypatch):
    monkeypatch.delenv("MOTCUA_FONT", raising=False)
    path = find_font(bold=bold)
    assert path is not None and path.is_file()
    assert "fontpkg_be_vietnam_pro" in str(path)
    cmap = TTFont(str(path))["cmap"].getBestCmap()
    assert [c for c in VIETNAMESE_LETTERS if ord(c) not in cmap] == []
    assert missing_vietnamese_glyphs(path) == []  # and Pillow really draws them


def ascii_only_font(tmp_path):
    """A real font with the Vietnamese letters removed (fontTools subsetter)."""
    src = find_font()
    out = tmp_path / "ascii-only.ttf"
    opts = subset.Options()
    font = subset.load_font(str(src), opts)
    sub = subset.Subsetter(opts)
    sub.populate(text="".join(chr(c) for c in range(0x20, 0x7F)))
    sub.subset(font)
    subset.save_font(font, str(out), opts)
    return out


def test_coverage_check_detects_missing_letters(tmp_path):
    partial = ascii_only_font(tmp_path)
    assert set(missing_vietnamese_glyphs(partial)) == set(VIETNAMESE_LETTERS)


def test_env_font_honoured(monkeypatch):
    bold = find_font(bold=True)
    monkeypatch.setenv("MOTCUA_FONT", str(bold))
    assert find_font() == bold
    assert find_font(bold=True) == bold


def test_env_font_without_vietnamese_is_ignored(tmp_path, monkeypatch, caplog):
    partial = ascii_only_font(tmp_path)
    monkeypatch.setenv("MOTCUA_FONT", str(partial))
    with caplog.at_level(logging.WARNING, logger="printer"):
        path = find_font()
    assert path is not None and path != partial and "fontpkg_be_vietnam_pro" in str(path)
    assert "lacks" in caplog.text and "MOTCUA_FONT" in caplog.text


def test_unaccented_fallback_without_font(tmp_path, monkeypatch, caplog):
    missing = tmp_path / "no-such-font.ttf"
    monkeypatch.setenv("MOTCUA_FONT", str(missing))
    # Simulate the font package not being installed.
    monkeypatch.setitem(sys.modules, fonts_mod.FONT_PACKAGE, None)
    assert find_font() is None

    p = Dummy()
    with caplog.at_level(logging.WARNING, logger="printer"):
        render(make_slip(), p, PrinterOptions(paper_mm=80))
    out = p.output
    assert ink_rasters(out) == []  # everything native (only paper feeds)
    flat = out.replace(b"\n", b" ")  # lines are wrapped to 48 columns
    assert b"Quang\nNinh" in out
    for expected in ("Trung tam Phuc vu Hanh chinh cong tinh Quang Ninh", "So Tu phap",
                     "Dang ky ket hon", "Uu tien: Nguoi cao tuoi", "So nguoi cho truoc: 7",
                     "Thoi gian cho du kien: khoang 25 phut", "Quay phuc vu: Quay 1, Quay 4",
                     "Lay so luc 08:15 ngay 21/11/2025", "Xin cam on! Vui long cho goi so."):
        assert expected.encode("ascii") in flat, expected
    assert number_op(out).width >= 4
    assert qr_payloads(out) == [make_slip().qr]
    assert "does not exist" in caplog.text and str(missing) in caplog.text
    assert "unaccented" in caplog.text


def test_strip_diacritics():
    assert strip_diacritics("Đăng ký kết hôn – Sở Tư pháp") == "Dang ky ket hon - So Tu phap"
    stripped = strip_diacritics(VIETNAMESE_LETTERS)
    assert stripped.isascii() and stripped.isalpha() and len(stripped) == 134


# ----------------------------------------------------------------- PNG preview

@pytest.mark.parametrize("paper_mm", [58, 80])
def test_write_png(tmp_path, paper_mm):
    out = write_png(make_slip(), tmp_path / "t.png", PrinterOptions(paper_mm=paper_mm))
    raw = out.read_bytes()
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    img = Image.open(io.BytesIO(raw))
    assert img.format == "PNG"
    assert img.width == DOTS[paper_mm]
    assert 700 < img.height < 1600
    hist = img.convert("L").histogram()
    assert hist[0] > 0 and hist[255] > hist[0]  # some ink, mostly paper


def test_png_is_drawn_from_the_printer_bytes(tmp_path):
    slip = make_slip()
    opts = PrinterOptions(paper_mm=80, qr="raster")
    out = ticket_bytes(slip, opts)
    png = Image.open(write_png(slip, tmp_path / "t.png", opts)).convert("L")
    # Every bitmap sent appears, dot for dot, in the picture (the department here).
    dept = ink_rasters(out)[3].image().convert("L")
    found = any(png.crop((x, y, x + dept.width, y + dept.height)).tobytes() == dept.tobytes()
                for y in range(png.height - dept.height) for x in (0, (576 - dept.width) // 2))
    assert found
    # The QR code in the picture reads back as the payload sent.
    assert [r.text for r in zxingcpp.read_barcodes(png)] == [slip.qr]
    # The emulator refuses a command tickets do not use, rather than drawing nonsense.
    with pytest.raises(ValueError, match="unsupported"):
        emulator.draw(ESC + b"@" + ESC + b"t\x10", 576)


def _center_file(tmp_path, **printer) -> str:
    """A center file of our own: another name, one department, one procedure."""
    lines = ['[center]', 'name = "Trung tâm Phục vụ Hành chính công xã Tân Lập"',
             'name_en = "Tan Lap Commune Public Service Center"', 'opens = "07:30"',
             'closes = "17:00"', '[[departments]]', 'code = "HT"', 'letter = "H"',
             'vi = "Hộ tịch"', 'en = "Civil status"', '[[departments.procedures]]',
             'code = "HT01"', 'vi = "Đăng ký khai sinh"', 'en = "Birth registration"',
             '[[counters]]', 'number = 3', 'departments = ["HT"]', '[devices]',
             'kiosk = "k-secret"', 'counter = "c-secret"', 'display = "d-secret"',
             'rating = "r-secret"', 'admin = "a-secret"']
    if printer:
        lines.append("[printer]")
        lines += [f"{k} = {v!r}".replace("'", '"') for k, v in printer.items()]
    path = tmp_path / "center.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_preview_slip_comes_from_the_configured_center(tmp_path):
    from motcua.kiosk.model import qr_payload

    # 03:15 on a Sunday in Hà Nội: outside the center's hours, and the preview still works.
    at = datetime(2025, 11, 23, 3, 15, tzinfo=HCM)
    slip, center = preview_slip(_center_file(tmp_path), clock=lambda: at.astimezone(timezone.utc),
                                ahead=2)
    assert slip.center == "Trung tâm Phục vụ Hành chính công xã Tân Lập"
    assert (slip.number, slip.department, slip.procedure) == ("H003", "Hộ tịch",
                                                               "Đăng ký khai sinh")
    assert slip.facts[0] == "Số người chờ trước: 2"
    assert "Quầy 3" in slip.facts[-2] and slip.facts[-1].endswith("03:15 ngày 23/11/2025")
    assert slip.qr == qr_payload({"day": "2025-11-23", "number": "H003", "id": 3})
    english, _ = preview_slip(_center_file(tmp_path), "en", ahead=0)
    assert english.center == "Tan Lap Commune Public Service Center"
    assert english.facts[0] == "People ahead of you: 0"


def test_cli_preview(tmp_path, capsys):
    config = _center_file(tmp_path, qr="raster", dots=512)
    png, raw = tmp_path / "a.png", tmp_path / "a.bin"
    assert main_preview(["--config", config, "--out", str(png), "--escpos", str(raw)]) == 0
    assert Image.open(png).width == 512  # the center's printer settings
    data = raw.read_bytes()
    assert GS + b"(k" not in data  # raster QR, as the center file says
    assert "512 dots" in capsys.readouterr().out
    assert main_preview(["--config", config, "--out", str(png), "--paper", "58",
                         "--lang", "en", "--qr", "native"]) == 0
    assert Image.open(png).width == 384
    assert "Tan Lap" not in capsys.readouterr().err
    assert main_preview(["--config", config, "--out", str(png), "--department", "XX"]) == 2
    assert "XX" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main_preview(["--out", str(png), "--paper", "70"])



# ----------------------------------------------------------------- specs

@pytest.mark.parametrize("spec,expected", [
    ("none", PrinterSpec("none")),
    ("dummy", PrinterSpec("dummy")),
    ("file:/dev/usb/lp0", PrinterSpec("file", path="/dev/usb/lp0")),
    ("/dev/usb/lp1", PrinterSpec("file", path="/dev/usb/lp1")),
    ("tcp:192.0.2.10:9100", PrinterSpec("tcp", host="192.0.2.10", port=9100)),
    ("tcp:printer.local", PrinterSpec("tcp", host="printer.local", port=9100)),
    ("192.0.2.10:9101", PrinterSpec("tcp", host="192.0.2.10", port=9101)),
    ("tcp:[::1]:9100", PrinterSpec("tcp", host="::1", port=9100)),
    ("usb:04b8:0202", PrinterSpec("usb", vendor=0x04B8, product=0x0202)),
    ("usb:0x0416:0x5011:81:03", PrinterSpec("usb", vendor=0x0416, product=0x5011, in_ep=0x81,
                                            out_ep=0x03)),
    ("serial:/dev/ttyUSB0", PrinterSpec("serial", path="/dev/ttyUSB0", baudrate=9600)),
    ("serial:/dev/ttyS1:115200", PrinterSpec("serial", path="/dev/ttyS1", baudrate=115200)),
])
def test_parse_spec(spec, expected):
    assert parse_printer_spec(spec) == expected


@pytest.mark.parametrize("spec,message", [
    ("", "empty"),
    ("lpt1", "unknown printer spec"),
    ("tcp:", "tcp:HOST"),
    ("tcp:host:99999", "port"),
    ("host:0", "port"),
    ("usb:04b8", "usb:VVVV:PPPP"),
    ("usb:zz:0202", "vendor id"),
    ("usb:04b8:12345", "product id"),
    ("serial:", "serial:/dev/ttyUSB0"),
    ("serial:/dev/ttyUSB0:fast", "baud"),
    ("file:", "path"),
])
def test_parse_spec_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_printer_spec(spec)


def test_open_printer_kinds(tmp_path):
    assert open_printer("none") is None
    assert isinstance(open_printer("dummy"), Dummy)
    f = open_printer(f"file:{tmp_path / 'out.bin'}")
    try:
        assert f.devfile == str(tmp_path / "out.bin")
    finally:
        f.close()


# ----------------------------------------------------------------- print_ticket
# ----------------------------------------------------------------- print_ticket

def test_print_ticket_none_and_bad_spec():
    r = print_ticket(make_slip(), "none")
    assert (r.ok, r.problem, r.detail) == (True, None, "no printer configured")
    r = print_ticket(make_slip(), "tcp:")
    assert (r.ok, r.problem) == (False, "error") and "tcp:HOST" in r.detail


def test_print_ticket_to_file(tmp_path):
    target = tmp_path / "lp0"
    r = print_ticket(make_slip(), f"file:{target}", PrinterOptions(paper_mm=58))
    assert r.ok and r.problem is None and r.status == "unchecked"
    data = target.read_bytes()
    assert number_op(data).text == "A023" and qr_payloads(data)
    assert max(op.dots for op in ink_rasters(data)) <= 384
    r = print_ticket(make_slip(), str(target))  # bare path form
    assert r.ok


def test_print_ticket_missing_device_is_offline(tmp_path):
    r = print_ticket(make_slip(), f"file:{tmp_path / 'no-dir' / 'lp0'}")
    assert (r.ok, r.problem) == (False, "offline")


def test_print_ticket_missing_serial_port(tmp_path):
    r = print_ticket(make_slip(), f"serial:{tmp_path / 'ttyNOPE'}:19200", timeout=0.5)
    assert not r.ok
    assert r.problem == ("offline" if Serial.is_usable() else "error")


def test_print_ticket_usb_without_device_does_not_raise():
    # No such USB printer here (and maybe no libusb): a failed result, never an exception.
    r = print_ticket(make_slip(), "usb:04b8:0e15", timeout=0.5)
    assert not r.ok and r.problem in ("offline", "error") and r.detail


@pytest.fixture
def fake_printer():
    started: list[FakePrinter] = []

    def factory(mode: str = "ok") -> FakePrinter:
        fp = FakePrinter(mode).start()
        started.append(fp)
        return fp

    yield factory
    for fp in started:
        fp.stop()


@pytest.fixture
def fake_printer_asb():
    fp = FakePrinter("ok", asb=True).start()
    yield fp
    fp.stop()


@pytest.mark.parametrize("form", ["tcp", "bare"])
def test_tcp_print_ok(fake_printer, form):
    fp = fake_printer("ok")
    spec = fp.spec if form == "tcp" else f"127.0.0.1:{fp.port}"
    r = print_ticket(make_slip(), spec, PrinterOptions(paper_mm=80), timeout=3)
    assert (r.ok, r.problem, r.paper_low, r.status) == (True, None, False, "online"), r.detail
    assert fp.wait_for_jobs(1)
    job = fp.jobs[0]
    assert job.startswith(b"\x10\x04\x01\x10\x04\x04")  # status asked before printing
    ticket = job[6:]
    assert number_op(ticket).text == "A023" and number_op(ticket).width >= 4
    assert qr_payloads(ticket) == [make_slip().qr]
    assert max(op.dots for op in ink_rasters(ticket)) <= 576
    assert job.endswith(GS + b"V\x00")  # the whole ticket arrived, up to the cut


def test_tcp_whole_ticket_arrives_from_chatty_printer(fake_printer_asb):
    """A printer that sends unsolicited status (ASB) must still get the whole ticket.

    Closing a socket with unread incoming bytes makes Linux send RST and drop
    what the printer has not read yet; print_ticket must drain before closing.
    """
    for n in range(3):
        r = print_ticket(make_slip(number=f"B00{n}"), fake_printer_asb.spec,
                         PrinterOptions(check_status=False), timeout=3)
        assert r.ok, r.detail
    assert fake_printer_asb.wait_for_jobs(3)
    for n, job in enumerate(fake_printer_asb.jobs):
        assert f"B00{n}".encode() in job
        assert job.endswith(GS + b"V\x00"), f"ticket {n} truncated at {len(job)} bytes"


def test_tcp_paper_out(fake_printer):
    fp = fake_printer("paper_out")
    r = print_ticket(make_slip(), fp.spec, timeout=3)
    assert (r.ok, r.problem) == (False, "paper_out")
    assert fp.wait_for_jobs(1)
    assert b"A023" not in fp.received  # nothing printed into an empty printer


def test_tcp_offline(fake_printer):
    fp = fake_printer("offline")
    r = print_ticket(make_slip(), fp.spec, timeout=3)
    assert (r.ok, r.problem) == (False, "offline")


def test_tcp_paper_low_still_prints(fake_printer):
    fp = fake_printer("paper_low")
    r = print_ticket(make_slip(), fp.spec, timeout=3)
    assert r.ok and r.paper_low and "near end" in r.detail
    assert fp.wait_for_jobs(1) and b"A023" in fp.received


def test_tcp_silent_printer_prints_with_status_unknown(fake_printer):
    """A printer that never answers DLE EOT (many cheap ones) still gets its ticket."""
    fp = fake_printer("silent")
    t0 = time.monotonic()
    r = print_ticket(make_slip(), fp.spec, timeout=3, status_wait=0.3)
    elapsed = time.monotonic() - t0
    assert (r.ok, r.problem, r.status) == (True, None, "unknown"), r.detail
    assert "status unknown" in r.detail
    assert elapsed < 2.5  # waited for one answer, not for the 3 s timeout
    assert fp.wait_for_jobs(1)
    job = fp.jobs[0]
    assert fp.status_queries == [1]  # no second question after no answer to the first
    assert job.startswith(b"\x10\x04\x01" + ESC + b"@") and job.endswith(GS + b"V\x00")
    assert number_op(job[3:]).text == "A023"
    # Without the status check the same printer gets the ticket, and nothing is asked.
    fp.clear()
    r = print_ticket(make_slip(), fp.spec, PrinterOptions(check_status=False), timeout=3)
    assert (r.ok, r.status) == (True, "unchecked")
    assert fp.wait_for_jobs(1) and fp.jobs[0].startswith(ESC + b"@")
    assert fp.status_queries == []


def test_tcp_printer_without_paper_sensor(fake_printer):
    fp = fake_printer("online_only")
    r = print_ticket(make_slip(), fp.spec, timeout=3, status_wait=0.3)
    assert (r.ok, r.status) == (True, "unknown") and "paper sensor" in r.detail
    assert fp.wait_for_jobs(1) and b"A023" in fp.jobs[0]


def test_tcp_connection_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    r = print_ticket(make_slip(), f"tcp:127.0.0.1:{port}", timeout=1)
    assert (r.ok, r.problem) == (False, "offline")


def test_paper_runs_out_between_tickets(fake_printer):
    fp = fake_printer("ok")
    assert print_ticket(make_slip(), fp.spec, timeout=3).ok
    fp.mode = "paper_out"
    assert print_ticket(make_slip(number="A024"), fp.spec, timeout=3).problem == "paper_out"
    fp.mode = "ok"
    assert print_ticket(make_slip(number="A025"), fp.spec, timeout=3).ok
    assert fp.wait_for_jobs(3)
    assert [b"A02%d" % n in job for n, job in zip((3, 4, 5), fp.jobs)] == [True, False, True]


async def test_print_from_event_loop(fake_printer):
    """The kiosk calls print_ticket in a worker thread; the loop stays free meanwhile."""
    fp = fake_printer("ok")
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        r = await asyncio.to_thread(print_ticket, make_slip(), fp.spec,
                                    PrinterOptions(paper_mm=58), 3.0)
    finally:
        task.cancel()
    assert r.ok and ticks > 0
    assert fp.wait_for_jobs(1) and b"A023" in fp.jobs[0]
