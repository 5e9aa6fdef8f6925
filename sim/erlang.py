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
from typing import Iterator

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


def relaxation_minutes(lam: float, mu: float, c: int) -> float:
    """The relaxation time of an M/M/c queue, 1 / (cμ(1 − √ρ)²): how long
    it takes to forget its state (and an empty start)."""
    rho = lam / (c * mu)
    return 1.0 / (c * mu * (1 - rho ** 0.5) ** 2)


#: Ticket letters: one department can number only 999 tickets a day, so a
#: busy check splits its single queue over several departments that every
#: counter serves oldest first — one first-come-first-served line.
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


def _codes(departments: int) -> list[str]:
    return ["X"] if departments == 1 else [f"X{_LETTERS[i]}" for i in range(departments)]


def erlang_config(c: int, mean_service_minutes: float, departments: int = 1) -> CenterConfig:
    """A center with one queue and ``c`` counters, open all day (the queue
    split over ``departments`` letters when it needs more than 999 numbers)."""
    codes = _codes(departments)
    return parse_config({
        "center": {"name": "Erlang C", "opens": "00:00", "closes": "23:59",
                   "last_ticket": "23:59", "open_days": list(WEEKDAYS)},
        "departments": [{"code": code, "letter": "X" if departments == 1 else _LETTERS[i],
                         "vi": "Hàng đợi thử", "target_wait": 15,
                         "procedures": [{"code": f"{code}01", "vi": "Thủ tục thử",
                                         "minutes": mean_service_minutes}]}
                        for i, code in enumerate(codes)],
        "counters": [{"number": i, "departments": codes} for i in range(1, c + 1)],
        "officers": [{"id": f"e{i}", "name": f"Erlang {i}", "pin_hash": "pbkdf2_sha256$1$e$00"}
                     for i in range(1, c + 1)],
        "devices": {role: f"{role}-erlang" for role in ROLES},
    }, "<erlang>")


def erlang_profile(lam: float, mu: float, start: time, end: time,
                   departments: int = 1) -> Profile:
    """Poisson arrivals at ``lam``/min between ``start`` and ``end``,
    exponential service at ``mu``/min; nobody walks, breaks, leaves or rates."""
    codes = _codes(departments)
    return Profile(
        arrival_rate={code: lam / len(codes) for code in codes},
        procedures={code: [(f"{code}01", 1.0)] for code in codes},
        service_mean={**{f"{code}01": 60.0 / mu for code in codes}, None: 60.0 / mu},
        service_cv=None,
        day_noise=0.0, priority_share=0.0, no_show=0.0, transfer={}, walk=False,
        breaks=(), long_break=0.0, arrivals_from=start, arrivals_until=end,
        flat_arrivals=True, name="Erlang C (M/M/c)")


# Two-sided 95 % Student t quantiles by degrees of freedom (then ≈ normal).
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131,
        16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 24: 2.064, 29: 2.045,
        39: 2.023, 59: 2.001, 119: 1.980}


