"""Enrolled devices: each kiosk, console, TV, rating pad and admin screen has
its own name, role and secret.

Pure: no I/O. The server keeps one :class:`Devices` registry in memory (loaded
from the ``devices`` table) and persists every change with its event. A
secret is 32 random bytes (43 URL-safe characters) shown once at enrolment;
only its SHA-256 is kept, which is enough for a secret of that strength (a
slow hash protects guessable secrets such as PINs, not random ones) and keeps
every hello at one hash and one dictionary look-up.

A device's identity on the wire is the one its secret proves: the name in a
hello is not trusted, the enrolled one is recorded in the event log.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

#: The roles a device can be enrolled for.
DEVICE_ROLES = ("kiosk", "counter", "display", "rating", "admin")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")

COLUMNS = ("name", "role", "counter", "digest", "created_at", "created_by", "revoked_at",
           "revoked_by", "revoke_reason", "last_seen", "last_address")


def digest(secret: str) -> str:
    """What is kept of a device secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class DeviceError(Exception):
    """An enrolment or revocation that cannot be done (a core error code)."""

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        super().__init__(code)


@dataclass(frozen=True)
class Device:
    name: str
    role: str
    counter: int | None
    digest: str
    created_at: float
    created_by: str | None = None
    revoked_at: float | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None
    last_seen: float | None = None
    last_address: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def row(self) -> tuple:
        """Its row in the ``devices`` table (:data:`COLUMNS` order)."""
        return tuple(getattr(self, c) for c in COLUMNS)

    def view(self) -> dict[str, Any]:
        """What managers see (never the digest)."""
        return {"name": self.name, "role": self.role, "counter": self.counter,
                "created_at": self.created_at, "created_by": self.created_by,
                "revoked": self.revoked, "revoked_at": self.revoked_at,
                "revoked_by": self.revoked_by, "revoke_reason": self.revoke_reason,
                "last_seen": self.last_seen, "last_address": self.last_address}


class Devices:
    """Every enrolled device, by name and by secret digest."""

    def __init__(self, devices: list[Device] | None = None) -> None:
        self.by_name: dict[str, Device] = {}
        self._by_digest: dict[str, str] = {}
        #: Names whose last connection changed since the last :meth:`take_seen`.
        self._seen: set[str] = set()
        for d in devices or ():
            self._put(d)

    def _put(self, d: Device) -> None:
        old = self.by_name.get(d.name)
        if old is not None:
            self._by_digest.pop(old.digest, None)
        self.by_name[d.name] = d
        self._by_digest[d.digest] = d.name

    def __len__(self) -> int:
        return len(self.by_name)

    def get(self, name: str) -> Device | None:
        return self.by_name.get(name)

    def enrol(self, role: str, name: str, now: float, by: str | None,
              counter: int | None = None) -> tuple[Device, str]:
        """A new device (or a new secret for a revoked one of the same name:
        the replacement of a stolen kiosk keeps its name). Returns it and its
        secret, which is not kept."""
        if role not in DEVICE_ROLES:
            raise DeviceError("bad_value", field="role", problem=", ".join(DEVICE_ROLES))
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise DeviceError("bad_value", field="name",
                              problem="1–40 letters, digits, . _ - (a letter or digit first)")
        if counter is not None and role not in ("counter", "rating"):
            raise DeviceError("bad_value", field="counter",
                              problem="only counter consoles and rating pads sit at a counter")
        old = self.by_name.get(name)
        if old is not None and not old.revoked:
            raise DeviceError("device_exists", device=name)
        secret = secrets.token_urlsafe(32)
        device = Device(name, role, counter, digest(secret), now, by)
        self._put(device)
        return device, secret

    def revoke(self, name: str, now: float, by: str | None, reason: str | None = None) -> Device:
        """Refuse the device from now on."""
        d = self.by_name.get(name)
        if d is None:
            raise DeviceError("unknown_device", device=name)
        if d.revoked:
            raise DeviceError("device_revoked_already", device=name)
        d = replace(d, revoked_at=now, revoked_by=by,
                    revoke_reason=(reason or "").strip()[:200] or None)
        self._put(d)
        return d

    def authenticate(self, secret: str) -> Device | None:
        """The device a secret belongs to (revoked ones too: the caller says
        so), or None."""
        name = self._by_digest.get(digest(secret))
        return self.by_name.get(name) if name is not None else None

    def seen(self, name: str, now: float, address: str | None) -> None:
        """A device connected (kept in memory; written now and then)."""
        d = self.by_name.get(name)
        if d is not None:
            self.by_name[name] = replace(d, last_seen=now, last_address=address)
            self._seen.add(name)

    def take_seen(self) -> list[Device]:
        """Devices whose last connection is not yet written."""
        names, self._seen = self._seen, set()
        return [self.by_name[n] for n in sorted(names) if n in self.by_name]

    def views(self) -> list[dict[str, Any]]:
        return [d.view() for d in sorted(self.by_name.values(), key=lambda d: (d.role, d.name))]


def enrolment_code(url: str, device: Device, secret: str, fingerprint: str | None) -> str:
    """Everything a device needs, in one line to paste or scan:
    ``motcua://HOST:PORT/?tls=1&role=kiosk&device=sanh-1&secret=…&fp=…``."""
    parts = urlsplit(url)
    params: dict[str, str] = {"role": device.role, "device": device.name, "secret": secret}
    if device.counter is not None:
        params["counter"] = str(device.counter)
    if parts.scheme == "wss":
        params["tls"] = "1"
    if fingerprint:
        params["fp"] = fingerprint
    return f"motcua://{parts.netloc}/?{urlencode(params, quote_via=quote)}"


def parse_enrolment(code: str) -> dict[str, Any]:
    """The settings in an enrolment code: ``url``, ``role``, ``device``,
    ``secret``, ``counter`` and ``fingerprint`` (raises ValueError)."""
    from urllib.parse import parse_qs

    parts = urlsplit(code.strip())
    if parts.scheme != "motcua" or not parts.netloc:
        raise ValueError("not a motcua enrolment code (motcua://HOST:PORT/?…)")
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if not q.get("secret") or q.get("role") not in DEVICE_ROLES or not q.get("device"):
        raise ValueError("the enrolment code lacks its role, device or secret")
    return {"url": f"{'wss' if q.get('tls') == '1' else 'ws'}://{parts.netloc}",
            "role": q["role"], "device": q["device"], "secret": q["secret"],
            "counter": int(q["counter"]) if q.get("counter", "").isdigit() else None,
            "fingerprint": q.get("fp") or None}
