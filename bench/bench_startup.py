"""Start-up benchmark: what checking the database costs before the server listens.

    python bench/bench_startup.py [--db year.db] [--days 313] [--repeat 5]

Generates a busy center's days with the day simulator (``sim.run.SqliteSink``,
the server's own schema and rows) into a temporary SQLite file, or reuses
``--db``. Then times, median of ``--repeat`` runs, on that file:

* the baseline: open it with aiosqlite and set the server's pragmas (what
  ``Store.open`` did before it checked anything);
* ``PRAGMA quick_check`` alone;
* ``Store.open`` with every check (location, header, quick_check, the write
  lock, schema version) and ``Store.close``;
* a whole ``MotcuaServer.start()`` (checks, state load, listening) and stop.

Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiosqlite  # noqa: E402

from motcua.server.app import MotcuaServer, always_open  # noqa: E402
from motcua.server.config import load_config  # noqa: E402
from motcua.server.storage import Store  # noqa: E402
from motcua.sim.run import SqliteSink, simulate_days  # noqa: E402


def generate(path: Path, days: int, seed: int) -> None:
    config = load_config(None)
    sink = SqliteSink(path)
    t0 = time.perf_counter()
    for n, _ in enumerate(simulate_days(config, date(2025, 1, 1), days, seed, sink=sink,
                                        load=0.7), 1):
        if n % 25 == 0:
            print(f"  … {n}/{days} days ({time.perf_counter() - t0:.0f} s)", flush=True)
    sink.close()


async def baseline(path: Path) -> None:
    db = await aiosqlite.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=5000",
                   "foreign_keys=ON"):
        await db.execute(f"PRAGMA {pragma}")
    async with db.execute("PRAGMA user_version") as cur:
        await cur.fetchone()
    await db.close()


async def quick_check(path: Path) -> None:
    db = await aiosqlite.connect(path, isolation_level=None)
    async with db.execute("PRAGMA quick_check(3)") as cur:
        rows = await cur.fetchall()
    assert rows == [("ok",)], rows
    await db.close()


async def store_open(path: Path) -> None:
    store = Store(path)
    await store.open()
    await store.close()


async def server_start(path: Path) -> None:
    server = MotcuaServer(always_open(load_config(None)), path, port=0)
    await server.start()
    await server.stop()


def timed(fn, path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        asyncio.run(fn(path))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="keep the generated database here (reused if present)")
    ap.add_argument("--days", type=int, default=313, help="open days (313 = a 6-day-week year)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    tmp = None
    if args.db:
        path = Path(args.db)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="motcua-bench-")
        path = Path(tmp.name) / "year.db"
    if not path.exists():
        print(f"generating {args.days} days into {path} …", flush=True)
        generate(path, args.days, args.seed)
    size = path.stat().st_size / 1e6
    import sqlite3
    with sqlite3.connect(path) as db:
        events = db.execute("SELECT count(*) FROM events").fetchone()[0]
    print(f"{path}: {size:.0f} MB, {events} events")
    rows = [("baseline: open + pragmas (no checks)", timed(baseline, path, args.repeat)),
            ("PRAGMA quick_check alone", timed(quick_check, path, args.repeat)),
            ("Store.open with every check + close", timed(store_open, path, args.repeat)),
            ("MotcuaServer.start() + stop()", timed(server_start, path, args.repeat))]
    width = max(len(name) for name, _ in rows)
    for name, seconds in rows:
        print(f"  {name:<{width}}  {seconds * 1000:8.1f} ms")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
