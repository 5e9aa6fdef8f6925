"""What a wait estimate costs: the look-ahead estimator against today's formula.

The server computes an estimate for every ticket it issues or transfers,
and one per changed department view (each ``queue_changed``); the kiosk's
snapshot asks for all departments at once. This benchmark puts the sample
center in a busy state — a simulated morning, after a simulated day to learn
from — and times, in the same run:

* the look-ahead (``Estimator.estimate``) for a ticket issued now, in every
  department (what a department view costs), and for every waiting ticket;
* the old formula (``sim.legacy.LegacyEstimator``) on the same state;
* a whole ``issue`` command on the core and a full snapshot, with the
  look-ahead inside.

Usage::

    .venv/bin/python bench/bench_estimate.py            # sample profile, 10:00
    .venv/bin/python bench/bench_estimate.py --profile capacity --at 10.5
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date

from motcua.server.config import load_config
from motcua.server.core import QueueCore
from motcua.sim.legacy import LegacyEstimator
from motcua.sim.model import DaySimulation
from motcua.sim.profile import Profile
from motcua.sim.run import SimClock, day_rng, run_on_core


def busy_core(profile_name: str, at_hour: float, seed: str = "bench"):
    """The sample center after one simulated day and part of the next."""
    config = load_config()
    profile = Profile.sample(config) if profile_name == "sample" else Profile.for_config(config)
    clock = SimClock()
    core = QueueCore(config, clock)
    legacy = LegacyEstimator(config)

    def learn(c, out):
        legacy.learn(c, out)

    first, second = date(2026, 11, 23), date(2026, 11, 24)
    run_on_core(DaySimulation(config, profile, first, day_rng(seed, first)), core, clock, learn)
    sim = DaySimulation(config, profile, second, day_rng(seed, second))
    run_on_core(sim, core, clock, learn, until=at_hour * 3600)
    return config, core, clock, legacy


def per_call(fn, n: int) -> float:
    """Median of 5 runs of ``n`` calls, in microseconds per call."""
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=("sample", "capacity"), default="sample")
    ap.add_argument("--at", type=float, default=10.0, help="hour of the second day (10.0)")
    ap.add_argument("--n", type=int, default=200, help="calls per timing run")
    args = ap.parse_args()

    config, core, clock, legacy = busy_core(args.profile, args.at)
    est = core.estimator
    now = clock.now.timestamp()
    depts = [d.code for d in config.departments]
    waiting = [t for q in core.waiting.values() for t in q.values()]
    longest = max(depts, key=lambda d: len(core.estimator.group(d)[0]) * 100
                  + sum(len(core.waiting[x]) for x in core.estimator.group(d)[0]))
    print(f"Trung tâm mẫu / sample center, profile {args.profile!r}, day 2 at "
          f"{args.at:05.2f}h: {len(waiting)} waiting, "
          f"{sum(1 for c in core.counters.values() if c.status == 'open')} counters open, "
          f"{sum(1 for c in core.counters.values() if c.ticket_id)} serving")

    # Each look-ahead from scratch: as after any change (views are cached
    # only until the next command).
    def new_all_departments():
        for d in depts:
            est.changed()
            est.estimate(d, now)

    def old_all_departments():
        for d in depts:
            legacy.minutes(core, d, len(core.waiting[d]))

    def new_every_ticket():
        for t in waiting:
            est.changed()
            est.estimate(t.department, now, t)

    def old_every_ticket():
        for t in waiting:
            legacy.minutes(core, t.department, 0)

    n = args.n
    rows = [
        ("a ticket issued now, each department", len(depts),
         per_call(new_all_departments, n) / len(depts),
         per_call(old_all_departments, n) / len(depts)),
        (f"the busiest group ({longest} and its shared counters)", 1,
         per_call(lambda: (est.changed(), est.estimate(longest, now)), n * 5),
         per_call(lambda: legacy.minutes(core, longest, len(core.waiting[longest])), n * 5)),
    ]
    if waiting:
        rows.append(("each waiting ticket", len(waiting),
                     per_call(new_every_ticket, max(1, n // 10)) / len(waiting),
                     per_call(old_every_ticket, max(1, n // 10)) / len(waiting)))
    print(f"  {'µs per estimate':46s} {'look-ahead':>11s} {'today':>8s} {'×':>6s}")
    for name, _, new, old in rows:
        print(f"  {name:46s} {new:11.1f} {old:8.1f} {new / old:6.1f}")

    snapshot = per_call(lambda: (est.changed(), core.snapshot()), max(1, n // 4))
    print(f"  full snapshot (all {len(depts)} department views): {snapshot:.0f} µs")
    # A whole issue command (its estimate and its department view included),
    # each ticket cancelled again so that the queue stays as it was.
    seq = iter(range(10 ** 9))
    d0 = next(d.code for d in config.departments if d.daily_cap is None)

    def issue_and_view():
        out = core.execute("issue", department=d0, request_id=f"bench-{next(seq)}")
        core.department_view(d0)
        core.execute("cancel", number=out.result["ticket"]["number"])
    both = per_call(issue_and_view, 40)
    print(f"  issue + its department view + cancel on the core: {both:.0f} µs "
          f"({len(core.waiting[d0])} waiting in {d0})")


if __name__ == "__main__":
    main()
