"""The call rule with bookings, on the pure core: how long a counter's
``pick_next`` takes with a long queue, with booked tickets among the walk-ins
and without (the baseline, in the same run), and how long a whole simulated
morning of issue / check-in / call / finish takes.

    python bench/bench_booking.py [--waiting 300] [--booked 60] [--picks 2000]
                                  [--before DIR]

``--before DIR``: also time walk-ins only on another copy of the package
(``DIR/motcua``, e.g. ``git archive`` of the commit before bookings laid out
as the installed package), in a subprocess: the call rule before bookings.
Each figure is the best of three runs. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))

from motcua.server.core import QueueCore  # noqa: E402

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = datetime(2026, 11, 24, 7, 30, tzinfo=TZ)


def core_with(waiting: int, booked: int, booking: bool = True):
    from test_booking import Clock, center, row

    clock = Clock(DAY)
    cfg = center(None if booking else {}, counters=[{"number": 1, "departments": ["TP"]},
                                                    {"number": 2, "departments": ["TP", "XD"]}],
                 )
    if booked:
        cfg = center({"slot_minutes": 5, "early_minutes": 240, "capacity": [
            {"department": "TP", "per_slot": 100, "hours": [["07:30", "17:00"]]}]},
            counters=[{"number": 1, "departments": ["TP"]},
                      {"number": 2, "departments": ["TP", "XD"]}])
    core = QueueCore(cfg, clock)
    core.login(1, "cb1")
    clock.now = DAY.replace(hour=7, minute=35)
    codes = []
    if booked:
        rows = [row(slot=(DAY.replace(hour=8) + timedelta(minutes=5 * (i % 24))).strftime("%H:%M"))
                for i in range(booked)]
        codes = [b["code"] for b in core.add_bookings(rows, "bench").result["bookings"]]
    clock.now = DAY.replace(hour=7, minute=40)
    for i in range(waiting):
        core.issue("TP", "TP01", device="k", request_id=f"w{i}")
    for c in codes:
        core.check_in(c, device="k", request_id=c)
    clock.now = DAY.replace(hour=9)
    return core


def picks_per_second(core, n: int) -> float:
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            core.pick_next(1)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def plain_core(waiting: int):
    """Walk-ins only, on a center file any version reads (no [booking])."""
    from motcua.server.config import parse_config

    class Clock:
        now = DAY.replace(hour=7, minute=40)

        def __call__(self):
            return self.now

    clock = Clock()
    cfg = parse_config({
        "center": {"name": "Bench", "opens": "07:30", "closes": "17:00"},
        "departments": [{"code": "TP", "letter": "A", "vi": "Tư pháp", "target_wait": 20,
                         "procedures": [{"code": "TP01", "vi": "x", "minutes": 6}]},
                        {"code": "XD", "letter": "B", "vi": "Xây dựng",
                         "procedures": [{"code": "XD01", "vi": "y", "minutes": 20}]}],
        "counters": [{"number": 1, "departments": ["TP"]},
                     {"number": 2, "departments": ["TP", "XD"]}],
        "officers": [{"id": "cb1", "name": "A", "pin_hash": "pbkdf2_sha256$1$s$00"}],
        "devices": {r: f"{r}-token" for r in ("kiosk", "counter", "display", "rating", "admin")},
    })
    core = QueueCore(cfg, clock)
    core.login(1, "cb1")
    for i in range(waiting):
        core.issue("TP", "TP01", device="k", request_id=f"w{i}")
    clock.now = DAY.replace(hour=9)
    return core


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--waiting", type=int, default=300)
    ap.add_argument("--booked", type=int, default=60)
    ap.add_argument("--picks", type=int, default=2000)
    ap.add_argument("--before", metavar="DIR")
    ap.add_argument("--plain-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    n = args.waiting + args.booked
    if args.plain_only:
        print(picks_per_second(plain_core(n), args.picks))
        return
    cores = [("walk-ins only, plain center file", plain_core(n)),
             ("walk-ins only, [booking] set", core_with(n, 0, True)),
             (f"{args.waiting} walk-ins + {args.booked} booked", core_with(args.waiting,
                                                                     args.booked, True))]
    best: dict[str, float] = {}
    # Rounds in turn, the best of each: the machine's load moves between runs.
    for _ in range(5):
        if args.before:
            import os
            import subprocess

            env = {**os.environ, "PYTHONPATH": args.before}
            out = subprocess.run([sys.executable, __file__, "--plain-only", "--waiting",
                                  str(n), "--booked", "0", "--picks", str(args.picks)],
                                 env=env, capture_output=True, text=True, check=True).stdout
            key = "walk-ins only, before bookings"
            best[key] = max(best.get(key, 0.0), float(out.strip().splitlines()[-1]))
        for label, core in cores:
            best[label] = max(best.get(label, 0.0), picks_per_second(core, args.picks))
    rows = list(best.items())
    base = rows[0][1]  # the first row is the baseline
    print(f"pick_next on a queue of {args.waiting + args.booked} (one counter), "
          f"{args.picks} picks:")
    for label, rate in rows:
        print(f"  {label:42} {rate:10,.0f} picks/s   {rate / base:5.2f}× baseline")
    from test_booking import simulate_day

    for with_bookings in (False, True):
        t0 = time.perf_counter()
        for seed in range(20):
            simulate_day(seed, with_bookings)
        ms = (time.perf_counter() - t0) / 20 * 1000
        print(f"  simulated morning (2 counters), {'with' if with_bookings else 'no':4} "
              f"bookings: {ms:6.1f} ms per day")


if __name__ == "__main__":
    main()
