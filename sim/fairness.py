"""Fairness of the call order, measured on simulated days.

:class:`FairnessLog` watches the core's outcomes (use it as a sink, like
:class:`sim.accuracy.EstimateLog`) and counts:

* runs of priority calls at a counter longer than ``max_priority_in_row``
  while a normal ticket was waiting for that counter — the rule says this
  must not happen;
* every wait in a queue (queued → called: a transferred citizen waits once
  in each queue), per department: mean, 90th percentile, longest, and the
  share called within the department's target. These are *per queue wait*,
  like the report's "Chờ TB".

A call is a ``ticket_called`` event with ``waited``; a recall has none (its
``recall`` count is no guide: a requeued ticket keeps the recalls it had).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass
class QueueWaits:
    """Queue waits of one department, in minutes."""

    department: str
    n: int
    mean: float
    p90: float
    longest: float
    within_target: float


@dataclass
class FairnessLog:
    """Counts what the call rule let happen."""

    config: Any
    priority_runs_over: int = 0
    priority_calls_over: int = 0
    #: Runs longer than the limit whoever waited (legitimate when no normal
    #: ticket did), for comparison.
    priority_runs_long: int = 0
    waits: dict[str, list[float]] = field(default_factory=dict)
    _streak: dict[int, int] = field(default_factory=dict)
    _flagged: set[int] = field(default_factory=set)

    def __call__(self, core: Any, out: Any) -> None:
        limit = self.config.queue.max_priority_in_row
        for ev in out.events:
            if ev.type == "day_started":  # the core starts every run afresh each day
                self._streak.clear()
                self._flagged.clear()
            if ev.type != "ticket_called" or "waited" not in ev.data or ev.counter is None:
                continue
            t = core.tickets.get(ev.ticket_id)
            if t is None:
                continue
            self.waits.setdefault(t.department, []).append(float(ev.data.get("waited", 0)) / 60)
            n = ev.counter
            if not t.priority:
                self._streak[n] = 0
                self._flagged.discard(n)
                continue
            before = self._streak.get(n, 0)
            self._streak[n] = before + 1
            if before == limit:
                self.priority_runs_long += 1
            cfg = self.config.counter(n)
            normal_waits = cfg is not None and any(
                not o.priority for d in cfg.departments for o in core.waiting[d].values())
            if before >= limit and normal_waits:
                self.priority_calls_over += 1
                if n not in self._flagged:
                    self._flagged.add(n)
                    self.priority_runs_over += 1

    def merge(self, other: "FairnessLog") -> None:
        """Add another run's counts and waits to this one."""
        self.priority_runs_over += other.priority_runs_over
        self.priority_calls_over += other.priority_calls_over
        self.priority_runs_long += other.priority_runs_long
        for d, w in other.waits.items():
            self.waits.setdefault(d, []).extend(w)

    def queue_waits(self) -> list[QueueWaits]:
        """Per department, in the center's order."""
        out = []
        for d in self.config.departments:
            w = sorted(self.waits.get(d.code, []))
            if not w:
                continue
            out.append(QueueWaits(d.code, len(w), statistics.fmean(w),
                                  w[min(len(w) - 1, int(0.9 * len(w)))], w[-1],
                                  sum(1 for x in w if x <= d.target_wait) / len(w)))
        return out
