"""Ticket link secrets: unguessable, per ticket, valid for the ticket's day.

A secret is a keyed BLAKE2b MAC of the day, the ticket's id and number under the center's
own key (made once, kept in the database). Nothing needs storing per ticket:
the server derives the secret when it issues the ticket (a repeated ``issue``
gets the same link) and indexes today's tickets by it. The secret is not the
number, tells nothing about any other ticket, and a secret of another day
matches no ticket today. Pure: no I/O.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import secrets

#: 16 bytes of MAC: 128 bits, 22 URL-safe characters in the QR.
SECRET_BYTES = 16
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
#: The link's path prefix: https://<center>/ve/<secret> ("vé" is a ticket).
PATH_PREFIX = "/ve/"


def new_key() -> str:
    """A fresh center key (hex) for deriving ticket secrets."""
    return secrets.token_hex(32)


@functools.lru_cache(maxsize=8)
def _key_bytes(key: str) -> bytes:
    return bytes.fromhex(key)


def ticket_secret(key: str, day: str, ticket_id: int, number: str) -> str:
    """The link secret of one ticket: keyed BLAKE2b (a MAC by design, one
    pass; HMAC-SHA256 cost every issue a measurable share of its CPU)."""
    msg = f"motcua-ticket|{day}|{ticket_id}|{number}".encode("utf-8")
    mac = hashlib.blake2b(msg, key=_key_bytes(key), digest_size=SECRET_BYTES,
                          person=b"motcua-ve").digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def well_formed(secret: str) -> bool:
    """Whether a string could be a secret at all (checked before any lookup)."""
    return bool(SECRET_RE.match(secret))


def ticket_link(base_url: str, secret: str) -> str:
    """The full link printed in the QR: ``<base_url>/ve/<secret>``."""
    return base_url.rstrip("/") + PATH_PREFIX + secret


def secret_from_path(path: str) -> str | None:
    """The secret in a request path ``/ve/<secret>`` (query stripped), or None."""
    path = path.split("?", 1)[0]
    if not path.startswith(PATH_PREFIX):
        return None
    rest = path[len(PATH_PREFIX):]
    return rest if well_formed(rest) else None
