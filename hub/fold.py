"""Report facts of a site's events as they are shipped, keyed by event.

Pure: no I/O of its own. The site's report folds a whole day at once
(:class:`motcua.reports.facts.DayFold`); the hub must have the same facts
while the day is still going, batch by batch, and must be able to resume
after any failure without counting anything twice. :class:`FactStream`
feeds the same :class:`DayFold` one event at a time and says, for each
event, which facts it made — keyed ``(event id, seq)`` so that the hub can
store them in the event's own transaction — and which earlier no-show fact
it undid (a no-show who came back, was cancelled or expired). The facts the
hub keeps for a day (all made, minus those undone) are exactly the facts
the site's report folds for that day: one definition, two places.

State is per day and can always be rebuilt: when an event of a day the
stream does not hold arrives (the first batch after a restart, or after a
failed batch threw the state away), ``load_day(day, before_id)`` gives the
day's earlier report events, which are folded silently first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterable, NamedTuple

from motcua.reports.facts import REPORT_EVENTS, DayFold, Fact, HourOf, Resolver, Row

#: ``(day, before_id)`` → the day's report events with a smaller id, in id order.
DayLoader = Callable[[str, int], Iterable[tuple[int, Row]]]

_REPORTED = frozenset(REPORT_EVENTS)


class KeyedFact(NamedTuple):
    event_id: int
    seq: int
    fact: Fact


class Void(NamedTuple):
    """The no-show fact made by ``event_id`` is undone by ``by``."""

    event_id: int
    by: int


class _Day:
    __slots__ = ("fold", "no_show_event")

    def __init__(self, fold: DayFold) -> None:
        self.fold = fold
        #: ticket id → the event whose no-show fact it holds.
        self.no_show_event: dict[int, int] = {}


class FactStream:
    """Facts of events fed in log (id) order."""

    def __init__(self, hour_of: HourOf, resolve: Resolver | None = None,
                 load_day: DayLoader | None = None, keep_days: int = 3) -> None:
        self.hour_of = hour_of
        self.resolve = resolve
        self.load_day = load_day
        self.keep_days = keep_days
        self._days: OrderedDict[str, _Day] = OrderedDict()
        #: Events folded silently to rebuild state (for tests and metrics).
        self.reloaded = 0

    def _day(self, day: str, event_id: int) -> _Day:
        state = self._days.get(day)
        if state is not None:
            self._days.move_to_end(day)
            return state
        state = _Day(DayFold(self.hour_of, self.resolve))
        if self.load_day is not None:
            for eid, row in self.load_day(day, event_id):
                self._apply(state, eid, row, [], [])
                self.reloaded += 1
        self._days[day] = state
        while len(self._days) > self.keep_days:
            self._days.popitem(last=False)
        return state

    def add(self, event_id: int, row: Row, facts: list[KeyedFact], voids: list[Void]) -> None:
        """Fold one event; append what it made to ``facts`` and what it
        undid to ``voids``."""
        if row.type not in _REPORTED:
            return
        self._apply(self._day(row.day, event_id), event_id, row, facts, voids)

    @staticmethod
    def _apply(state: _Day, event_id: int, row: Row, facts: list[KeyedFact],
               voids: list[Void]) -> None:
        fold = state.fold
        tid = row.ticket_id
        before = fold.pending_no_show(tid) if tid is not None else None
        fold.add(row)
        seq = 0
        for f in fold.facts:
            facts.append(KeyedFact(event_id, seq, f))
            seq += 1
        # Only the fold's pending state matters from here on.
        fold.facts.clear()
        if tid is None:
            return
        after = fold.pending_no_show(tid)
        if after is before:
            return
        if before is not None:
            made_by = state.no_show_event.pop(tid, None)
            if made_by is not None:
                voids.append(Void(made_by, event_id))
        if after is not None:
            facts.append(KeyedFact(event_id, seq, after))
            state.no_show_event[tid] = event_id
