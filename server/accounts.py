"""Managers' accounts and their passwords; officers' PIN rules.

Pure (the hashing is CPU work, no I/O; the server runs it in a thread).

Managers log in to the admin app with an ID and a password, stored as an
Argon2id hash (argon2-cffi, its RFC 9106 low-memory profile: 64 MiB, 3
passes): a stolen database does not give the passwords away cheaply, which
matters for accounts that can enrol devices and change the center.

Officers' PINs stay PBKDF2 (:func:`motcua.server.config.hash_pin`): a PIN of
4–12 digits has so few values that no hash makes a stolen one safe — what
protects PINs is the login limiter (:mod:`lockout`) and the database's
custody — and PINs are checked at every console login, often dozens at once
when a center opens, where 64 MiB per check would be a burst of memory on a
small box for no real gain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .devices import NAME_RE

_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory parameters
#: Spent on unknown manager IDs too, so a wrong ID and a wrong password take
#: the same time.
_DUMMY = None

PASSWORD_MIN = 10
PASSWORD_MAX = 200
PIN_RE = re.compile(r"^\d{4,12}$")

MANAGER_COLUMNS = ("id", "name", "password_hash", "disabled", "created_at", "created_by")


def hash_password(password: str) -> str:
    """An Argon2id hash of a manager's password."""
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check a password (slow on purpose: call it off the event loop). A
    missing hash is checked against a dummy so the time is the same."""
    global _DUMMY
    if password_hash is None:
        if _DUMMY is None:
            _DUMMY = _HASHER.hash("motcua-dummy-password")
        password_hash = _DUMMY
        password = password + "\x00"  # never matches
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: Any) -> str | None:
    """Why a password is not acceptable, or None."""
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return f"{PASSWORD_MIN}–{PASSWORD_MAX} ký tự / characters"
    if password.strip() != password or len(set(password)) < 4:
        return "quá đơn giản / too simple"
    return None


def pin_problem(pin: Any) -> str | None:
    """Why a PIN is not acceptable, or None."""
    if not isinstance(pin, str) or not PIN_RE.match(pin):
        return "4–12 chữ số / digits"
    if len(set(pin)) == 1:
        return "không được lặp một chữ số / not one digit repeated"
    return None


@dataclass(frozen=True)
class Manager:
    id: str
    name: str
    password_hash: str
    disabled: bool = False
    created_at: float = 0.0
    created_by: str | None = None

    def row(self) -> tuple:
        return (self.id, self.name, self.password_hash, int(self.disabled), self.created_at,
                self.created_by)

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "disabled": self.disabled,
                "created_at": self.created_at, "created_by": self.created_by}


class AccountError(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        super().__init__(code)


class Managers:
    """Every manager account, by ID."""

    def __init__(self, managers: list[Manager] | None = None) -> None:
        self.by_id: dict[str, Manager] = {m.id: m for m in managers or ()}

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, manager_id: str) -> Manager | None:
        return self.by_id.get(manager_id)

    def add(self, manager_id: str, name: str, password_hash: str, now: float,
            by: str | None) -> Manager:
        if not isinstance(manager_id, str) or not NAME_RE.match(manager_id):
            raise AccountError("bad_value", field="manager", problem="1–40 letters, digits, . _ -")
        if manager_id in self.by_id:
            raise AccountError("manager_exists", manager=manager_id)
        if not isinstance(name, str) or not name.strip() or len(name) > 80:
            raise AccountError("bad_value", field="name", problem="text, 1–80")
        m = Manager(manager_id, name.strip(), password_hash, False, now, by)
        self.by_id[manager_id] = m
        return m

    def update(self, manager_id: str, *, password_hash: str | None = None,
               disabled: bool | None = None, name: str | None = None) -> Manager:
        m = self.by_id.get(manager_id)
        if m is None:
            raise AccountError("unknown_manager", manager=manager_id)
        if password_hash is not None:
            m = replace(m, password_hash=password_hash)
        if disabled is not None:
            m = replace(m, disabled=disabled)
        if name is not None:
            m = replace(m, name=name.strip())
        self.by_id[manager_id] = m
        return m

    def views(self) -> list[dict[str, Any]]:
        return [m.view() for m in sorted(self.by_id.values(), key=lambda m: m.id)]
