"""Finding a font that can draw Vietnamese, and the unaccented fallback.

Thermal printers' built-in fonts and code pages cover Vietnamese only on some
models, so the ticket's Vietnamese lines are drawn to a bitmap with Pillow.  That
needs a TrueType font with every Vietnamese letter.  The font ships with the
``fontpkg-be-vietnam-pro`` PyPI package (a dependency of motcua, so it is there
after ``pip install``); an operator can point ``MOTCUA_FONT`` at another file.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import threading
import unicodedata
from pathlib import Path

from PIL import ImageFont

from motcua.i18n import unaccent

log = logging.getLogger(__name__)

#: Environment variable an operator sets to use a font file of their choice.
FONT_ENV_VAR = "MOTCUA_FONT"

#: The PyPI package (import name) that ships the default font.
FONT_PACKAGE = "fontpkg_be_vietnam_pro"
#: Medium rather than Regular for body text: a 203 dpi thermal head loses the
#: thinnest strokes and diacritics of a Regular weight at ~3 mm text size.
FONT_FILE_REGULAR = "files/BeVietnamPro-Medium.ttf"
FONT_FILE_BOLD = "files/BeVietnamPro-Bold.ttf"


def _vietnamese_letters() -> str:
    """Build every Vietnamese letter that is not plain ASCII, lower and upper case.

    Built from the 12 vowels x 5 tone marks (plus the 6 toneless modified
    vowels and đ) instead of typed by hand, so no letter can be forgotten.
    """
    vowels = "aăâeêioôơuưy"
    tones = ["", "\u0300", "\u0309", "\u0303", "\u0301", "\u0323"]  # huyền hỏi ngã sắc nặng
    letters: list[str] = []
    for vowel in vowels:
        for tone in tones:
            ch = unicodedata.normalize("NFC", vowel + tone)
            if not ch.isascii():
                letters.append(ch)
    letters.append("đ")
    return "".join(letters) + "".join(ch.upper() for ch in letters)


#: All 134 non-ASCII Vietnamese letters (67 lower case + 67 upper case).
VIETNAMESE_LETTERS: str = _vietnamese_letters()


def _glyph_signature(font: ImageFont.FreeTypeFont, ch: str) -> tuple:
    mask = font.getmask(ch)
    return (mask.size, bytes(mask))


@functools.lru_cache(maxsize=16)
def _missing_cached(path: str, mtime_ns: int) -> tuple[str, ...]:
    font = ImageFont.truetype(path, 32)
    # A character the font lacks is drawn as the .notdef glyph (a box, or
    # nothing).  Compare against a code point no font maps (a noncharacter).
    notdef = _glyph_signature(font, "\ufdd0")
    missing = []
    for ch in VIETNAMESE_LETTERS:
        sig = _glyph_signature(font, ch)
        if sig == notdef or sig[0][0] == 0:
            missing.append(ch)
    return tuple(missing)


def missing_vietnamese_glyphs(path: str | os.PathLike[str]) -> list[str]:
    """Return the Vietnamese letters the font at ``path`` cannot draw ([] = full coverage).

    Checked by rendering each letter with Pillow and comparing it with the
    font's .notdef glyph, i.e. exactly what the ticket renderer would produce.
    Raises OSError if the file is not a readable font.
    """
    p = Path(path)
    return list(_missing_cached(str(p.resolve()), p.stat().st_mtime_ns))


# Warn once per distinct bad MOTCUA_FONT value: find_font() runs for every
# ticket and a misconfiguration should not flood the kiosk log.
_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn_once(key: str, msg: str, *args: object) -> None:
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(msg, *args)


def _packaged_font(bold: bool) -> Path | None:
    try:
        pkg = importlib.import_module(FONT_PACKAGE)
    except ImportError:
        return None
    root = Path(getattr(pkg, "ROOT", Path(pkg.__file__).parent))
    path = root / (FONT_FILE_BOLD if bold else FONT_FILE_REGULAR)
    return path if path.is_file() else None


def find_font(bold: bool = False) -> Path | None:
    """Locate a TrueType font that covers every Vietnamese letter.

    Order: the file named by the ``MOTCUA_FONT`` environment variable (used for
    both weights; it is ignored, with a warning, if it does not exist, is not a
    font or lacks Vietnamese letters), then the font shipped by the
    ``fontpkg-be-vietnam-pro`` package (Medium weight, or Bold if ``bold``).
    Returns None if neither is usable; the caller then prints unaccented text.
    """
    env = os.environ.get(FONT_ENV_VAR, "").strip()
    if env:
        candidate = Path(env).expanduser()
        if not candidate.is_file():
            _warn_once(env, "%s=%s does not exist; ignoring it", FONT_ENV_VAR, env)
        else:
            try:
                missing = missing_vietnamese_glyphs(candidate)
            except OSError as exc:
                _warn_once(env, "%s=%s is not a usable font (%s); ignoring it",
                           FONT_ENV_VAR, env, exc)
            else:
                if not missing:
                    return candidate
                _warn_once(env, "%s=%s lacks %d Vietnamese letters (e.g. %s); ignoring it",
                           FONT_ENV_VAR, env, len(missing), "".join(missing[:8]))
    return _packaged_font(bold)


# Characters that NFD does not decompose into base letter + combining marks.
_UNACCENT_EXTRA = str.maketrans({
    "–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...",
    "\u00a0": " ",
})


def strip_diacritics(text: str) -> str:
    """Return ``text`` as plain ASCII: Vietnamese marks removed, đ→d, others → '?'.

    Used when no Vietnamese font is available, so the printer's built-in ASCII
    font still prints something readable ("Sở Tư pháp" → "So Tu phap").
    """
    base = unaccent(text.translate(_UNACCENT_EXTRA))
    return base.encode("ascii", "replace").decode("ascii")
