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
  look-ahead inside;
* at queue lengths 10, 100 and 500 in one department of the busiest group
  (``--lengths``): µs per ``issue`` (its reply), per department view after
  it, per view after some other change, per full snapshot and per ticket
  page — with the cached look-ahead (one per group and state, up to the
  horizon) beside the uncached path (``Estimator.cached = False``: a
  look-ahead through the whole queue for every ticket) in the same run;
* what ``bench/bench_server.py`` does with an officer at every counter,
  without the network and the disk (``--burst``): issues round robin over
  all departments from empty queues, each with the view the server sends
  after it, cached and uncached.

Usage::

    .venv/bin/python bench/bench_estimate.py            # sample profile, 10:00
    .venv/bin/python bench/bench_estimate.py --profile capacity --at 10.5
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
import tomllib
from datetime import date
from importlib import resources

from motcua.server.config import load_config, parse_config
from motcua.server.core import QueueCore
from motcua.sim.legacy import LegacyEstimator
from motcua.sim.model import DaySimulation
from motcua.sim.profile import Profile
from motcua.sim.run import SimClock, day_rng, run_on_core


def uncapped_config():
    """The sample center without daily caps (queues of any length)."""
    text = resources.files("motcua.server").joinpath("sample_center.toml").read_text("utf-8")
    return parse_config(tomllib.loads(re.sub(r"(?m)^\s*daily_cap\s*=.*$", "", text)))


def busy_core(profile_name: str, at_hour: float, seed: str = "bench", config=None):
    """The sample center after one simulated day and part of the next."""
    config = config or load_config()
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
        t0 = time.process_time()
        for _ in range(n):
            fn()
        runs.append((time.process_time() - t0) / n * 1e6)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=("sample", "capacity"), default="sample")
    ap.add_argument("--at", type=float, default=10.0, help="hour of the second day (10.0)")
    ap.add_argument("--n", type=int, default=200, help="calls per timing run")
    ap.add_argument("--lengths", default="10,100,500",
                    help="queue lengths for the cached/uncached table ('' to skip)")
    ap.add_argument("--burst", type=int, default=3000,
                    help="issues in the server-like burst (0 to skip)")
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
    if args.lengths:
        queue_lengths(args.profile, args.at, [int(x) for x in args.lengths.split(",")], n)
    if args.burst:
        burst(args.burst)


def queue_lengths(profile_name: str, at_hour: float, lengths: list[int], n: int) -> None:
    """µs per issue, view and ticket page with ``length`` tickets waiting in
    one department of the busiest group, cached against uncached."""
    print(f"\nQueue lengths (day 2 at {at_hour:05.2f}h, tickets added to KHDT, which "
          f"shares counters with CT, YT, GD); µs, median of 5 runs:")
    head = (f"  {'waiting':>7s} {'path':9s} {'issue':>8s} {'its view':>9s} {'view*':>8s} "
            f"{'snapshot*':>10s} {'page*':>8s} {'page':>7s} {'horizon':>8s}")
    print(head)
    for length in lengths:
        config, core, clock, _ = busy_core(profile_name, at_hour, config=uncapped_config())
        est = core.estimator
        d = "KHDT"
        while len(core.waiting[d]) < length:
            core.execute("issue", department=d)
        now = clock.now.timestamp()
        queue = list(core.waiting[d].values())
        middle = queue[len(queue) // 2]
        sample = queue[:: max(1, len(queue) // 20)]
        row = {}
        for cached in (False, True):
            est.cached = cached
            hits = est.horizon_hits

            def issue_view():
                t0 = time.process_time()
                out = core.execute("issue", department=d)
                t1 = time.process_time()
                core.department_view(d)
                t2 = time.process_time()
                core.execute("cancel", number=out.result["ticket"]["number"])
                return t1 - t0, t2 - t1

            runs_i, runs_v = [], []
            for _ in range(5):
                parts = [issue_view() for _ in range(max(1, n // 10))]
                runs_i.append(statistics.mean(p[0] for p in parts) * 1e6)
                runs_v.append(statistics.mean(p[1] for p in parts) * 1e6)
            reps = max(1, n // 10)
            view = per_call(lambda: (est.changed(), core.department_view(d)), reps)
            snap = per_call(lambda: (est.changed(), core.snapshot()), max(1, reps // 4))
            # A ticket page after a change, and one more page while nothing
            # changed (the cached path answers it from the same look-ahead).
            page_new = per_call(lambda: (est.changed(), core._ahead_and_wait(middle)), reps)

            def pages():
                est.changed()
                for t in sample:
                    core._ahead_and_wait(t)
            page = per_call(pages, max(1, reps // 4)) / len(sample)
            row[cached] = (statistics.median(runs_i), statistics.median(runs_v), view, snap,
                           page_new, page, est.horizon_hits - hits if cached else "")
        for cached in (False, True):
            i, v, view, snap, pn, pg, h = row[cached]
            print(f"  {length:7d} {'cached' if cached else 'uncached':9s} {i:8.0f} {v:9.1f} "
                  f"{view:8.0f} {snap:10.0f} {pn:8.0f} {pg:7.0f} {h:>8}")
        est.cached = True
    print("  issue = the issue command with its estimate; its view = the department view "
          "the server sends after it; * = after some other change (a look-ahead anew); "
          "page = each of 20 tickets' pages after one change; horizon hits: "
          "cached look-aheads stopped at the horizon and extrapolated")


def burst(n: int) -> None:
    """µs per issue and its department view, ``n`` issues round robin with an
    officer at every counter (queues grow to n / departments)."""
    from datetime import datetime, timezone
    config = uncapped_config()
    depts = [d.code for d in config.departments]
    print(f"\nServer-like burst: an officer at every counter, {n:,} issues round robin "
          f"(queues 0 → ~{n // len(depts)} per department), each with its department view:")
    for cached in (False, True):
        clock = SimClock(datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc))  # 09:00 local
        core = QueueCore(config, clock)
        core.estimator.cached = cached
        for c, o in zip(config.counters, config.officers):
            core.execute("login", counter=c.number, officer=o.id)
        t0 = time.process_time()
        for i in range(n):
            out = core.execute("issue", department=depts[i % len(depts)])
            for code in out.departments:
                core.department_view(code)
        us = (time.process_time() - t0) / n * 1e6
        print(f"  {'cached' if cached else 'uncached':9s} {us:7.0f} µs per issue + view "
              f"(horizon hits {core.estimator.horizon_hits})")


if __name__ == "__main__":
    main()
