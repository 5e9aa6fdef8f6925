"""Queueing theory as a check on the simulator and the core.

With Poisson arrivals (rate λ), exponential service (rate μ) and c counters
serving one first-come-first-served queue (M/M/c), the mean wait in the
queue is given by the Erlang C formula. Running such a center through the
simulator *and the real queue core* should reproduce it: a check that
arrivals, service times, counter behaviour and the core's call order are
what they claim to be.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, time, timedelta

from motcua.server.config import ROLES, WEEKDAYS, CenterConfig, parse_config

from motcua.server.core import QueueCore

from .profile import Profile
from .run import SimClock, day_rng, estimate_errors, run_on_core
from .model import DaySimulation


def erlang_c_probability(a: float, c: int) -> float:
    """Probability that an arrival has to wait, offered load ``a`` = λ/μ."""
    if c < 1:
        raise ValueError("need at least one server")
    if a >= c:
        return 1.0
    b = 1.0  # Erlang B by the stable recursion, then C from B.
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    return b / (1 - rho * (1 - b))


def erlang_c_wait(lam: float, mu: float, c: int) -> float:
    """Mean wait in queue of an M/M/c queue (same time unit as 1/λ, 1/μ)."""
    if lam <= 0:
        return 0.0
    if lam / (c * mu) >= 1 - 1e-12:  # saturated (with float slack: 0.3 vs 3 × 0.1)
        return float("inf")
    return erlang_c_probability(lam / mu, c) / (c * mu - lam)


def erlang_config(c: int, mean_service_minutes: float) -> CenterConfig:
    """A center with one department and ``c`` counters, open all day."""
    return parse_config({
        "center": {"name": "Erlang C", "opens": "00:00", "closes": "23:59",
                   "last_ticket": "23:59", "open_days": list(WEEKDAYS)},
        "departments": [{"code": "X", "letter": "X", "vi": "Hàng đợi thử", "target_wait": 15,
                         "procedures": [{"code": "X01", "vi": "Thủ tục thử",
                                         "minutes": mean_service_minutes}]}],
        "counters": [{"number": i, "departments": ["X"]} for i in range(1, c + 1)],
        "officers": [{"id": f"e{i}", "name": f"Erlang {i}", "pin_hash": "pbkdf2_sha256$1$e$00"}
                     for i in range(1, c + 1)],
        "devices": {role: f"{role}-erlang" for role in ROLES},
    }, "<erlang>")


def erlang_profile(lam: float, mu: float, start: time, end: time) -> Profile:
    """Poisson arrivals at ``lam``/min between ``start`` and ``end``,
    exponential service at ``mu``/min; nobody walks, breaks, leaves or rates."""
    return Profile(
        arrival_rate={"X": lam}, procedures={"X": [("X01", 1.0)]},
        service_mean={"X01": 60.0 / mu, None: 60.0 / mu}, service_cv=None,
        day_noise=0.0, priority_share=0.0, no_show=0.0, transfer={}, walk=False,
        breaks=(), long_break=0.0, arrivals_from=start, arrivals_until=end,
        flat_arrivals=True)


@dataclass
class ErlangCheck:
    """Simulated against theoretical mean wait (minutes)."""

    lam: float
    mu: float
    c: int
    days: int
    tickets: int
    theory: float
    simulated: float
    #: Share of tickets that had to wait, and Erlang C's probability of it.
    waited_share: float = float("nan")
    theory_waited: float = float("nan")
    #: Mean wait of each day, for the spread.
    daily: list[float] = field(default_factory=list)
    #: The core's printed estimates against the real waits.
    estimate_mae: float = float("nan")
    estimate_bias: float = float("nan")

    @property
    def relative_error(self) -> float:
        return abs(self.simulated - self.theory) / self.theory if self.theory else 0.0

    @property
    def standard_error(self) -> float:
        """Standard error of the simulated mean from the day-to-day spread."""
        if len(self.daily) < 2:
            return float("nan")
        return statistics.stdev(self.daily) / len(self.daily) ** 0.5


def erlang_check(lam: float = 0.21, mu: float = 0.1, c: int = 3, days: int = 100,
                 seed: int | str = 0, hours: float = 18.0,
                 warmup_minutes: float = 180.0) -> ErlangCheck:
    """Simulate ``days`` days of an M/M/c center on the pure core and compare
    the mean wait (issue → call) of tickets issued after a warm-up (the day
    starts with an empty queue) with Erlang C. Rates are per minute.

    The warm-up should cover the queue's relaxation time, about
    1 / (cμ(1 − √ρ)²): two hours for the default ρ = 0.7, so three are skipped. The mean wait of
    an M/M/c queue is a noisy statistic (each day's mean varies by ±45 %
    here), so ~100 days are needed for a few per cent of standard error."""
    config = erlang_config(c, 1.0 / mu)
    start = time(4, 0)
    end_min = 4 * 60 + hours * 60
    end = time(int(end_min // 60), int(end_min % 60))
    profile = erlang_profile(lam, mu, start, end)
    day0 = date(2026, 1, 5)
    cutoff = (start.hour * 60 + start.minute + warmup_minutes) * 60
    waits: list[float] = []
    daily: list[float] = []
    records = []
    for i in range(days):
        d = day0 + timedelta(days=i)
        clock = SimClock()
        core = QueueCore(config, clock)
        sim = DaySimulation(config, profile, d, day_rng(f"erlang-{seed}", d))
        run_on_core(sim, core, clock)
        day_waits = [r.sim_called - r.sim_issued for r in sim.records.values()
                     if r.sim_issued >= cutoff and r.sim_called is not None]
        waits += day_waits
        if day_waits:
            daily.append(statistics.fmean(day_waits) / 60)
        records += [r for r in sim.records.values() if r.sim_issued >= cutoff]
    est = estimate_errors(records)
    return ErlangCheck(
        lam, mu, c, days, len(waits), erlang_c_wait(lam, mu, c),
        statistics.fmean(waits) / 60 if waits else float("nan"),
        sum(1 for w in waits if w > 0) / len(waits) if waits else float("nan"),
        erlang_c_probability(lam / mu, c), daily, est.mae, est.bias)
