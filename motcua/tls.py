"""TLS for the clients: a context for ``wss://`` and certificate pinning.

A device is given the SHA-256 fingerprint of the server's certificate at
enrolment. It connects without trusting any CA, and before it sends its
hello (and so its secret) it compares the certificate the server presented
with the fingerprint: another certificate — a machine pretending to be the
server — gets nothing. With ``ca`` instead, the chain and the host name are
verified against the center's own CA (``motcua tls init``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import ssl
from typing import Any

_HEX = re.compile(r"^[0-9a-f]{64}$")


def normalize_fingerprint(text: str) -> str:
    """``AB:CD:…``, ``sha256:abcd…`` or plain hex → 64 lowercase hex digits
    (raises ValueError)."""
    value = text.strip().lower()
    if value.startswith("sha256:"):
        value = value[len("sha256:"):]
    value = value.replace(":", "").replace(" ", "")
    if not _HEX.match(value):
        raise ValueError("a SHA-256 fingerprint is 64 hexadecimal digits")
    return value


def fingerprint_der(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate (64 hex digits)."""
    return hashlib.sha256(der).hexdigest()


def pretty(fingerprint: str) -> str:
    """``AB:CD:…`` (how browsers and openssl show it)."""
    f = normalize_fingerprint(fingerprint).upper()
    return ":".join(f[i:i + 2] for i in range(0, len(f), 2))


def client_context(fingerprint: str | None = None, ca: str | None = None) -> ssl.SSLContext:
    """The context a client connects with: verification against ``ca``, or
    none at all when the certificate is pinned by ``fingerprint`` (checked
    by :func:`check_pinned` once connected), or the system's CAs."""
    if ca:
        return ssl.create_default_context(cafile=ca)
    ctx = ssl.create_default_context()
    if fingerprint:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def peer_fingerprint(transport: Any) -> str | None:
    """The fingerprint of the certificate the peer of a connection showed."""
    obj = transport.get_extra_info("ssl_object") if transport is not None else None
    der = obj.getpeercert(binary_form=True) if obj is not None else None
    return fingerprint_der(der) if der else None


def check_pinned(transport: Any, fingerprint: str) -> bool:
    """Whether the connection's server showed the pinned certificate."""
    seen = peer_fingerprint(transport)
    return seen is not None and hmac.compare_digest(seen, normalize_fingerprint(fingerprint))
