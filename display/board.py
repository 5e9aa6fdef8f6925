"""What the waiting-room display shows, worked out from the client's mirror.

Pure Python (no Textual, no asyncio): the scope a display covers, the display's
own log of calls in that scope, and the rows of each panel. The Textual app
only draws what this module hands it, so the rules here are tested without a
terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from motcua.client import CenterState

#: After a reconnection, calls made while the display was away are still
#: announced if they are at most this old (seconds). Older ones are only listed:
#: reading out a quarter of an hour of calls after an outage would help nobody.
MISSED_CALL_WINDOW = 120.0

Call = dict[str, Any]


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@dataclass(frozen=True)
class Scope:
    """Which part of the center one display covers (empty sets mean "all")."""

    departments: frozenset[str] = frozenset()
    counters: frozenset[int] = frozenset()

    @classmethod
    def parse(cls, departments: str | None = None, counters: str | None = None) -> "Scope":
        """Build a scope from the command line's ``TP,KHDT`` and ``1,2,3`` lists.

        Raises ValueError when a counter is not a number.
        """
        numbers = set()
        for part in _split(counters):
            if not part.isdigit():
                raise ValueError(f"counter {part!r} is not a number")
            numbers.add(int(part))
        return cls(frozenset(code.upper() for code in _split(departments)), frozenset(numbers))

    @property
    def whole_center(self) -> bool:
        return not self.departments and not self.counters

    def shows_call(self, call: Call) -> bool:
        """A call belongs here if its counter and its ticket's department do."""
        if self.counters and call.get("counter") not in self.counters:
            return False
        if self.departments and call.get("department") not in self.departments:
            return False
        return True

    def shows_counter(self, number: int, departments: Iterable[str]) -> bool:
        if self.counters and number not in self.counters:
            return False
        if self.departments and not self.departments.intersection(departments):
            return False
        return True

    def department_codes(self, center: dict[str, Any]) -> list[str]:
        """The departments whose queues this display lists, in configuration order."""
        codes = [d["code"] for d in center.get("departments", [])]
        if self.departments:
            return [c for c in codes if c in self.departments]
        if self.counters:
            served = {code for c in center.get("counters", []) if c["number"] in self.counters
                      for code in c.get("departments", [])}
            return [c for c in codes if c in served]
        return codes

    def unknown(self, center: dict[str, Any]) -> list[str]:
        """Departments and counters named in the scope that the center doesn't have."""
        codes = {d["code"] for d in center.get("departments", [])}
        numbers = {c["number"] for c in center.get("counters", [])}
        return ([c for c in sorted(self.departments) if c not in codes]
                + [str(n) for n in sorted(self.counters) if n not in numbers])


def call_key(call: Call) -> tuple[Any, int]:
    """A call is one ticket called for the n-th time (a recall is a new call)."""
    return call.get("ticket_id"), int(call.get("recall") or 0)


def call_from_event(ticket: dict[str, Any], at: float | None) -> Call:
    """The recent-call record for a ``ticket_called`` event (same shape as the snapshot's)."""
    return {"ticket_id": ticket["id"], "number": ticket["number"], "counter": ticket["counter"],
            "department": ticket["department"], "at": at, "recall": ticket.get("recalls", 0)}


