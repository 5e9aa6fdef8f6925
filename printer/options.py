"""What a kiosk knows about its printer model: paper, printable width, QR, status.

Cheap clone printers differ from Epson's in ways a program cannot ask about,
so a center (``[printer]`` in its TOML file) or a kiosk's command line says
them.  This module imports nothing heavy: the server validates the center
file against the same values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

PAPER_MM = (58, 80)
#: Usual printable width in dots at 203 dpi: 48 mm of 58 mm paper, 72 mm of 80 mm paper.
#: Some 80 mm printers print only 64 mm (512 dots): set ``dots``.
DEFAULT_DOTS = {58: 384, 80: 576}
#: "native": the printer draws the QR code (GS ( k); "raster": we send it as an
#: image, for printers without GS ( k (many Xprinter, Rongta … clones).
QR_MODES = ("native", "raster")
#: "command": ESC a centers images (Epson, HPRT, most clones); "padded": blank
#: dots are sent to center them, for printers that ignore ESC a for images.
IMAGE_ALIGNS = ("command", "padded")
#: Settings a center may give in ``[printer]`` and a kiosk on its command line.
SETTINGS = ("paper", "dots", "qr", "image_align", "check_status")


def dots_problem(dots: Any, paper_mm: int) -> str | None:
    """Why ``dots`` is not a usable printable width on ``paper_mm`` paper (None if it is)."""
    if isinstance(dots, bool) or not isinstance(dots, int):
        return f"must be a whole number of dots, not {dots!r}"
    if dots % 8:
        return f"must be a multiple of 8 (GS v 0 sends 8 dots per byte), not {dots}"
    top = paper_mm * 8  # 203 dpi = 8 dots/mm: never wider than the paper itself
    if not 256 <= dots <= top:
        return f"must be between 256 and {top} for {paper_mm} mm paper, not {dots}"
    return None


@dataclass(frozen=True)
class PrinterOptions:
    """How to print on one printer model.

    ``dots`` is the printable width (None: 384 for 58 mm, 576 for 80 mm);
    ``check_status`` asks DLE EOT before printing where the connection can
    answer (a printer that never answers still gets its ticket).
    """

    paper_mm: int = 80
    dots: int | None = None
    qr: str = "native"
    image_align: str = "command"
    check_status: bool = True

    def __post_init__(self) -> None:
        if self.paper_mm not in PAPER_MM:
            raise ValueError(f"paper width must be 58 or 80 mm, not {self.paper_mm!r}")
        if self.dots is not None and (problem := dots_problem(self.dots, self.paper_mm)):
            raise ValueError(f"printable width {problem}")
        if self.qr not in QR_MODES:
            raise ValueError(f"qr must be one of {', '.join(QR_MODES)}, not {self.qr!r}")
        if self.image_align not in IMAGE_ALIGNS:
            raise ValueError(f"image_align must be one of {', '.join(IMAGE_ALIGNS)}, "
                             f"not {self.image_align!r}")

    @property
    def width(self) -> int:
        """The printable width in dots."""
        return self.dots or DEFAULT_DOTS[self.paper_mm]

    @classmethod
    def from_settings(cls, *layers: Mapping[str, Any] | None) -> "PrinterOptions":
        """Options from settings dicts (keys of :data:`SETTINGS`), later layers winning.

        The kiosk passes the center's ``printer`` settings, then its own
        command-line choices; a None value in a layer means "not given".
        Unknown keys are ignored (a newer server may know more settings).
        """
        merged: dict[str, Any] = {}
        for layer in layers:
            given = {k: v for k, v in (layer or {}).items() if k in SETTINGS and v is not None}
            if "paper" in given and "dots" not in given:
                merged.pop("dots", None)  # a width belongs to its paper
            merged.update(given)
        if "paper" in merged:
            merged["paper_mm"] = merged.pop("paper")
        return cls(**merged)

    def replace(self, **changes: Any) -> "PrinterOptions":
        """A copy with some options changed."""
        return dataclasses.replace(self, **changes)
