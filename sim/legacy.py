"""The wait estimate motcua printed before the look-ahead estimator, kept as a
baseline: the simulator reports it beside the new one on the same tickets,
and the benchmark times it.

It was an M/M/c-style formula on the department's own queue: idle counters
take the first citizens at once; past them each place in line waits for one
more departure from the department's share of open counters (a counter
serving three departments counts as a third), the citizen's own included,
at a running average (EWMA, α = 0.2, starting from the first visit) of
service times, rounded up.
"""

from __future__ import annotations

import math
from typing import Any

EWMA_ALPHA = 0.2


class LegacyEstimator:
    """Today's formula, fed from the core's events like the old core was."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.avg: dict[str, float] = {}
        self._serving = {d.code: [(c.number, 1 / len(c.departments)) for c in config.counters
                                  if d.code in c.departments] for d in config.departments}

    def learn(self, core: Any, out: Any) -> None:
        """Learn service times from an outcome's ended visits (finish, and a
        transfer of a citizen whose service had started)."""
        for ev in out.events:
            if ev.type != "visit_ended":
                continue
            v = ev.data.get("visit") or {}
            started, called = v.get("started_at"), v.get("called_at")
            if v.get("outcome") == "transferred" and started == called:
                continue  # never started: the old core learned nothing
            if v.get("outcome") not in ("served", "transferred") or started is None:
                continue
            seconds = float(v["ended_at"]) - float(started)
            if seconds <= 0:
                continue
            avg = self.avg.get(v["department"])
            self.avg[v["department"]] = (seconds if avg is None
                                         else (1 - EWMA_ALPHA) * avg + EWMA_ALPHA * seconds)

    def service_seconds(self, department: str) -> float:
        avg = self.avg.get(department)
        if avg is not None:
            return avg
        dept = self.config.department(department)
        return (dept.typical_minutes if dept else 10.0) * 60

    def minutes(self, core: Any, department: str, ahead: int) -> int:
        """The old printed estimate for someone with ``ahead`` people ahead."""
        shares = [(share, core.counters[n].status == "open", core.counters[n].ticket_id is None)
                  for n, share in self._serving[department]]
        open_share = sum(s for s, is_open, _ in shares if is_open)
        capacity = open_share if open_share > 0 else (sum(s for s, _, _ in shares) or 1.0)
        free = sum(s for s, is_open, idle in shares if is_open and idle)
        if ahead < free:
            return 0
        return math.ceil((ahead + 1 - free) * self.service_seconds(department) / capacity / 60)
