"""The kiosk's plain logic: procedure search, a citizen's choice, what goes on
a ticket. No Textual, no networking: the app and the tests use it directly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from motcua.i18n import fold
from motcua.waits import wait_phrase, wait_range_of

DEFAULT_TZ = "Asia/Ho_Chi_Minh"


@dataclass
class Choice:
    """One citizen's attempt to take a number.

    ``request_id`` is made once per attempt and reused on every retry, so a
    reply lost to a network blip or a server restart never yields a second
    ticket (the server answers a repeated id with the ticket it already
    issued)."""

    department: str
    procedure: str | None = None
    priority: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def fields(self) -> dict[str, Any]:
        """The ``issue`` command's fields."""
        out: dict[str, Any] = {"department": self.department, "request_id": self.request_id}
        if self.procedure:
            out["procedure"] = self.procedure
        if self.priority:
            out["priority"] = self.priority
        return out


@dataclass(frozen=True)
class Match:
    """A procedure found by search, with its department."""

    department: dict[str, Any]
    procedure: dict[str, Any]
    exact: bool


def search_procedures(center: dict[str, Any], query: str, limit: int | None = None) -> list[Match]:
    """Procedures whose names (either language), code or department name
    contain every word of ``query``, ignoring case and Vietnamese diacritics.
    Matches of the whole phrase in the procedure's own name come first."""
    words = fold(query).split()
    if not words:
        return []
    phrase = " ".join(words)
    found: list[Match] = []
    for dept in center.get("departments", []):
        dept_text = fold(f"{dept.get('vi', '')} {dept.get('en', '')}")
        for proc in dept.get("procedures", []):
            own = _own_text(proc)
            hay = f"{own} {fold(proc.get('code', ''))} {dept_text}"
            if all(w in hay for w in words):
                found.append(Match(dept, proc, phrase in own))
    found.sort(key=lambda m: not m.exact)  # stable: config order within each group
    return found[:limit] if limit is not None else found


def _own_text(proc: dict[str, Any]) -> str:
    return " ".join(" ".join(fold(proc.get(k) or "").split()) for k in ("vi", "en"))


def counters_for(center: dict[str, Any], department: str) -> list[int]:
    """Numbers of the counters that serve ``department``, in order."""
    return sorted(c["number"] for c in center.get("counters", [])
                  if department in c.get("departments", []))


def center_tz(center: dict[str, Any]) -> ZoneInfo:
    """The center's time zone (Asia/Ho_Chi_Minh when unknown)."""
    try:
        return ZoneInfo(center.get("timezone") or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def qr_payload(ticket: dict[str, Any]) -> str:
    """What the ticket's QR code carries: enough for a status lookup
    (day, number and the server's ticket id)."""
    return f"motcua:{ticket['day']}:{ticket['number']}:{ticket['id']}"


@dataclass(frozen=True)
class IssuedTicket:
    """A ticket the server confirmed, with what the kiosk shows and prints."""

    ticket: dict[str, Any]
    ahead: int
    wait_minutes: int | None
    repeat: bool
    #: The calibrated range (minutes), and why the wait is unknown if it is.
    wait_range: tuple[int, int] | None = None
    wait_unknown: str | None = None

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> "IssuedTicket":
        return cls(reply["ticket"], int(reply.get("ahead", 0)), reply.get("wait_minutes"),
                   bool(reply.get("repeat", False)), wait_range_of(reply),
                   reply.get("wait_unknown") or None)

    def wait_phrase(self) -> tuple[str, dict[str, Any]] | None:
        """See :func:`wait_phrase`."""
        return wait_phrase(self.wait_minutes, self.wait_range, self.wait_unknown)

    @property
    def number(self) -> str:
        return str(self.ticket["number"])

    def issued_local(self, center: dict[str, Any]) -> datetime:
        """Issue time in the center's time zone."""
        return datetime.fromtimestamp(float(self.ticket["issued_at"]), center_tz(center))
