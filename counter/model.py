"""What the counter console shows, computed without Textual or the network.

The console draws from the shared client's mirror (a ``CenterState``) and
from the events it has seen; the arithmetic lives here so it can be tested
on its own and reused by other screens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from motcua.bigfont import glyph_rows

def big_text(text: str) -> str:
    """``text`` (a ticket or counter number) as three lines of box-drawing
    glyphs, in the shared font (Textual's ``Digits`` only knows A–F)."""
    return "\n".join(glyph_rows(text, 0))


def clock_text(seconds: float | None) -> str:
    """A duration as ``m:ss`` (or ``h:mm:ss``); an em dash when unknown."""
    if seconds is None:
        return "—"
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class QueueLine:
    """One served department's queue, as the side panel shows it."""

    code: str
    name: str
    waiting: int
    priority: int
    longest: float | None
    target_minutes: int | None

    @property
    def over_target(self) -> bool:
        """The oldest ticket has waited longer than the department's target."""
        return (self.longest is not None and self.target_minutes is not None
                and self.longest > self.target_minutes * 60)


def queue_lines(center: dict[str, Any], departments: dict[str, dict[str, Any]],
                codes: list[str], now: float, language: str = "vi") -> list[QueueLine]:
    """The queues of ``codes`` at ``now`` from the center config and the
    department views the server broadcasts."""
    lines = []
    info = {d["code"]: d for d in center.get("departments", [])}
    for code in codes:
        cfg = info.get(code, {})
        view = departments.get(code, {})
        name = (cfg.get("en") if language == "en" else cfg.get("vi")) or code
        oldest = view.get("oldest_since")
        lines.append(QueueLine(code, name, int(view.get("waiting", 0)),
                               int(view.get("priority_waiting", 0)),
                               None if oldest is None else max(0.0, now - oldest),
                               cfg.get("target_wait")))
    return lines


@dataclass
class OfficerTally:
    """One officer's figures today.

    The server counts them from the day's stored visits and ratings
    (``officer_stats``), so they survive a console restart: the console
    loads them after login and after every (re)connection. Events seen in
    between are added at once (``add``) until the next load replaces them."""

    officer: str | None = None
    served: int = 0
    transferred: int = 0
    no_shows: int = 0
    service_seconds: float = 0.0
    ratings: dict[int, int] = field(default_factory=dict)
    satisfied_values: frozenset[int] = frozenset()
    _seen: set[tuple[str, Any]] = field(default_factory=set)

    def reset(self, officer: str | None) -> None:
        """Start again at zero for ``officer`` (until the server's figures load)."""
        self.officer = officer
        self.served = self.transferred = self.no_shows = 0
        self.service_seconds = 0.0
        self.ratings = {}
        self._seen = set()

    def load(self, stats: dict[str, Any] | None) -> bool:
        """Take the server's figures (an ``officer_stats`` reply's ``stats``)
        if they are this officer's; True when they were."""
        if not stats or self.officer is None or stats.get("officer") != self.officer:
            return False
        self.served = int(stats.get("served") or 0)
        self.transferred = int(stats.get("transferred") or 0)
        self.no_shows = int(stats.get("no_show") or 0)
        self.service_seconds = float(stats.get("service_seconds") or 0.0)
        self.ratings = {int(v): int(n) for v, n in (stats.get("ratings") or {}).items()}
        return True

    def add(self, type_: str, raw: dict[str, Any]) -> bool:
        """Count one event if it is this officer's; True when it changed."""
        if self.officer is None or raw.get("officer") != self.officer:
            return False
        ticket = raw.get("ticket") or {}
        key = (type_, _visit_id(raw) if type_ == "visit_rated" else ticket.get("id"),
               raw.get("at"))
        if key in self._seen:
            return False
        if type_ == "ticket_finished":
            self.served += 1
            self.service_seconds += float(raw.get("service") or 0.0)
        elif type_ == "ticket_transferred":
            self.transferred += 1
        elif type_ == "ticket_no_show":
            self.no_shows += 1
        elif type_ == "visit_rated":
            value = int(raw.get("value", 0))
            self.ratings[value] = self.ratings.get(value, 0) + 1
        else:
            return False
        self._seen.add(key)
        return True

    @property
    def average_service(self) -> float | None:
        """Mean service seconds of the tickets finished, or None."""
        return self.service_seconds / self.served if self.served else None

    @property
    def rated(self) -> int:
        return sum(self.ratings.values())

    @property
    def satisfaction_share(self) -> float | None:
        """Share (0–1) of ratings at a satisfied level, or None."""
        if not self.rated:
            return None
        good = sum(n for v, n in self.ratings.items() if v in self.satisfied_values)
        return good / self.rated

    @property
    def satisfaction(self) -> int | None:
        """Share (percent) of ratings at a satisfied level, or None."""
        if not self.rated:
            return None
        good = sum(n for v, n in self.ratings.items() if v in self.satisfied_values)
        return round(100 * good / self.rated)


def satisfied_values(center: dict[str, Any]) -> frozenset[int]:
    """The rating values that count as satisfied in this center."""
    levels = center.get("rating", {}).get("levels", [])
    return frozenset(level["value"] for level in levels if level.get("satisfied"))


def _visit_id(raw: dict[str, Any]) -> Any:
    """The visit an event is about (a view; a bare id from older servers)."""
    visit = raw.get("visit")
    return visit.get("id") if isinstance(visit, dict) else visit
