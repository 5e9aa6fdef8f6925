"""Message catalogues: Vietnamese first, English as an option.

Each app keeps one catalogue per language (a ``strings.py`` with ``VI`` and
``EN`` dicts) and looks every UI string up through a :class:`Catalogue`, so
no Vietnamese text is scattered through widget code.
"""

from __future__ import annotations

import unicodedata
from typing import Any

LANGUAGES = ("vi", "en")


class Catalogue:
    """Strings by key in each language; ``language`` can be switched live."""

    def __init__(self, vi: dict[str, str], en: dict[str, str], language: str = "vi") -> None:
        missing = set(vi) ^ set(en)
        if missing:
            raise ValueError(f"keys missing in one language: {sorted(missing)}")
        self._tables = {"vi": vi, "en": en}
        self.language = language

    def __call__(self, key: str, **params: Any) -> str:
        """The string for ``key`` in the current language, formatted."""
        text = self._tables[self.language][key]
        return text.format(**params) if params else text

    def toggle(self) -> str:
        """Switch to the other language and return it."""
        self.language = "en" if self.language == "vi" else "vi"
        return self.language

    def pick(self, item: dict[str, Any], vi_key: str = "vi", en_key: str = "en") -> str:
        """A configured name (``{"vi": …, "en": …}``) in the current language."""
        if self.language == "en" and item.get(en_key):
            return str(item[en_key])
        return str(item.get(vi_key) or item.get(en_key) or "")


def format_number(value: float, decimals: int = 0, language: str = "vi") -> str:
    """A number as people write it: Vietnamese groups thousands with "." and
    writes decimals after ",": 1.234,5; English writes 1,234.5."""
    text = f"{value:,.{decimals}f}"
    if language == "vi":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def format_percent(share: float, decimals: int = 1, language: str = "vi") -> str:
    """A share (0–1) as a percentage: 0.937 → "93,7%" ("93.7%" in English)."""
    return format_number(share * 100, decimals, language) + "%"


def unaccent(text: str) -> str:
    """Vietnamese without its marks, case kept: "Sở Tư pháp" → "So Tu phap"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """Lower-case and strip Vietnamese diacritics, for search: "Đăng ký kết
    hôn" and "dang ky ket hon" fold to the same string."""
    return unaccent(text).casefold()


def search_fold(text: str) -> str:
    """:func:`fold` that also reads a final "y" as "i": Vietnamese writes both
    "ký" and "kí", "lý" and "lí", "quy" and "qui" (the 1980s spelling reform
    was never settled), so "dang ki" must find "Đăng ký". Only for comparing
    search text, never for showing it."""
    return " ".join(_I_FOR_Y[word] for word in fold(text).split())


def _y_to_i(word: str) -> str:
    # A syllable-final "y" after a consonant (ky, ly, my, sy, ty, hy, vy, and
    # "quy", whose "u" belongs to the "qu") is the one spelled either way;
    # after a vowel (tay, may, huy) it is part of a diphthong and stays.
    if word == "quy" or word.endswith("quy"):
        return word[:-1] + "i"
    if len(word) >= 2 and word.endswith("y") and word[-2] not in "aeiouy":
        return word[:-1] + "i"
    return word


class _YFolder(dict):
    def __missing__(self, word: str) -> str:
        value = self[word] = _y_to_i(word)
        return value


_I_FOR_Y: dict[str, str] = _YFolder()