@dataclass
class CallLog:
    """The display's own list of calls in its scope, newest first.

    The server keeps the last N calls of the whole center; a display scoped to
    two counters keeps its own last N of those two, so a busy center doesn't
    push its calls off the screen. Calls are folded in strictly in arrival
    order; a recall moves the ticket back to the top.
    """

    scope: Scope = field(default_factory=Scope)
    keep: int = 10
    calls: list[Call] = field(default_factory=list)
    day: str | None = None
    _seen: set[tuple[Any, int]] = field(default_factory=set)

    @property
    def latest(self) -> Call | None:
        return self.calls[0] if self.calls else None

    def add(self, call: Call) -> bool:
        """Fold in a call from a live event; True when it is new and in scope."""
        key = call_key(call)
        if key in self._seen:
            return False
        self._seen.add(key)
        if not self.scope.shows_call(call):
            return False
        self.calls = [call, *[c for c in self.calls if c["ticket_id"] != call["ticket_id"]]]
        del self.calls[self.keep:]
        return True

    def sync(self, state: CenterState, now: float | None) -> list[Call]:
        """Take in a (re)connection's snapshot; return the calls that were missed
        meanwhile and are recent enough to announce, oldest first.

        The first snapshot, and the first of a new day, only set the scene:
        nothing in them is "new" to the people in the room.
        """
        keep = int(state.center.get("recent_calls", self.keep) or self.keep)
        self.keep = max(keep, 1)
        first = self.day is None or state.day != self.day
        if first:
            self.calls, self._seen = [], set()
            self.day = state.day
        server = [c for c in state.recent_calls if self.scope.shows_call(c)]
        newest_known = self.calls[0]["at"] if self.calls else None
        missed = []
        if not first:
            for c in server:
                if call_key(c) in self._seen:
                    continue
                if newest_known is not None and (c.get("at") or 0) <= newest_known:
                    continue
                if now is not None and now - (c.get("at") or 0) > MISSED_CALL_WINDOW:
                    continue
                missed.append(c)
        self._seen.update(call_key(c) for c in state.recent_calls)
        # The snapshot is right about every ticket it lists; our own older entries
        # fill in what it dropped (its list covers the whole center).
        listed = {c["ticket_id"] for c in server}
        merged = server + [c for c in self.calls if c["ticket_id"] not in listed]
        merged.sort(key=lambda c: c.get("at") or 0, reverse=True)  # stable: ties keep order
        self.calls = merged[: self.keep]
        missed.reverse()
        return missed


@dataclass(frozen=True)
class CounterRow:
    """One counter as the display shows it."""

    number: int
    name: str
    status: str  # open / paused / closed
    ticket: str | None = None
    ticket_status: str | None = None  # called / serving
    officer: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class DepartmentRow:
    """One department's queue as the display shows it."""

    code: str
    name: str
    waiting: int
    wait_minutes: int | None
    open_counters: int
    #: False while the department takes no tickets (closed live, or all day).
    open: bool = True


def counter_rows(state: CenterState, scope: Scope) -> list[CounterRow]:
    """The counters in scope, by number."""
    configured = {c["number"]: c for c in state.center.get("counters", [])}
    rows = []
    for number in sorted(set(state.counters) | set(configured)):
        view = state.counters.get(number) or {}
        cfg = configured.get(number, {})
        departments = view.get("departments") or cfg.get("departments") or []
        if not scope.shows_counter(number, departments):
            continue
        ticket = view.get("ticket") or None
        rows.append(CounterRow(
            number=number, name=view.get("name") or cfg.get("name") or str(number),
            status=view.get("status") or "closed",
            ticket=ticket["number"] if ticket else None,
            ticket_status=ticket["status"] if ticket else None,
            officer=view.get("officer_name"), reason=view.get("reason")))
    return rows


def department_rows(state: CenterState, scope: Scope, language: str = "vi") -> list[DepartmentRow]:
    """The queues in scope, in configuration order."""
    rows = []
    for code in scope.department_codes(state.center):
        view = state.departments.get(code, {})
        rows.append(DepartmentRow(
            code=code, name=state.department_name(code, language),
            waiting=int(view.get("waiting", 0)), wait_minutes=view.get("wait_minutes"),
            open_counters=int(view.get("open_counters", 0)),
            open=bool((state.department_info(code) or {}).get("open", True))))
    return rows


def counter_name(state: CenterState, number: int | None) -> str:
    """A counter's configured name ("Quầy 12 - Tổng hợp"), or its number."""
    if number is None:
        return ""
    view = state.counters.get(number)
    if view and view.get("name"):
        return str(view["name"])
    cfg = next((c for c in state.center.get("counters", []) if c["number"] == number), None)
    return str(cfg["name"]) if cfg else str(number)
