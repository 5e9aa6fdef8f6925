"""How good could a wait estimate be at all? Replays of the future.

At a sample of issued tickets the whole center — queue core and simulated
citizens and officers — is copied and the rest of the day is replayed
``replays`` times with fresh chance: new arrivals, the rest of every service
in progress (given how long it has run), patience of everyone waiting, the
officers' breaks still to come. The median of the replayed waits is the best
any estimator that knows only the present could print (it minimises the
mean absolute error); its error against the wait that really happened is the
*floor*. Walks to the counter and no-shows of citizens already called are
kept as planned (seconds, and rare), so the floor is a little optimistic.

This is an analysis tool (``motcua simulate --floor N``): a replay costs a
copy of the day, so it samples tickets rather than taking all of them.
"""

from __future__ import annotations

import heapq
import pickle
import random
import statistics
from dataclasses import dataclass
from datetime import date
from typing import Any

from motcua.server.core import QueueCore, QueueError

from .model import Action, DaySimulation
from .profile import Profile
from .run import SimClock, day_rng, open_days, run_on_core


@dataclass
class FloorSample:
    """One sampled ticket: its real wait, the replays' median, and what the
    estimators printed (minutes)."""

    department: str
    priority: bool
    hour: int
    first_hour: bool
    shared: bool
    wait: float
    oracle: float
    minutes: int | None
    legacy: int | None = None
    ahead: int = 0
    day: str = ""
    #: The replayed waits (minutes), sorted.
    replayed: tuple[float, ...] = ()


def _rerandomize(sim: DaySimulation, core: QueueCore, now: float, target: str,
                 rng: random.Random) -> None:
    """Give the copied day a fresh future from ``now`` on."""
    prof = sim.profile
    sim.rng = rng
    kept = []
    services = []
    midnight = sim.midnight.timestamp()
    for entry in sim._heap:
        at, seq, what, data = entry
        if what == "do" and isinstance(data, Action):
            if data.kind == "issue" and at > now:
                continue  # future arrivals: drawn again below
            if data.kind in ("finish", "transfer") and data.note is not None:
                services.append(data)
                continue
            if data.kind == "resume" and at > now:
                # The end of a pause in progress: drawn again, given its length so far.
                state = core.counters[data.args["counter"]]
                since = state.since - midnight
                planned = at - since
                if prof.lunch is not None and state.reason == prof.lunch[4]:
                    end = sim._secs(prof.lunch[1])
                    at = max(now + 1, end + rng.uniform(0, prof.lunch[3] * 60))
                else:
                    lo, hi = ((prof.long_break_minutes[0] * 60, prof.long_break_minutes[1] * 60)
                              if planned > 20 * 60 else
                              (min(w[2] for w in prof.breaks) * 60 if prof.breaks else planned,
                               max(w[3] for w in prof.breaks) * 60 if prof.breaks else planned))
                    length = rng.uniform(max(lo, now - since), max(hi, now - since))
                    at = max(now + 1, since + length)
                data.at = at
                kept.append((at, seq, what, data))
                continue
        if what == "patience":
            continue
        if what == "break" and at > now:
            continue
        kept.append(entry)
    sim._heap = kept
    heapq.heapify(sim._heap)
    for a in services:
        c = a.note
        ct = sim.counters[a.args["counter"]]
        since = c.served_since if c.served_since is not None else now
        dur = prof.service_seconds_after(rng, c.procedure, now - since)
        sim._end_service(ct, c, since, dur)
    for c in sim._citizens.values():
        if c.status == "waiting" and not c.returned and c.number != target and prof.walk:
            waited = (now - c.issued) / 60
            least = max(prof.patience_min, waited)
            patience = least + rng.expovariate(1 / prof.patience_extra_mean)
            sim._timer(c.issued + patience * 60, "patience", c)
    for ct in sim.counters.values():
        future = [(b, d) for b, d in ct.breaks if b > now]
        ct.breaks = [(b, d) for b, d in ct.breaks if b <= now]
        for b, _ in future:
            window = next(((sim._secs(lo), sim._secs(hi), mn, mx) for lo, hi, mn, mx in prof.breaks
                           if sim._secs(lo) <= b <= sim._secs(hi)), None)
            if window is None:  # a long break: anywhere in the rest of the day
                lo_s, hi_s = now, max(now, b + 3600)
                length = rng.uniform(*prof.long_break_minutes) * 60
            else:
                lo_s, hi_s = max(window[0], now), window[1]
                length = rng.uniform(window[2], window[3]) * 60
            nb = rng.uniform(lo_s, max(lo_s, hi_s))
            ct.breaks.append((nb, length))
            sim._timer(nb, "break", ct)
        ct.breaks.sort()
    sim._arrivals(now, now, tag=f"r{rng.random():.6f}-")


