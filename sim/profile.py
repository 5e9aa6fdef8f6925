"""What a simulated day looks like: arrival curve, procedure mix, service
times, and how citizens and officers behave.

Pure data and arithmetic: nothing here touches the queue core or the network.
:meth:`Profile.for_config` derives a plausible profile for any center file
from its counters and procedures, so the simulator works for centers other
than the built-in sample.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from motcua.server.config import CenterConfig

#: Relative arrival intensity by local hour: a morning peak, a lunch dip and
#: a smaller afternoon bump, the shape one-stop centers report.
HOURLY_SHAPE: dict[int, float] = {
    6: 0.5, 7: 1.0, 8: 1.6, 9: 1.7, 10: 1.45, 11: 1.0, 12: 0.35, 13: 0.8,
    14: 1.15, 15: 1.0, 16: 0.6, 17: 0.4, 18: 0.3,
}

#: Relative volume by weekday (Monday busiest, Saturday a short day).
WEEKDAY_FACTOR = {0: 1.15, 1: 1.0, 2: 1.0, 3: 1.0, 4: 0.95, 5: 0.45, 6: 0.3}

#: Departments citizens are usually sent on to (sample center codes).
FEE_DEPARTMENT = "PHI"
RESULT_DEPARTMENT = "TKQ"

#: Why officers pause.
PAUSE_REASONS = ("Nghỉ giải lao", "Họp giao ban", "Nghe điện thoại", "Xử lý hồ sơ tồn")

#: Weights of the SIPAS criteria a dissatisfied citizen names.
REASON_WEIGHTS = {"officer": 0.3, "procedure": 0.3, "access": 0.15, "result": 0.15,
                  "feedback": 0.1}


@dataclass
class Profile:
    """Parameters of a simulated center day. Rates are per minute, times in
    seconds unless the name says otherwise."""

    #: Expected direct arrivals per minute per department at relative intensity 1.
    arrival_rate: dict[str, float]
    #: Procedure codes of each department with their pick weights.
    procedures: dict[str, list[tuple[str | None, float]]]
    #: Mean service seconds per procedure code (None: department mean).
    service_mean: dict[str | None, float]
    #: Coefficient of variation of service times (lognormal); None = exponential.
    service_cv: float | None = 0.5
    hourly_shape: dict[int, float] = field(default_factory=lambda: dict(HOURLY_SHAPE))
    weekday_factor: dict[int, float] = field(default_factory=lambda: dict(WEEKDAY_FACTOR))
    #: Day-to-day volume noise (sigma of a lognormal factor).
    day_noise: float = 0.08
    priority_share: float = 0.06
    no_show: float = 0.03
    #: Share of no-shows who turn up later and are put back in the queue.
    late_return: float = 0.3
    #: Probability that a visit ends in a transfer, per source department,
    #: and where to.
    transfer: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    #: Minutes a citizen will wait at least, then an exponential extra patience.
    patience_min: float = 45.0
    patience_extra_mean: float = 180.0
    #: Walk from the waiting room to the counter after a call: fixed + exponential.
    walk_fixed: float = 15.0
    walk_extra_mean: float = 25.0
    #: Seconds an officer takes between visits, and to react to a new ticket.
    gap: tuple[float, float] = (5.0, 25.0)
    react: tuple[float, float] = (2.0, 10.0)
    rate_served: float = 0.7
    rate_transferred: float = 0.3
    #: Rating mix over the configured levels (best first), normally and after
    #: a wait over the department's target.
    rating_mix: tuple[float, ...] = (0.60, 0.30, 0.07, 0.03)
    rating_mix_late: tuple[float, ...] = (0.40, 0.35, 0.15, 0.10)
    #: Breaks per officer: (earliest, latest) local start, minutes (min, max).
    breaks: tuple[tuple[time, time, float, float], ...] = (
        (time(9, 15), time(10, 45), 8, 15), (time(14, 0), time(15, 30), 8, 15))
    #: Chance an officer takes one long break (a meeting) on a given day.
    long_break: float = 0.1
    long_break_minutes: tuple[float, float] = (35.0, 50.0)
    #: Simplifications for the queueing-theory check (see :mod:`sim.erlang`).
    walk: bool = True
    arrivals_from: time | None = None
    arrivals_until: time | None = None
    flat_arrivals: bool = False

    @classmethod
    def for_config(cls, config: CenterConfig, load: float = 0.7,
                   service_factor: float = 0.7) -> "Profile":
        """A profile for ``config``: each department's arrivals are set so its
        counters are busy about ``load`` of the day on average (peaks go
        above that); service times average ``service_factor`` × the
        procedure's typical minutes."""
        procedures: dict[str, list[tuple[str | None, float]]] = {}
        service_mean: dict[str | None, float] = {}
        dept_service: dict[str, float] = {}
        for d in config.departments:
            procs = list(d.procedures)
            if procs:
                # A few procedures make most of a department's traffic.
                weights = [1 / (i + 1) for i in range(len(procs))]
                procedures[d.code] = [(p.code, w) for p, w in zip(procs, weights)]
                for p in procs:
                    service_mean[p.code] = p.minutes * 60 * service_factor
                total = sum(weights)
                dept_service[d.code] = sum(
                    w * p.minutes * 60 * service_factor for p, w in zip(procs, weights)) / total
            else:
                procedures[d.code] = [(None, 1.0)]
                dept_service[d.code] = 10 * 60 * service_factor
        service_mean[None] = 10 * 60 * service_factor

        codes = {d.code for d in config.departments}
        transfer: dict[str, list[tuple[str, float]]] = {}
        for d in config.departments:
            if d.code in (FEE_DEPARTMENT, RESULT_DEPARTMENT):
                continue
            moves: list[tuple[str, float]] = []
            if FEE_DEPARTMENT in codes:
                # Land, construction and transport dossiers usually carry a fee.
                heavy = d.typical_minutes >= 15 or d.code in ("TNMT", "GTVT", "XD")
                moves.append((FEE_DEPARTMENT, 0.25 if heavy else 0.08))
            others = [c for c in codes if c not in (d.code, FEE_DEPARTMENT, RESULT_DEPARTMENT)]
            if others:
                # A citizen queued at the wrong desk now and then.
                share = 0.02 / len(others)
                moves += [(c, share) for c in sorted(others)]
            transfer[d.code] = moves

        # Capacity of each department in services per minute, sharing a
        # counter equally among the departments it serves.
        capacity = {d.code: 0.0 for d in config.departments}
        for c in config.counters:
            for code in c.departments:
                capacity[code] += 60.0 / dept_service[code] / len(c.departments)
        inflow = {code: 0.0 for code in capacity}
        rate: dict[str, float] = {}
        for code, cap in capacity.items():
            rate[code] = load * cap
        # Transfers add work downstream: take it off the target's own arrivals.
        for src, moves in transfer.items():
            for dst, p in moves:
                inflow[dst] += rate[src] * p
        for code in rate:
            rate[code] = max(0.1 * load * capacity[code], rate[code] - inflow[code])
        return cls(arrival_rate=rate, procedures=procedures, service_mean=service_mean,
                   transfer=transfer)

    # --- sampling -------------------------------------------------------

    def service_seconds(self, rng: random.Random, procedure: str | None) -> float:
        """One service time for a procedure."""
        mean = self.service_mean.get(procedure, self.service_mean.get(None, 600.0))
        if self.service_cv is None:
            return rng.expovariate(1.0 / mean)
        s2 = math.log(1 + self.service_cv ** 2)
        return rng.lognormvariate(math.log(mean) - s2 / 2, math.sqrt(s2))

    def day_factor(self, rng: random.Random, day: date) -> float:
        """How busy this day is compared with an ordinary weekday."""
        noise = rng.lognormvariate(0.0, self.day_noise) if self.day_noise else 1.0
        return self.weekday_factor.get(day.weekday(), 1.0) * noise

    def intensity(self, hour: int) -> float:
        """Relative arrival intensity in a local hour."""
        return 1.0 if self.flat_arrivals else self.hourly_shape.get(hour, 0.3)

    def mean_intensity(self, start: datetime, end: datetime) -> float:
        """Average :meth:`intensity` over ``[start, end)``, so the day's volume
        is set by ``arrival_rate`` whatever the opening hours."""
        total, t = 0.0, start
        while t < end:
            nxt = min(end, (t + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0))
            total += self.intensity(t.hour) * (nxt - t).total_seconds()
            t = nxt
        span = (end - start).total_seconds()
        return total / span if span > 0 else 1.0

    def expected_daily_tickets(self, config: CenterConfig, day: date | None = None) -> float:
        """Direct arrivals expected on an ordinary weekday (for sizing runs)."""
        start = datetime.combine(date(2026, 1, 5), self.arrivals_from or config.opens)
        end = datetime.combine(date(2026, 1, 5), self.arrivals_until or config.last_ticket)
        minutes = (end - start).total_seconds() / 60
        return sum(self.arrival_rate.values()) * minutes
