"""From the event log to facts: the one place that defines every KPI.

The event log says what happened (a ticket was issued, called, a visit
ended…). A report needs *facts*: "a wait of 734 s in department TP that
began at 08:00 and was ended by counter 1 / officer cb01". :class:`DayFold`
reads one day's events in order and emits such facts; everything else (the
engine, the naive baseline, the live monitor) only counts and sorts facts.

Definitions (all times from the event log, in seconds):

* **issued** – a ``ticket_issued``; grouped by the department and procedure
  it was issued for and the hour of issue (no counter or officer).
* **transferred in** – a ``ticket_transferred``, counted in the department
  the citizen was sent to (and the procedure and hour of the transfer; no
  counter or officer), so that a department that mostly receives citizens
  from other desks (the fee desk) reads right: issued + transferred in is
  what came to its queue.
* **wait** – a stretch in one department's queue: it starts when the ticket
  is issued, or when it is transferred into a department, and ends at the
  next ``ticket_called`` (the first call; recalls do not count). A
  transferred citizen therefore has two or more waits, each counted in the
  department whose queue it was (the fee desk's waits belong to the fee
  desk). The first one is the "issue → first call" wait. A no-show put back
  in the queue does not start a new wait (the citizen was not there).
  Waits that never end in a call (cancelled or expired while waiting) are
  counted as cancelled/expired, not as waits. Grouped by the department and
  procedure of the queue, the hour the wait began, and the counter and
  officer that made the call.
* **within target** – a wait no longer than its department's
  ``target_wait`` (configuration at report time).
* **served / transferred** – a visit (one episode at one counter) that ended
  ``served`` / ``transferred``, with its **service time** (service start,
  or the call when the officer skipped "start", to the end of the visit).
  Service time covers both kinds of visit: a receiving desk that transfers
  a citizen to the fee desk did serve them. Grouped by the visit's
  department, procedure, counter, officer and the hour it ended.
* **no-show** – a ticket whose last word is ``ticket_no_show``: a no-show
  who came back (``ticket_requeued``) and was served is not one. Counted at
  the counter that marked it.
* **cancelled / expired** – ``ticket_cancelled`` / ``ticket_expired``.
* **rating** – a ``visit_rated`` with its value; grouped by the visit's
  department, procedure, counter and officer and the hour of the rating.
  The satisfaction rate is (ratings on levels marked ``satisfied``) / rated.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Callable, Iterable, Iterator, NamedTuple
from zoneinfo import ZoneInfo

ISSUED, WAIT, SERVED, TRANSFERRED, NO_SHOW, CANCELLED, EXPIRED, RATING = range(1, 9)
TRANSFERRED_IN = 9
KIND_NAMES = {ISSUED: "issued", WAIT: "wait", SERVED: "served", TRANSFERRED: "transferred",
              NO_SHOW: "no_show", CANCELLED: "cancelled", EXPIRED: "expired", RATING: "rating",
              TRANSFERRED_IN: "transferred_in"}

#: Event types that matter to reports (the rest: counters, printers, starts).
REPORT_EVENTS = ("ticket_issued", "ticket_transferred", "ticket_called", "visit_ended",
                 "ticket_no_show", "ticket_requeued", "ticket_cancelled", "ticket_expired",
                 "visit_rated")


class Fact(NamedTuple):
    """One countable thing. ``value``: seconds for waits and visits, the
    level for ratings, None otherwise."""

    day: str
    kind: int
    dept: str | None
    proc: str | None
    counter: int | None
    officer: str | None
    hour: int
    value: float | None


class Row(NamedTuple):
    """An event reduced to what the fold needs. ``dept``/``proc``/``num``/
    ``text``/``ref`` depend on the type (see :data:`EXTRACT`)."""

    day: str
    type: str
    at: float
    ticket_id: int | None
    counter: int | None
    officer: str | None
    dept: str | None = None
    proc: str | None = None
    num: float | None = None
    text: str | None = None
    ref: int | None = None


#: The JSON paths each event type contributes, as (dept, proc, num, text, ref).
#: Shared by :func:`row_from_data` (parsed JSON) and the SQL extraction in
#: :mod:`reports.engine`, so both see the same fields.
EXTRACT: dict[str, tuple[str | None, str | None, str | None, str | None, str | None]] = {
    "ticket_issued": ("$.ticket.department", "$.ticket.procedure", None, None, None),
    "ticket_transferred": ("$.target", "$.ticket.procedure", None, None, None),
    "ticket_called": (None, None, None, None, None),
    "visit_ended": ("$.visit.department", "$.visit.procedure", "$.visit.started_at",
                    "$.visit.outcome", "$.visit.id"),
    "ticket_no_show": ("$.ticket.department", "$.ticket.procedure", None, None, None),
    "ticket_requeued": (None, None, None, None, None),
    "ticket_cancelled": ("$.ticket.department", "$.ticket.procedure", None, None, None),
    "ticket_expired": ("$.ticket.department", "$.ticket.procedure", None, None, None),
    # ``visit`` is the visit view since protocol 1.1 (an id before): "a|b" = first found.
    "visit_rated": ("$.department", None, "$.value", None, "$.visit.id|$.visit"),
}


def _path(data: dict[str, Any], path: str | None) -> Any:
    if path is None:
        return None
    if "|" in path:
        for alternative in path.split("|"):
            found = _path(data, alternative)
            if found is not None:
                return found
        return None
    node: Any = data
    for part in path[2:].split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def row_from_data(day: str, type_: str, at: float, ticket_id: int | None,
                  counter: int | None, officer: str | None, data: dict[str, Any]) -> Row:
    """Reduce a parsed event (from the log or the wire) to a :class:`Row`."""
    paths = EXTRACT.get(type_)
    if paths is None:
        return Row(day, type_, at, ticket_id, counter, officer)
    return Row(day, type_, at, ticket_id, counter, officer,
               *(_path(data, p) for p in paths))


class HourOf:
    """Local hour of an epoch time, cheaply: one UTC offset per local day."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._offset: dict[str, float] = {}

    def offset(self, day: str) -> float:
        off = self._offset.get(day)
        if off is None:
            noon = datetime.combine(date.fromisoformat(day), time(12), self.tz)
            off = self._offset[day] = noon.utcoffset().total_seconds()  # type: ignore[union-attr]
        return off

    def __call__(self, day: str, at: float) -> int:
        return int((at + self.offset(day)) // 3600 % 24)


Resolver = Callable[[int], "tuple[str | None, str | None]"]


class DayFold:
    """Turns one day's report events, in log order, into facts.

    ``resolve(ticket_id)`` may name the department and procedure of a ticket
    this day's events never placed (one expired at the day rollover, whose
    event lacks the ticket view)."""

    def __init__(self, hour_of: HourOf, resolve: Resolver | None = None) -> None:
        self.hour_of = hour_of
        self.resolve = resolve
        self.facts: list[Fact] = []
        self._open: dict[int, tuple[float, str | None, str | None, int]] = {}
        self._where: dict[int, tuple[str | None, str | None]] = {}
        self._no_show: dict[int, Fact] = {}
        self._visit_proc: dict[int, str | None] = {}
        #: The UTC offset of the day being folded (one lookup per day, not per event).
        self._day: str | None = None
        self._offset = 0.0

    def add(self, r: Row | tuple) -> None:
        """Fold one event: a :class:`Row`, or a plain tuple of its fields in
        the same order (what the engine's SQL gives, without building a Row:
        a year is about 700,000 events)."""
        day, t, at, tid, counter, officer, dept, proc, num, text, ref = r
        facts = self.facts
        if t == "ticket_called":
            ep = self._open.pop(tid, None)  # type: ignore[arg-type]
            if ep is not None:
                start, wdept, wproc, whour = ep
                facts.append(Fact(day, WAIT, wdept, wproc, counter, officer, whour, at - start))
            return
        if day != self._day:
            self._day, self._offset = day, self.hour_of.offset(day)
        hour = int((at + self._offset) // 3600 % 24)  # HourOf.__call__, inlined
        if t == "ticket_issued":
            facts.append(Fact(day, ISSUED, dept, proc, None, None, hour, None))
            if tid is not None:
                self._open[tid] = (at, dept, proc, hour)
                self._where[tid] = (dept, proc)
        elif t == "ticket_transferred":
            facts.append(Fact(day, TRANSFERRED_IN, dept, proc, None, None, hour, None))
            if tid is not None:
                self._open[tid] = (at, dept, proc, hour)
                self._where[tid] = (dept, proc)
        elif t == "visit_ended":
            kind = SERVED if text == "served" else TRANSFERRED if text == "transferred" else 0
            if kind:
                service = at - num if num is not None else None
                facts.append(Fact(day, kind, dept, proc, counter, officer, hour, service))
            if ref is not None:
                self._visit_proc[ref] = proc
        elif t == "ticket_no_show":
            if tid is not None:
                dept, proc = self._dept(tid, dept, proc)
                self._no_show[tid] = Fact(day, NO_SHOW, dept, proc, counter, officer, hour,
                                          None)
        elif t == "ticket_requeued":
            self._no_show.pop(tid, None)  # type: ignore[arg-type]
        elif t in ("ticket_cancelled", "ticket_expired"):
            dept, proc = self._dept(tid, dept, proc)
            kind = CANCELLED if t == "ticket_cancelled" else EXPIRED
            facts.append(Fact(day, kind, dept, proc, counter, officer, hour, None))
            self._open.pop(tid, None)  # type: ignore[arg-type]
            self._no_show.pop(tid, None)  # type: ignore[arg-type]
        elif t == "visit_rated":
            proc = self._visit_proc.get(ref) if ref is not None else None
            facts.append(Fact(day, RATING, dept, proc, counter, officer, hour, num))

    def _dept(self, tid: int | None, dept: str | None,
              proc: str | None) -> tuple[str | None, str | None]:
        # Some events may lack the ticket view (e.g. a ticket expired at a
        # day rollover); fall back to where the ticket was last seen.
        if dept is not None:
            return dept, proc
        where = self._where.get(tid)  # type: ignore[arg-type]
        if where is None and self.resolve is not None and tid is not None:
            where = self.resolve(tid)
        return where or (None, None)

    def pending_no_show(self, ticket_id: int | None) -> Fact | None:
        """The no-show fact a ticket holds so far (it stays one unless the
        ticket comes back, is cancelled or expires later that day)."""
        return self._no_show.get(ticket_id)  # type: ignore[arg-type]

    def knows(self, ticket_id: int) -> bool:
        """Whether this fold has seen the ticket issued or transferred."""
        return ticket_id in self._where

    def begin_wait(self, ticket_id: int, day: str, start: float, dept: str | None,
                   proc: str | None) -> None:
        """Open a wait that began before the events this fold saw (a live
        view joining mid-day learns the start from the ticket itself)."""
        self._open[ticket_id] = (start, dept, proc, self.hour_of(day, start))
        self._where[ticket_id] = (dept, proc)

    def current(self) -> list[Fact]:
        """The facts so far, as if the day ended now (leaves the fold going)."""
        return [*self.facts, *self._no_show.values()]

    def finish(self) -> list[Fact]:
        """The day's facts, once every event has been added."""
        self.facts.extend(self._no_show.values())
        self._no_show = {}
        return self.facts


def fold_rows(rows: Iterable[Row | tuple], hour_of: HourOf,
              resolve: Resolver | None = None) -> Iterator[Fact]:
    """Facts of rows (or tuples in :class:`Row` order) sorted by day then log
    order, folding each day apart."""
    fold: DayFold | None = None
    current = None
    for r in rows:
        if r[0] != current:
            if fold is not None:
                yield from fold.finish()
            fold, current = DayFold(hour_of, resolve), r[0]
        fold.add(r)  # type: ignore[union-attr]
    if fold is not None:
        yield from fold.finish()


def days_between(first: str, last: str) -> list[str]:
    """Every day from ``first`` to ``last`` inclusive, as ISO strings."""
    d, end = date.fromisoformat(first), date.fromisoformat(last)
    out = []
    while d <= end:
        out.append(d.isoformat())
        d += timedelta(days=1)
    return out