def _replay(blob: bytes, now: float, ticket_id: int, number: str, seed: str) -> float | None:
    core, sim, clock = pickle.loads(blob)
    _rerandomize(sim, core, now, number, random.Random(seed))
    issued = core.tickets[ticket_id].issued_at
    while (action := sim.next_action()) is not None:
        clock.now = sim.timestamp(action.at)
        try:
            out = core.execute(action.kind, **action.args)
        except QueueError as e:
            sim.feed(action, None, e.code)
            continue
        for ev in out.events:
            if ev.type == "ticket_called" and ev.ticket_id == ticket_id:
                return (ev.at - issued) / 60
        sim.feed(action, out.result)
    return None


def floor_samples(config: Any, start: date, days: int, seed: int | str = 0, *,
                  profile: Profile | None = None, every: int = 10,
                  replays: int = 30, priority_every: int | None = None,
                  learn_days: int = 0) -> list[FloorSample]:
    """Replay the future at every ``every``-th ticket issued on ``days`` days
    (every ``priority_every``-th priority ticket, if given: they are few),
    after ``learn_days`` days simulated first without sampling (the
    estimator's first day, with nothing learned yet, is not typical)."""
    from .accuracy import EstimateLog

    profile = profile or Profile.for_config(config)
    clock = SimClock()
    core = QueueCore(config, clock)
    out_samples: list[FloorSample] = []
    log = EstimateLog(config)
    pending: dict[int, tuple[float, FloorSample]] = {}
    shared = log._shared
    pcount: dict[date, int] = {}
    for n, d in enumerate(open_days(config, start, learn_days + days)):
        sim = DaySimulation(config, profile, d, day_rng(seed, d))
        if n < learn_days:
            run_on_core(sim, core, clock, log)
            continue
        count = 0
        while (action := sim.next_action()) is not None:
            clock.now = sim.timestamp(action.at)
            try:
                out = core.execute(action.kind, **action.args)
            except QueueError as e:
                if e.outcome is not None:
                    log(core, e.outcome)
                sim.feed(action, None, e.code)
                continue
            if out.changed:
                log(core, out)
            sim.feed(action, out.result)
            for ev in out.events:
                if ev.type == "ticket_called" and ev.ticket_id in pending:
                    at, fs = pending.pop(ev.ticket_id)
                    fs.wait = (ev.at - at) / 60
                    out_samples.append(fs)
            if action.kind != "issue" or out.result.get("repeat"):
                continue
            t = core.tickets[out.result["ticket"]["id"]]
            count += 1
            if t.priority and priority_every is not None:
                prio_count = pcount.get(d, 0) + 1
                pcount[d] = prio_count
                if prio_count % priority_every:
                    continue
            elif count % every:
                continue
            now = clock.now.timestamp()
            blob = pickle.dumps((core, sim, clock))
            waits = [w for i in range(replays)
                     if (w := _replay(blob, action.at, t.id, t.number,
                                      f"floor:{seed}:{d}:{t.id}:{i}")) is not None]
            if not waits:
                continue
            s = log.samples[-1]
            pending[t.id] = (now, FloorSample(
                t.department, bool(t.priority), s.hour, s.first_hour, shared[t.department],
                float("nan"), statistics.median(waits), out.result.get("wait_minutes"),
                s.legacy, int(out.result.get("ahead", 0)), d.isoformat(),
                tuple(sorted(waits))))
    return out_samples
