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


def unaccent(text: str) -> str:
    """Vietnamese without its marks, case kept: "Sở Tư pháp" → "So Tu phap"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """Lower-case and strip Vietnamese diacritics, for search: "Đăng ký kết
    hôn" and "dang ky ket hon" fold to the same string."""
    return unaccent(text).casefold()
