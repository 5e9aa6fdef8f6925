"""Report benchmark: a year of a busy center, reported by day, month and year.

    python bench/bench_report.py [--db year.db] [--days 313] [--load 0.7] [--seed 1]

Generates a year with the day simulator on the pure core, written with the
server's own row format (``sim.run.SqliteSink``) into a temporary SQLite
file (or ``--db``, kept and reused on the next run). Then times, in this
process:

* the naive baseline: read every event of the period with its JSON, parse
  it in Python, fold and aggregate in Python;
* the engine without a cache (the period's days folded from the log, JSON
  fields pulled out by SQLite);
* the engine's first run (builds the fact cache beside the database);
* the engine with its cache, for each grouping (median of ``--repeat`` runs);
* cold reports: a one-day and a whole-year report with no report cache (a
  fresh cache file each run), min / median / max of ``--cold-runs`` runs, by
  this tree's engine ("after") and, as the baseline, by the engine of
  ``--baseline-ref`` (default: where this branch left ``main``: "before"),
  unpacked from git and run in a subprocess with the same measuring code.

Checks that the fast figures equal the baseline's, prints a table, asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if not os.environ.get("BENCH_BASELINE"):
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from motcua.reports.engine import ReportEngine, baseline_report, default_cache_path  # noqa: E402
from motcua.server.config import load_config  # noqa: E402
from motcua.sim.run import SqliteSink, open_days, simulate_days  # noqa: E402


def generate(path: Path, start: date, days: int, load: float, seed: int) -> float:
    config = load_config(None)
    sink = SqliteSink(path)
    t0 = time.perf_counter()
    n = 0
    for result in simulate_days(config, start, days, seed, sink=sink, load=load):
        n += 1
        if n % 25 == 0:
            print(f"  … {n}/{days} days ({time.perf_counter() - t0:.0f} s)", flush=True)
    sink.close()
    return time.perf_counter() - t0


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def same(a, b) -> bool:
    fields = ("issued", "served", "no_show", "transferred", "cancelled", "expired", "waits",
              "within_target", "services", "rated", "satisfied")
    if any(getattr(a, f) != getattr(b, f) for f in fields) or a.ratings != b.ratings:
        return False
    for f in ("wait_mean", "wait_median", "wait_p90", "service_mean", "service_median",
              "service_p90"):
        x, y = getattr(a, f), getattr(b, f)
        if (x is None) != (y is None) or (x is not None and abs(x - y) > 1e-6 * max(1, abs(x))):
            return False
    return True


def cold_worker(db: Path, periods: list[tuple[str, str]], runs: int) -> None:
    """Time reports with no report cache (each run a new cache file), print JSON."""
    config = load_config(None)
    out = []
    for first, last in periods:
        times = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory(prefix="motcua-cold-") as tmp:
                t0 = time.perf_counter()
                with ReportEngine(db, config, cache=Path(tmp) / "c.reports.db") as engine:
                    engine.report(first, last, "department")
                times.append(time.perf_counter() - t0)
        out.append(times)
    print(json.dumps(out))


def cold_times(pkg: Path | None, db: Path, periods: list[tuple[str, str]],
               runs: int) -> list[list[float]]:
    """Run :func:`cold_worker` on the engine in ``pkg`` (None: this tree)."""
    env = dict(os.environ)
    if pkg is not None:
        env["PYTHONPATH"] = str(pkg)
        env["BENCH_BASELINE"] = "1"
    args = [sys.executable, __file__, "--cold-worker", "--db", str(db), "--cold-runs",
            str(runs), *[f"{a}:{b}" for a, b in periods]]
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"cold worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="keep the generated database here (reused if present)")
    ap.add_argument("--days", type=int, default=313, help="open days (313 = a 6-day-week year)")
    ap.add_argument("--start", default="2025-01-01")
    ap.add_argument("--load", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-baseline-year", action="store_true",
                    help="skip the slow baseline year (~20 s)")
    ap.add_argument("--cold-runs", type=int, default=3,
                    help="runs of each cold report (no report cache)")
    ap.add_argument("--baseline-ref", default=None,
                    help="git ref of the engine for the cold baseline "
                         "(default: git merge-base main HEAD)")
    ap.add_argument("--no-cold-baseline", action="store_true",
                    help="time cold reports with this tree's engine only")
    ap.add_argument("--cold-only", action="store_true", help="only the cold reports")
    ap.add_argument("--cold-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("periods", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cold_worker:
        cold_worker(Path(args.db), [tuple(p.split(":")) for p in args.periods],
                    args.cold_runs)
        return 0

    config = load_config(None)
    tmp = None
    if args.db:
        path = Path(args.db)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="motcua-bench-")
        path = Path(tmp.name) / "year.db"
    start = date.fromisoformat(args.start)
    if not path.exists():
        print(f"Generating {args.days} open days from {start} into {path} …", flush=True)
        gen = generate(path, start, args.days, args.load, args.seed)
        print(f"  generated in {gen:.1f} s")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    first, last = db.execute("SELECT min(day), max(day) FROM events").fetchone()
    events = db.execute("SELECT count(*) FROM events").fetchone()[0]
    visits = db.execute("SELECT count(*) FROM visits").fetchone()[0]
    tickets = db.execute("SELECT count(*) FROM tickets").fetchone()[0]
    db.close()
    size = os.path.getsize(path) / 1e6
    print(f"\nDatabase: {first} … {last}, {tickets:,} tickets, {visits:,} visits, "
          f"{events:,} events, {size:.0f} MB")
    mid = date.fromisoformat(first) + (date.fromisoformat(last) - date.fromisoformat(first)) / 2
    month_first = mid.replace(day=1)
    month_last = (month_first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    day = next(open_days(config, mid, 1)).isoformat()
    periods = {"day": (day, day), "month": (month_first.isoformat(), month_last.isoformat()),
               "year": (first, last)}

    print(f"\nCold reports, no report cache (by department; min / median / max of "
          f"{args.cold_runs} runs; load average {os.getloadavg()[0]:.2f}):", flush=True)
    cold_periods = [periods["day"], periods["year"]]
    before = None
    if not args.no_cold_baseline:
        from bench_print import build_tree

        if args.baseline_ref is None:
            base = subprocess.run(["git", "-C", str(ROOT), "merge-base", "main", "HEAD"],
                                  capture_output=True, text=True).stdout.strip()
            ref, commit = (f"main@{base[:7]}", base) if base else ("main", "main")
        else:
            ref = commit = args.baseline_ref
        with tempfile.TemporaryDirectory(prefix="motcua-bench-tree-") as tree:
            before = cold_times(build_tree(commit, Path(tree)), path, cold_periods,
                                args.cold_runs)
    after = cold_times(None, path, cold_periods, args.cold_runs)

    def mmm(times: list[float]) -> str:
        return " / ".join(f"{t:6.3f}" for t in (min(times), statistics.median(times),
                                                   max(times)))
    print(f"  {'':9} {'before (' + ref + ')' if before else '':>30}   {'after':>24}")
    for i, name in enumerate(("one day", "year")):
        b = mmm(before[i]) + " s" if before else ""
        print(f"  {name:<9} {b:>30}   {mmm(after[i]) + ' s':>24}")
    if args.cold_only:
        if tmp is not None:
            tmp.cleanup()
        return 0

    cache = default_cache_path(path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{cache}{suffix}").unlink(missing_ok=True)

    rows: list[tuple[str, str, str, float, str]] = []

    def row(what: str, period: str, by: str | None, seconds: float, note: str = "") -> None:
        rows.append((what, period, by or "total", seconds, note))
        print(f"  {what:<34} {period:<6} {by or 'total':<11} {seconds * 1000:10.1f} ms  {note}",
              flush=True)

    print("\nTimings (this process; ms):")
    base: dict[str, object] = {}
    for name, (a, b) in periods.items():
        if name == "year" and args.skip_baseline_year:
            continue
        secs, rep = timed(lambda: baseline_report(path, config, a, b, "department"))
        base[name] = rep
        row("baseline: JSON parse + Python", name, "department", secs)
    for name in ("day", "month"):
        a, b = periods[name]
        with ReportEngine(path, config, cache=False) as mem:
            secs, rep = timed(lambda: mem.report(a, b, "department"))
        row("engine, no cache (fold from log)", name, "department", secs)
    a, b = periods["year"]
    with ReportEngine(path, config) as engine:
        secs, rep = timed(lambda: engine.report(a, b, "department"))
    row("engine, first run (builds cache)", "year", "department", secs,
        f"cache {os.path.getsize(cache) / 1e6:.1f} MB")
    for name, (a, b) in periods.items():
        for by in (None, "department", "officer", "procedure", "hour", "day"):
            with ReportEngine(path, config) as engine:
                secs, rep = timed(lambda: engine.report(a, b, by), args.repeat)
            note = ""
            if by == "department" and name in base:
                ok = same(rep.total, base[name].total) and len(rep.rows) == len(base[name].rows) \
                    and all(same(x, y) for x, y in zip(rep.rows, base[name].rows))
                note = "same figures as baseline" if ok else "FIGURES DIFFER FROM BASELINE"
            row("engine, cached", name, by, secs, note)

    print("\nSummary:")
    for name in periods:
        b = next((r[3] for r in rows if r[0].startswith("baseline") and r[1] == name), None)
        f = max(r[3] for r in rows if r[0] == "engine, cached" and r[1] == name)
        ratio = f"  ({b / f:,.0f}× faster)" if b else ""
        btxt = f"baseline {b:8.3f} s" if b else "baseline skipped"
        print(f"  {name:<6} {btxt}   engine (cached, slowest grouping) {f:7.3f} s{ratio}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
