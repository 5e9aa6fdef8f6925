"""``motcua print-preview``: write a PNG of a sample ticket (center setup, README)."""

from __future__ import annotations

import argparse
from datetime import datetime
from zoneinfo import ZoneInfo

from .ticket import TicketSlip, write_png


def sample_slip(language: str = "vi") -> TicketSlip:
    """A realistic ticket with the longest common Vietnamese texts, for previews."""
    return TicketSlip(
        center="Trung tâm Phục vụ Hành chính công tỉnh Quảng Ninh",
        number="A023",
        department="Sở Tư pháp",
        procedure="Đăng ký kết hôn có yếu tố nước ngoài",
        ahead=7,
        wait_minutes=25,
        issued_at=datetime(2025, 11, 21, 8, 15, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")),
        counters=["Quầy 1", "Quầy 4"],
        qr="https://motcua.example/ve/A023",
        footer="Xin cảm ơn! Vui lòng chờ gọi số." if language == "vi"
        else "Thank you! Please wait for your number to be called.",
        priority="Người cao tuổi",
        language=language,
    )


def preview(out: str, paper_mm: int = 80, language: str = "vi") -> None:
    """Write a PNG of the sample ticket to ``out`` for 58 or 80 mm paper."""
    write_png(sample_slip(language), out, paper_mm)


def main_preview(argv: list[str] | None = None) -> int:
    """Command-line entry: ``print-preview --out ticket.png [--paper 58|80] [--lang vi|en]``."""
    parser = argparse.ArgumentParser(prog="motcua print-preview",
                                     description="Write a PNG of a sample queue ticket.")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--paper", type=int, choices=(58, 80), default=80,
                        help="paper width in mm (default 80)")
    parser.add_argument("--lang", choices=("vi", "en"), default="vi",
                        help="language of the fixed labels (default vi)")
    args = parser.parse_args(argv)
    preview(args.out, args.paper, args.lang)
    print(f"wrote {args.out} ({args.paper} mm)")
    return 0