def t95(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        return float("nan")
    for k in sorted(_T95):
        if df <= k:
            return _T95[k]
    return 1.960


def _interval(values: list[float]) -> tuple[float, float]:
    """Mean of per-replication values and the half-width of its 95 % CI."""
    if not values:
        return float("nan"), float("nan")
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, float("nan")
    return m, t95(len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5


@dataclass
class ErlangCheck:
    """Simulated against theoretical mean wait (minutes), with 95 % confidence
    intervals from independent replications (one simulated day each)."""

    lam: float
    mu: float
    c: int
    days: int
    tickets: int
    theory: float
    simulated: float
    #: Half-width of the 95 % confidence interval of ``simulated``.
    ci: float = float("nan")
    #: Share of tickets that had to wait, its CI, and Erlang C's probability.
    waited_share: float = float("nan")
    waited_ci: float = float("nan")
    theory_waited: float = float("nan")
    #: Mean wait of each replication.
    daily: list[float] = field(default_factory=list)
    #: Relaxation time, warm-up and measured span per replication (minutes).
    relaxation: float = float("nan")
    warmup: float = float("nan")
    horizon: float = float("nan")
    #: Simulated seconds per minute of the model: 60 = real time; less when a
    #: heavily loaded queue needs more than a day to settle and be measured.
    time_unit: float = 60.0
    #: Measured tickets never called by the end of their day (none should be).
    unserved: int = 0
    #: The core's printed estimates against the real waits (real time only).
    estimate_mae: float = float("nan")
    estimate_bias: float = float("nan")

    @property
    def rho(self) -> float:
        return self.lam / (self.c * self.mu)

    @property
    def relative_error(self) -> float:
        return abs(self.simulated - self.theory) / self.theory if self.theory else 0.0

    @property
    def difference(self) -> float:
        """(simulated − theory) / theory."""
        return (self.simulated - self.theory) / self.theory if self.theory else 0.0

    @property
    def standard_error(self) -> float:
        """Standard error of the simulated mean from the day-to-day spread."""
        if len(self.daily) < 2:
            return float("nan")
        return statistics.stdev(self.daily) / len(self.daily) ** 0.5


#: The simulated day: arrivals from START until ARRIVALS_END, then the queue
#: drains before midnight; warm-up plus measurement fill the arrival span.
START_S, ARRIVALS_END_S = 5 * 60, int(0.88 * 86400)
WARMUP_RELAXATIONS = 5.0


def erlang_check(lam: float = 0.21, mu: float = 0.1, c: int = 3, days: int = 100,
                 seed: int | str = 0) -> ErlangCheck:
    """Simulate ``days`` independent days of an M/M/c center on the pure core
    and compare the mean wait (issue → call) with Erlang C. Rates are per
    minute.

    Each day starts empty; tickets issued during the warm-up — five
    relaxation times, 1 / (cμ(1 − √ρ)²), so the empty start is forgotten —
    are not counted, and at least as long again is measured. When that does
    not fit in a day (heavy load: the relaxation time of M/M/1 at ρ = 0.95
    is 260 hours at 10-minute services), the model's time runs faster in
    the simulated clock (queueing theory is scale-free: waits scale with the
    service time), and figures are given back in the model's minutes. A
    measured ticket still waiting at midnight would expire with the day: it
    is counted as unserved rather than dropped. Each figure comes with a
    95 % confidence interval over the days."""
    tau = relaxation_minutes(lam, mu, c) if lam < c * mu else float("inf")
    warmup = WARMUP_RELAXATIONS * tau
    span_min = (ARRIVALS_END_S - START_S) / 60
    unit = min(60.0, 60.0 * span_min / (2 * warmup)) if warmup < float("inf") else 60.0
    scale = unit / 60.0  # simulated minutes per model minute
    horizon = span_min / scale - warmup
    departments = min(len(_LETTERS), 1 + int(1.2 * lam / scale * span_min / 999))
    config = erlang_config(c, (1.0 / mu) * scale, departments)
    start = time(0, START_S // 60)
    end = time(ARRIVALS_END_S // 3600, ARRIVALS_END_S % 3600 // 60)
    profile = erlang_profile(lam / scale, mu / scale, start, end, departments)
    day0 = date(2026, 1, 5)
    cutoff = START_S + warmup * unit
    waits: list[float] = []
    daily: list[float] = []
    daily_waited: list[float] = []
    records = []
    unserved = 0
    for i in range(days):
        d = day0 + timedelta(days=i)
        clock = SimClock()
        core = QueueCore(config, clock)
        sim = DaySimulation(config, profile, d, day_rng(f"erlang-{seed}", d))
        run_on_core(sim, core, clock)
        measured = [r for r in sim.records.values() if r.sim_issued >= cutoff]
        unserved += sum(1 for r in measured if r.sim_called is None)
        day_waits = [(r.sim_called - r.sim_issued) / unit for r in measured
                     if r.sim_called is not None]
        waits += day_waits
        if day_waits:
            daily.append(statistics.fmean(day_waits))
            daily_waited.append(sum(1 for w in day_waits if w > 0) / len(day_waits))
        records += measured
    est = estimate_errors(records) if unit == 60.0 else None
    mean, ci = _interval(daily)
    waited, waited_ci = _interval(daily_waited)
    return ErlangCheck(
        lam, mu, c, days, len(waits), erlang_c_wait(lam, mu, c), mean, ci,
        waited, waited_ci, erlang_c_probability(lam / mu, c), daily,
        tau, warmup, horizon, unit, unserved,
        est.mae if est else float("nan"), est.bias if est else float("nan"))


#: The check grid of the closing note: counters × load.
GRID_C = (1, 2, 4, 8)
GRID_RHO = (0.5, 0.7, 0.8, 0.9, 0.95)


def erlang_grid(days: int = 20, seed: int | str = 0, mu: float = 0.1,
                cs: tuple[int, ...] = GRID_C,
                rhos: tuple[float, ...] = GRID_RHO) -> Iterator[ErlangCheck]:
    """:func:`erlang_check` across counters and loads, one point at a time."""
    for c in cs:
        for rho in rhos:
            yield erlang_check(rho * c * mu, mu, c, days, seed)
