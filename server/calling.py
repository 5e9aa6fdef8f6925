"""Who a counter calls next: the one call rule of the center.

Pure and tiny on purpose. The queue core calls with it, and the wait
estimator (:mod:`motcua.server.estimate`) looks ahead with the very same
rule, so an estimate can never assume an order the counters do not follow.

A waiting ticket's place is its *rank*, lower is called sooner:

* a ticket placed at the front (a transfer, say) sorts before the normal
  queue — ``(band, queued_at, id)``;
* with ageing on (``[queue] overdue_after``), a ticket that has waited
  ``overdue_after`` × its department's target is *overdue*: overdue tickets
  come before every other ticket, earliest deadline first. That bounds how
  long anyone can be overtaken, by front placements or by another department
  at a shared counter.

Priority tickets are picked from their own candidates; the counter takes the
best priority ticket unless it has already called ``max_priority_in_row`` in
a row while normal tickets wait (:func:`takes_priority`).

Booked tickets (appointments, :mod:`motcua.server.booking`) are due at their
slot: a due booked ticket is taken before walk-ins, bounded the same way — at
most ``max_booked_in_row`` booked calls in a row while walk-ins wait — and
never while a walk-in has waited past the guard (:func:`takes_booked`), so no
walk-in waits past a bound because of bookings. A booking not yet due is
called only by a counter that has nobody else to call.
"""

from __future__ import annotations

FRONT_BAND, NORMAL_BAND = 0, 1

Rank = tuple


def overdue_seconds(target_minutes: float, overdue_after: float | None) -> float | None:
    """How long a ticket of a department with ``target_minutes`` may wait
    before it is overdue; None when ageing is off."""
    if not overdue_after:
        return None
    return overdue_after * target_minutes * 60.0


def rank(band: int, queued_at: float, tid: float, overdue_s: float | None, now: float) -> Rank:
    """A waiting ticket's place in the call order at time ``now``."""
    if overdue_s is not None:
        deadline = queued_at + overdue_s
        if deadline <= now:
            return (0, deadline, tid)
    return (1, band, queued_at, tid)


def takes_priority(has_priority: bool, has_normal: bool, streak: float,
                   max_in_row: int) -> bool:
    """Whether the counter takes its best priority ticket rather than its best
    normal one, after ``streak`` priority calls in a row."""
    return has_priority and (not has_normal or streak < max_in_row)


def takes_booked(has_booked: bool, has_walk_in: bool, streak: float, max_in_row: int,
                 walk_in_past_guard: bool) -> bool:
    """Whether the counter takes its best due booked ticket rather than a
    walk-in, after ``streak`` booked calls in a row; never while a walk-in
    has waited past the guard."""
    return has_booked and (not has_walk_in or (streak < max_in_row and not walk_in_past_guard))
