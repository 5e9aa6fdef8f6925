"""One simulated day as a sans-I/O state machine.

:class:`DaySimulation` knows what citizens and officers do and when, but not
how commands reach the queue. A driver asks it for the next command
(:meth:`DaySimulation.next_action`), carries it out — on the pure core with a
simulated clock, or on a real server over websockets — and hands the result
back (:meth:`DaySimulation.feed`). The simulation reacts (a citizen walks
up, a counter calls the next number) by scheduling more commands. Both
drivers therefore replay exactly the same behaviour.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from motcua.server.config import CenterConfig

from .profile import PAUSE_REASONS, REASON_WEIGHTS, Profile


@dataclass
class Action:
    """A queue command due at ``at`` (seconds after local midnight)."""

    at: float
    kind: str
    args: dict[str, Any]
    #: The simulation's own note about why (not sent anywhere).
    note: Any = None


@dataclass
class TicketRecord:
    """What the simulation learned about one ticket, for checks: the
    estimate printed on it and when it was really called (server times)."""

    number: str
    department: str
    priority: str | None
    sim_issued: float
    issued_at: float
    wait_minutes: int | None
    ahead: int
    called_at: float | None = None
    sim_called: float | None = None


@dataclass
class _Citizen:
    number: str
    department: str
    procedure: str | None
    priority: str | None
    issued: float
    status: str = "waiting"  # waiting | called | serving | gone
    shows: bool = True
    returned: bool = False
    over_target: bool = False
    #: When the current service started (simulation seconds).
    served_since: float | None = None


@dataclass
class _Counter:
    number: int
    departments: tuple[str, ...]
    officer: str | None
    state: str = "closed"  # closed | idle | calling | busy | paused
    citizen: _Citizen | None = None
    breaks: list[tuple[float, float]] = field(default_factory=list)
    break_due: float | None = None
    lunch_due: bool = False


@dataclass
class DayStats:
    """Counts of what the simulation did, and commands the queue refused."""

    arrivals: int = 0
    refused: int = 0
    calls: int = 0
    no_shows: int = 0
    returns: int = 0
    transfers: int = 0
    finished: int = 0
    cancelled: int = 0
    ratings: int = 0
    pauses: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class DaySimulation:
    """Citizens and officers of one center for one day.

    ``counters`` limits which counters the simulation staffs (the others are
    left to people or other apps); ``expire`` sends the core's ``tick`` at
    the configured expiry time (the real server ticks by itself).
    """

    def __init__(self, config: CenterConfig, profile: Profile, day: date, rng: random.Random,
                 *, counters: set[int] | None = None, start: time | None = None,
                 expire: bool = True, prefix: str = "sim") -> None:
        self.config = config
        self.profile = profile
        self.day = day
        self.rng = rng
        self.prefix = prefix
        self.stats = DayStats()
        self.records: dict[str, TicketRecord] = {}
        self._heap: list[tuple[float, int, str, Any]] = []
        self._seq = itertools.count()
        self._citizens: dict[str, _Citizen] = {}
        tz = config.tz
        self.midnight = datetime.combine(day, time(0), tz)
        officers = [o.id for o in config.officers]
        self.counters: dict[int, _Counter] = {}
        for i, c in enumerate(config.counters):
            if counters is not None and c.number not in counters:
                continue
            officer = officers[i] if i < len(officers) else None
            if officer is None:
                continue
            self.counters[c.number] = _Counter(c.number, c.departments, officer)
        self._dept_counters: dict[str, list[_Counter]] = {d.code: [] for d in config.departments}
        for ct in self.counters.values():
            for code in ct.departments:
                self._dept_counters[code].append(ct)
        self._targets = {d.code: d.target_wait * 60 for d in config.departments}
        self._plan(start)
        self._expire_at = (self._secs(config.queue.expire_waiting_at)
                           if expire and config.queue.expire_waiting_at else None)
        if self._expire_at is not None:
            self._timer(self._expire_at, "expire")

    # --- time helpers ---------------------------------------------------

    def _secs(self, t: time) -> float:
        return t.hour * 3600 + t.minute * 60 + t.second

    def timestamp(self, at: float) -> datetime:
        """The aware datetime of ``at`` seconds after local midnight."""
        return (self.midnight + timedelta(seconds=at)).astimezone(timezone.utc)

    def _timer(self, at: float, what: str, data: Any = None) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), what, data))

    def _do(self, at: float, kind: str, note: Any = None, **args: Any) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), "do", Action(at, kind, args, note)))

    # --- the day's plan -------------------------------------------------

    def _plan(self, start: time | None) -> None:
        cfg, prof, rng = self.config, self.profile, self.rng
        opens = self._secs(prof.arrivals_from or cfg.opens)
        last = self._secs(prof.arrivals_until or cfg.last_ticket)
        begin = max(opens, self._secs(start)) if start else opens
        for ct in self.counters.values():
            at = begin - (rng.uniform(60, 600) if prof.walk else 0.0)
            self._do(max(0.0, at), "login", counter=ct.number, officer=ct.officer)
            if prof.walk:
                for lo, hi, mmin, mmax in prof.breaks:
                    b = rng.uniform(self._secs(lo), self._secs(hi))
                    if b >= begin:
                        ct.breaks.append((b, rng.uniform(mmin, mmax) * 60))
                if rng.random() < prof.long_break:
                    b = rng.uniform(begin + 3600, max(begin + 3600, last - 3600))
                    ct.breaks.append((b, rng.uniform(*prof.long_break_minutes) * 60))
                ct.breaks.sort()
                for b, _ in ct.breaks:
                    self._timer(b, "break", ct)
        self._timer(self._secs(cfg.closes), "close")
        if prof.lunch is not None and prof.walk:
            start_l, end_l, grace, late, _ = prof.lunch
            self._lunch = (self._secs(start_l), self._secs(end_l), grace * 60, late * 60)
            if self._lunch[0] >= begin:
                self._timer(self._lunch[0], "lunch")
        else:
            self._lunch = None

        self._factor = prof.day_factor(rng, self.day) if prof.walk else 1.0
        self._arrivals(begin, float(opens))

    def _arrivals(self, begin: float, t0: float, tag: str = "") -> None:
        """Plan the day's arrivals from ``t0`` (non-homogeneous Poisson, step
        by step of the arrival curve); those before ``begin`` are skipped."""
        cfg, prof, rng = self.config, self.profile, self.rng
        opens = self._secs(prof.arrivals_from or cfg.opens)
        last = self._secs(prof.arrivals_until or cfg.last_ticket)
        factor = self._factor
        mean_int = prof.mean_intensity(self.midnight + timedelta(seconds=opens),
                                       self.midnight + timedelta(seconds=last))
        arrivals: list[tuple[float, str]] = []
        for code, rate in prof.arrival_rate.items():
            t = t0
            while t < last:
                value, nxt = prof.intensity_at(t)
                hour_end = min(last, nxt)
                lam = rate * factor * value / mean_int / 60.0
                if lam <= 0:
                    t = hour_end
                    continue
                t += rng.expovariate(lam)
                if t >= hour_end:
                    t = hour_end  # memoryless: restart at the hour boundary
                    continue
                arrivals.append((t, code))
        arrivals.sort()
        n = 0
        for t, code in arrivals:
            if t < begin:
                continue
            n += 1
            procs = prof.procedures.get(code) or [(None, 1.0)]
            proc = rng.choices([p for p, _ in procs], [w for _, w in procs])[0]
            prio = None
            if self.config.priority_groups and rng.random() < prof.priority_share:
                prio = rng.choice(self.config.priority_groups).code
            self._do(t, "issue", None, department=code, procedure=proc, priority=prio,
                     request_id=f"{self.prefix}-{self.day.isoformat()}-{tag}{n}")

    # --- the driver's side ----------------------------------------------

    def next_action(self) -> Action | None:
        """The next command to carry out, or None when the day is over."""
        while self._heap:
            at, _, what, data = heapq.heappop(self._heap)
            if what == "do":
                return data
            getattr(self, f"_timer_{what}")(at, data)
        return None

    def peek_time(self) -> float | None:
        """When the next thing happens (seconds after midnight), if anything."""
        return self._heap[0][0] if self._heap else None

    def feed(self, action: Action, result: dict[str, Any] | None,
             error: str | None = None) -> None:
        """The outcome of ``action``: the command's result, or the code of
        the queue's refusal."""
        if error is not None:
            self.stats.errors[f"{action.kind}:{error}"] = (
                self.stats.errors.get(f"{action.kind}:{error}", 0) + 1)
        getattr(self, f"_on_{action.kind}")(action, result or {}, error)

    # --- reactions ------------------------------------------------------

    def _on_login(self, a: Action, result: dict, error: str | None) -> None:
        ct = self.counters[a.args["counter"]]
        ct.state = "closed" if error else "idle"
        if not error:
            self._call_soon(ct, a.at, self.profile.gap)

    def _on_logout(self, a: Action, result: dict, error: str | None) -> None:
        self.counters[a.args["counter"]].state = "closed"

    def _on_pause(self, a: Action, result: dict, error: str | None) -> None:
        ct = self.counters[a.args["counter"]]
        if error:
            self._call_soon(ct, a.at, self.profile.gap)
            return
        self.stats.pauses += 1
        ct.state = "paused"
        self._do(a.at + a.note, "resume", counter=ct.number)

    def _on_resume(self, a: Action, result: dict, error: str | None) -> None:
        ct = self.counters[a.args["counter"]]
        ct.state = "idle"
        self._call_soon(ct, a.at, self.profile.gap)

    def _on_issue(self, a: Action, result: dict, error: str | None) -> None:
        if error:
            self.stats.refused += 1
            return
        self.stats.arrivals += 1
        t = result["ticket"]
        if result.get("repeat"):
            return
        c = _Citizen(t["number"], t["department"], t.get("procedure"), t.get("priority"), a.at)
        self._citizens[c.number] = c
        self.records[c.number] = TicketRecord(
            c.number, c.department, c.priority, a.at, t["issued_at"],
            result.get("wait_minutes"), int(result.get("ahead", 0)))
        prof = self.profile
        if prof.walk:
            patience = (prof.patience_min + self.rng.expovariate(1 / prof.patience_extra_mean)) * 60
            self._timer(a.at + patience, "patience", c)
        self._wake(c.department, a.at)

    def _on_call_next(self, a: Action, result: dict, error: str | None) -> None:
        ct = self.counters[a.args["counter"]]
        if error:
            ct.state = "idle"
            if error != "nobody_waiting":
                return
            if a.at >= self._secs(self.config.closes) or (
                    self._expire_at is not None and a.at >= self._expire_at):
                self._do(a.at + 1, "logout", counter=ct.number)
                ct.state = "closing"
            elif ct.lunch_due:
                self._take_lunch(ct, a.at)
            elif ct.break_due is not None:
                self._take_break(ct, a.at)
            return
        t = result["ticket"]
        self.stats.calls += 1
        c = self._citizens.get(t["number"])
        if c is None:  # a ticket the simulation did not issue (a person's)
            c = _Citizen(t["number"], t["department"], t.get("procedure"), t.get("priority"),
                         a.at)
            self._citizens[c.number] = c
        rec = self.records.get(c.number)
        if rec is not None and rec.called_at is None:
            rec.called_at = t.get("called_at")
            rec.sim_called = a.at
        if a.at - c.issued > self._targets.get(c.department, 900):
            c.over_target = True
        c.department, c.procedure = t["department"], t.get("procedure")
        c.status = "called"
        ct.state, ct.citizen = "busy", c
        prof, rng = self.profile, self.rng
        if not prof.walk:
            self._end_service(ct, c, a.at)
            return
        shows = c.returned or rng.random() >= prof.no_show
        if shows:
            walk = prof.walk_fixed + rng.expovariate(1 / prof.walk_extra_mean)
            if walk > 50:
                self._do(a.at + 45, "recall", counter=ct.number)
            self._do(a.at + walk, "start", counter=ct.number)
        else:
            self._do(a.at + 45, "recall", counter=ct.number)
            self._do(a.at + 90, "recall", counter=ct.number)
            self._do(a.at + 150, "no_show", counter=ct.number)

    def _on_recall(self, a: Action, result: dict, error: str | None) -> None:
        pass

    def _on_start(self, a: Action, result: dict, error: str | None) -> None:
        ct = self.counters[a.args["counter"]]
        c = ct.citizen
        if error or c is None:
            self._free(ct, a.at)
            return
        c.status = "serving"
        self._end_service(ct, c, a.at)

    def _end_service(self, ct: _Counter, c: _Citizen, now: float,
                     dur: float | None = None) -> None:
        prof, rng = self.profile, self.rng
        c.served_since = now
        if dur is None:
            dur = prof.service_seconds(rng, c.procedure)
        target = None
        for dst, p in prof.transfer.get(c.department, ()):
            if rng.random() < p:
                target = dst
                break
        if target is not None:
            procs = prof.procedures.get(target) or [(None, 1.0)]
            proc = prof.transfer_procedure.get((c.department, target), procs[0][0])
            self._do(now + dur, "transfer", c, counter=ct.number, department=target,
                     procedure=proc)
        else:
            self._do(now + dur, "finish", c, counter=ct.number)

    def _on_finish(self, a: Action, result: dict, error: str | None) -> None:
        ct = self.counters[a.args["counter"]]
        if not error:
            self.stats.finished += 1
            if a.note is not None:
                a.note.status = "gone"
            self._maybe_rate(result.get("visit"), a.at, self.profile.rate_served, a.note)
        self._free(ct, a.at)

    def _on_transfer(self, a: Action, result: dict, error: str | None) -> None:
        ct = self.counters[a.args["counter"]]
        c: _Citizen | None = a.note
        if not error:
            self.stats.transfers += 1
            self._maybe_rate(result.get("visit"), a.at, self.profile.rate_transferred, c)
            if c is not None:
                c.status, c.department = "waiting", a.args["department"]
                c.procedure, c.issued, c.over_target = a.args.get("procedure"), a.at, False
                self._wake(c.department, a.at)
        self._free(ct, a.at)

    def _on_no_show(self, a: Action, result: dict, error: str | None) -> None:
        ct = self.counters[a.args["counter"]]
        c = ct.citizen
        if not error and c is not None:
            self.stats.no_shows += 1
            c.status = "gone"
            if self.profile.walk and self.rng.random() < self.profile.late_return:
                back = a.at + self.rng.uniform(5, 30) * 60
                self._do(back, "requeue", c, number=c.number)
        self._free(ct, a.at)

    def _on_requeue(self, a: Action, result: dict, error: str | None) -> None:
        c: _Citizen | None = a.note
        if error or c is None:
            return
        self.stats.returns += 1
        c.status, c.returned = "waiting", True
        self._wake(c.department, a.at)

    def _on_cancel(self, a: Action, result: dict, error: str | None) -> None:
        if not error:
            self.stats.cancelled += 1
            if a.note is not None:
                a.note.status = "gone"

    def _on_rate(self, a: Action, result: dict, error: str | None) -> None:
        if not error:
            self.stats.ratings += 1

    def _on_tick(self, a: Action, result: dict, error: str | None) -> None:
        for c in self._citizens.values():
            if c.status == "waiting":
                c.status = "gone"

    # --- timers ---------------------------------------------------------

    def _timer_patience(self, at: float, c: _Citizen) -> None:
        if c.status == "waiting" and not c.returned:
            c.status = "gone"
            self._do(at, "cancel", c, number=c.number, reason="Công dân về trước")

    def _timer_break(self, at: float, ct: _Counter) -> None:
        if ct.state in ("closed", "closing"):
            return
        ct.break_due = at
        if ct.state == "idle":
            self._take_break(ct, at)

    def _timer_lunch(self, at: float, _: Any) -> None:
        for ct in self.counters.values():
            if ct.state in ("closed", "closing"):
                continue
            ct.lunch_due = True
            if ct.state == "idle":
                self._take_lunch(ct, at)

    def _timer_close(self, at: float, _: Any) -> None:
        for ct in self.counters.values():
            if ct.state == "idle":
                ct.state = "closing"
                self._do(at, "logout", counter=ct.number)

    def _timer_expire(self, at: float, _: Any) -> None:
        self._do(at, "tick")

    def _timer_call(self, at: float, ct: _Counter) -> None:
        if ct.state == "calling":
            self._do(at, "call_next", counter=ct.number)

    # --- helpers --------------------------------------------------------

    def _take_break(self, ct: _Counter, now: float) -> None:
        due = ct.break_due
        ct.break_due = None
        length = next((d for b, d in ct.breaks if b == due), 600.0)
        ct.state = "pausing"
        self._do(now, "pause", length, counter=ct.number,
                 reason=self.rng.choice(PAUSE_REASONS))

    def _take_lunch(self, ct: _Counter, now: float) -> None:
        assert self._lunch is not None
        ct.lunch_due = False
        _, end, _, late = self._lunch
        back = end + self.rng.uniform(0, late)
        ct.state = "pausing"
        self._do(now, "pause", max(60.0, back - now), counter=ct.number,
                 reason=self.profile.lunch[4] if self.profile.lunch else "Nghỉ trưa")

    def _free(self, ct: _Counter, now: float) -> None:
        ct.citizen = None
        ct.state = "idle"
        if ct.lunch_due and self._lunch is not None and now >= self._lunch[0] + self._lunch[2]:
            self._take_lunch(ct, now + self.rng.uniform(*self.profile.gap))
            return
        if ct.break_due is not None:
            self._take_break(ct, now + self.rng.uniform(*self.profile.gap))
            return
        self._call_soon(ct, now, self.profile.gap)

    def _call_soon(self, ct: _Counter, now: float, delay: tuple[float, float]) -> None:
        ct.state = "calling"
        at = now + (self.rng.uniform(*delay) if self.profile.walk else 0.0)
        self._timer(at, "call", ct)

    def _wake(self, department: str, now: float) -> None:
        for ct in self._dept_counters.get(department, ()):
            if ct.state == "idle":
                self._call_soon(ct, now, self.profile.react)

    def _maybe_rate(self, visit: dict | None, now: float, p: float, c: _Citizen | None) -> None:
        if visit is None or not self.profile.walk or self.rng.random() >= p:
            return
        levels = self.config.rating_levels
        mix = self.profile.rating_mix_late if c is not None and c.over_target \
            else self.profile.rating_mix
        weights = [mix[i] if i < len(mix) else mix[-1] for i in range(len(levels))]
        level = self.rng.choices(levels, weights)[0]
        reason = None
        if level.negative:
            reason = self.rng.choices(list(REASON_WEIGHTS), list(REASON_WEIGHTS.values()))[0]
        self._do(now + self.rng.uniform(5, 40), "rate", visit_id=visit["id"],
                 value=level.value, reason=reason,
                 request_id=f"{self.prefix}-r{visit['id']}-{self.day.isoformat()}")
