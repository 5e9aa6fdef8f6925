"""What a simulated day looks like: arrival curve, procedure mix, service
times, lunch and breaks, and how citizens and officers behave.

Pure data and arithmetic: nothing here touches the queue core or the network.

* :meth:`Profile.load` reads a profile file (TOML): the sample center's own
  is ``sim/sample_profile.toml``, which says what each assumption rests on
  (500–600 visits a day, satisfaction in the 90s, lunch closure, result
  pickups). :meth:`Profile.sample` loads it.
* :meth:`Profile.for_config` derives demand from capacity — every department
  busy ``load`` of the day — for any center file without a profile (and to
  reproduce runs made before profiles existed).
"""

from __future__ import annotations

import bisect
import math
import random
import statistics
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from motcua.server.config import WEEKDAYS, CenterConfig

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
    #: Arrival intensity as a step curve: (seconds after midnight, value)
    #: sorted; None = ``hourly_shape``.
    shape: tuple[tuple[float, float], ...] | None = None
    #: Lunch closure: start, end, minutes officers keep serving after the
    #: start, minutes they may come back late, and the pause reason.
    lunch: tuple[time, time, float, float, str] | None = None
    #: Procedure given to a transferred citizen, per (source, target); the
    #: target's first procedure otherwise.
    transfer_procedure: dict[tuple[str, str], str] = field(default_factory=dict)
    #: What this profile is (printed by ``motcua simulate``).
    name: str = "theo công suất / from capacity"
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
                   transfer=transfer, lunch=center_lunch(config))

    # --- sampling -------------------------------------------------------

    def service_seconds(self, rng: random.Random, procedure: str | None) -> float:
        """One service time for a procedure."""
        mean = self.service_mean.get(procedure, self.service_mean.get(None, 600.0))
        if self.service_cv is None:
            return rng.expovariate(1.0 / mean)
        s2 = math.log(1 + self.service_cv ** 2)
        return rng.lognormvariate(math.log(mean) - s2 / 2, math.sqrt(s2))

    def service_seconds_after(self, rng: random.Random, procedure: str | None,
                              elapsed: float) -> float:
        """One service time for a procedure, given it has lasted ``elapsed``."""
        mean = self.service_mean.get(procedure, self.service_mean.get(None, 600.0))
        if self.service_cv is None:
            return elapsed + rng.expovariate(1.0 / mean)
        s2 = math.log(1 + self.service_cv ** 2)
        mu, sd = math.log(mean) - s2 / 2, math.sqrt(s2)
        dist = statistics.NormalDist(mu, sd)
        lo = dist.cdf(math.log(elapsed)) if elapsed > 0 else 0.0
        if lo >= 1 - 1e-9:
            return elapsed * (1 + rng.expovariate(1 / max(s2, 1e-3)) / 10)
        return max(elapsed, math.exp(dist.inv_cdf(lo + (1 - lo) * max(rng.random(), 1e-12))))

    def day_factor(self, rng: random.Random, day: date) -> float:
        """How busy this day is compared with an ordinary weekday."""
        noise = rng.lognormvariate(0.0, self.day_noise) if self.day_noise else 1.0
        return self.weekday_factor.get(day.weekday(), 1.0) * noise

    def intensity(self, hour: int) -> float:
        """Relative arrival intensity in a local hour (hourly profiles)."""
        return 1.0 if self.flat_arrivals else self.hourly_shape.get(hour, 0.3)

    def intensity_at(self, seconds: float) -> tuple[float, float]:
        """Relative arrival intensity at ``seconds`` after local midnight, and
        when that intensity next changes."""
        if self.shape is None or self.flat_arrivals:
            return self.intensity(int(seconds // 3600)), (seconds // 3600 + 1) * 3600
        starts = [s for s, _ in self.shape]
        i = bisect.bisect_right(starts, seconds) - 1
        value = self.shape[i][1] if i >= 0 else self.shape[0][1]
        nxt = starts[i + 1] if i + 1 < len(starts) else 86400.0
        return value, nxt

    def mean_intensity(self, start: datetime, end: datetime) -> float:
        """Average intensity over ``[start, end)``, so the day's volume is set
        by ``arrival_rate`` whatever the opening hours."""
        if self.shape is not None and not self.flat_arrivals:
            midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
            t = (start - midnight).total_seconds()
            stop = (end - midnight).total_seconds()
            total = 0.0
            while t < stop:
                value, nxt = self.intensity_at(t)
                nxt = min(nxt, stop)
                total += value * (nxt - t)
                t = nxt
            return total / (stop - (start - midnight).total_seconds()) if stop > 0 else 1.0
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


    # --- profile files ----------------------------------------------------

    @classmethod
    def sample(cls, config: CenterConfig) -> "Profile":
        """The built-in profile of the sample center (``sample_profile.toml``)."""
        text = resources.files("motcua.sim").joinpath("sample_profile.toml").read_text("utf-8")
        return cls.parse(tomllib.loads(text), config, "<built-in sample profile>")

    @classmethod
    def load(cls, path: str | Path, config: CenterConfig) -> "Profile":
        """A profile file for ``config``; :class:`ProfileError` names what is wrong."""
        try:
            data = tomllib.loads(Path(path).read_text("utf-8"))
        except OSError as e:
            raise ProfileError(f"{path}: cannot read: {e.strerror or e}") from e
        except tomllib.TOMLDecodeError as e:
            raise ProfileError(f"{path}: not valid TOML: {e}") from e
        return cls.parse(data, config, str(path))

    @classmethod
    def parse(cls, data: dict[str, Any], config: CenterConfig, source: str = "") -> "Profile":
        """Build a profile from parsed TOML (see ``sample_profile.toml``)."""
        where = f"{source}: " if source else ""
        try:
            return cls._parse(data, config)
        except (KeyError, TypeError, ValueError) as e:
            raise ProfileError(f"{where}{e}") from None

    @classmethod
    def _parse(cls, data: dict[str, Any], config: CenterConfig) -> "Profile":
        prof = data.get("profile", {})
        depts = {d.code: d for d in config.departments}
        procedures: dict[str, list[tuple[str | None, float]]] = {}
        service_mean: dict[str | None, float] = {None: 600.0}
        transfer: dict[str, list[tuple[str, float]]] = {}
        transfer_procedure: dict[tuple[str, str], str] = {}
        shares: dict[str, float] = {}
        for i, d in enumerate(data.get("departments", [])):
            code = d["code"]
            if code not in depts:
                raise ValueError(f"departments[{i}].code: no department {code!r} in the center")
            dept = depts[code]
            shares[code] = float(d["share"])
            factor = float(d.get("service", 1.0))
            mix = d.get("procedures") or {p.code: 1.0 for p in dept.procedures}
            own = {p.code: p for p in dept.procedures}
            for proc in mix:
                if proc not in own:
                    raise ValueError(f"departments[{i}].procedures: {proc!r} is not a "
                                     f"procedure of {code}")
            procedures[code] = [(p, float(w)) for p, w in mix.items() if float(w) > 0] \
                or [(None, 1.0)]
            for p in dept.procedures:
                service_mean[p.code] = p.minutes * 60 * factor
            moves = []
            for dst, spec in (d.get("transfers") or {}).items():
                if dst not in depts:
                    raise ValueError(f"departments[{i}].transfers: no department {dst!r}")
                if isinstance(spec, list):
                    p_move, proc = float(spec[0]), str(spec[1])
                    transfer_procedure[(code, dst)] = proc
                else:
                    p_move = float(spec)
                moves.append((dst, p_move))
            transfer[code] = moves
        missing = [c for c in depts if c not in shares]
        if missing:
            raise ValueError(f"departments: no share for {', '.join(missing)}")
        total_share = sum(shares.values())
        opens = _secs(config.opens)
        last = _secs(config.last_ticket)
        minutes = (last - opens) / 60
        visits = float(prof.get("visits", 500))
        rate = {code: visits * sh / total_share / minutes for code, sh in shares.items()}
        shape = None
        if data.get("arrivals"):
            shape = tuple(sorted((_secs(_hhmm(k)), float(v)) for k, v in data["arrivals"].items()))
        weekdays = dict(WEEKDAY_FACTOR)
        for name, v in (data.get("weekdays") or {}).items():
            weekdays[WEEKDAYS.index(name)] = float(v)
        lunch = center_lunch(config)
        if data.get("lunch"):
            lu = data["lunch"]
            lunch = (_hhmm(lu["from"]), _hhmm(lu["to"]), float(lu.get("grace", 15)),
                     float(lu.get("late", 5)), str(lu.get("reason", "Nghỉ trưa")))
        br = data.get("breaks") or {}
        breaks = tuple((_hhmm(w[0]), _hhmm(w[1]), float(w[2]), float(w[3]))
                       for w in br.get("windows", [])) if "windows" in br else \
            cls.__dataclass_fields__["breaks"].default
        kw: dict[str, Any] = {}
        for key, attr in (("service_cv", "service_cv"), ("day_noise", "day_noise"),
                          ("priority_share", "priority_share"), ("no_show", "no_show"),
                          ("late_return", "late_return"), ("rate_served", "rate_served"),
                          ("rate_transferred", "rate_transferred")):
            if key in prof:
                kw[attr] = float(prof[key])
        if "patience" in prof:
            kw["patience_min"], kw["patience_extra_mean"] = map(float, prof["patience"])
        if "walk" in prof:
            kw["walk_fixed"], kw["walk_extra_mean"] = map(float, prof["walk"])
        for key in ("gap", "react"):
            if key in prof:
                kw[key] = tuple(map(float, prof[key]))
        for key in ("rating_mix", "rating_mix_late"):
            if key in prof:
                kw[key] = tuple(map(float, prof[key]))
        if "long_break" in br:
            kw["long_break"] = float(br["long_break"])
        if "long_break_minutes" in br:
            kw["long_break_minutes"] = tuple(map(float, br["long_break_minutes"]))
        return cls(arrival_rate=rate, procedures=procedures, service_mean=service_mean,
                   transfer=transfer, shape=shape, weekday_factor=weekdays, lunch=lunch,
                   breaks=breaks, transfer_procedure=transfer_procedure,
                   name=str(prof.get("name", "profile")), **kw)


def center_lunch(config: CenterConfig) -> tuple[time, time, float, float, str] | None:
    """The center's own lunch closure as a profile lunch (officers serve
    whoever waits for 15 more minutes and may be 5 minutes late back)."""
    lunch = getattr(config, "lunch", None)
    if not lunch:
        return None
    return (lunch[0], lunch[1], 15.0, 5.0, "Nghỉ trưa")


class ProfileError(ValueError):
    """A profile file is invalid; the message names the field."""


def _hhmm(value: Any) -> time:
    if isinstance(value, time):
        return value
    return datetime.strptime(str(value), "%H:%M").time()


def _secs(t: time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second
