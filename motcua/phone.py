"""Vietnamese mobile numbers: the one rule the kiosk's keypad, the server's
``notify`` and the gateway share, the masked form a screen may show, and a
log filter that keeps numbers out of websockets' debug lines. Pure.

A mobile number is ``0`` and nine digits with a mobile prefix (03, 05, 07,
08, 09 since the 2018 renumbering), written ``0912 345 678``, ``+84 912 345
678`` or ``84912345678``. Landlines (02x, eleven digits) cannot take a text
message, so they are refused rather than silently never told.
"""

from __future__ import annotations

import logging
import re
from typing import Any

#: Second digits of Vietnamese mobile numbers.
MOBILE_PREFIXES = "35789"
#: The longest entry worth typing: ``+84`` and nine digits.
MAX_ENTRY = 12

_SEPARATORS = re.compile(r"[\s.\-()]")


class PhoneError(ValueError):
    """Why an entry is not a mobile number: ``reason`` is ``empty``,
    ``chars`` (something other than digits and a leading +), ``plus`` (an
    international number that is not +84), ``start`` (neither 0 nor +84),
    ``length`` (``params["n"]`` digits, not 10), ``length_intl`` (``n``
    digits after +84, not 9) or ``not_mobile`` (a
    landline or unused prefix)."""

    def __init__(self, reason: str, **params: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.params = params


def normalize_phone(raw: str) -> str:
    """A Vietnamese mobile number as ``0xxxxxxxxx``; :class:`PhoneError`
    (a ValueError) if it is not one. Spaces, dots, dashes, brackets and the
    +84 / 84 prefixes are accepted."""
    s = _SEPARATORS.sub("", raw.strip())
    if not s:
        raise PhoneError("empty")
    if not re.fullmatch(r"\+?\d+", s):
        raise PhoneError("chars")
    if s.startswith("+"):
        if not s.startswith("+84"):
            raise PhoneError("plus")
        if len(s) != 12:
            raise PhoneError("length_intl", n=len(s) - 3)
        s = "0" + s[3:]
    elif s.startswith("84") and len(s) == 11:
        s = "0" + s[2:]
    if not s.startswith("0"):
        raise PhoneError("start")
    if len(s) != 10:
        raise PhoneError("length", n=len(s))
    if s[1] not in MOBILE_PREFIXES:
        raise PhoneError("not_mobile")
    return s


def mask_phone(phone: str) -> str:
    """What a public screen may show of a number: ``09xx xxx 678`` (the
    first two digits and the last three)."""
    return f"{phone[:2]}xx xxx {phone[-3:]}"


def group_entry(entry: str) -> str:
    """An entry as it is typed, grouped to be read back: ``0912 345 678``,
    ``+84 912 345 678``."""
    if entry.startswith("+"):
        head, rest = entry[:3], entry[3:]
        groups = [rest[i:i + 3] for i in range(0, len(rest), 3)]
        return " ".join([head, *groups]) if rest else head
    head, rest = entry[:4], entry[4:]
    return " ".join([head, *[rest[i:i + 3] for i in range(0, len(rest), 3)]])


#: Fields whose values never reach a log: a citizen's number, PINs,
#: passwords, device tokens and secrets, login sessions.
SECRET_FIELDS = (b'"phone"', b'"pin"', b'"old_pin"', b'"new_pin"', b'"password"',
                 b'"token"', b'"secret"', b'"session"')


class NoSecretsInFrames(logging.Filter):
    """websockets logs every frame at DEBUG (its start and end): a frame
    that carries a phone number, a PIN, a password, a token, a secret or a
    session is logged without its contents."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        for arg in args:
            data = getattr(arg, "data", None)
            if isinstance(data, (bytes, bytearray)) and any(f in data for f in SECRET_FIELDS):
                opcode = getattr(getattr(arg, "opcode", None), "name", "frame")
                text = str(record.msg)
                direction = text[:1] if text[:1] in "<>" else "="
                what = "a phone number" if b'"phone"' in data else "a secret"
                record.msg = "%s %s (carries %s: contents not logged)"
                record.args = (direction, opcode, what)
                break
        return True


_installed = False


def keep_secrets_out_of_logs() -> None:
    """Install :class:`NoSecretsInFrames` on websockets' loggers (once)."""
    global _installed
    if _installed:
        return
    _installed = True
    for name in ("websockets.client", "websockets.server"):
        logging.getLogger(name).addFilter(NoSecretsInFrames())
