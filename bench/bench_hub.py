"""Province hub benchmark: a simulated province year shipped into one
PostgreSQL, then reported on.

    python bench/bench_hub.py [--dir DIR]
                              [--phase all|generate|ingest|after|reports|latency]
                              [--communes 120] [--distinct 12] [--days 313] [--runs 3]

A province of one provincial center (~150,000 tickets a year, the sample
center) and ``--communes`` commune centers (~5,000 tickets a year each, a
small four-desk center). Generated once with the day simulator into SQLite
files under ``--dir`` (kept and reused); ``--distinct`` different commune
years are simulated and each is the log of several communes (the hub keys
every row by site, so a shared log is as much work as a distinct one).

Then, on a PostgreSQL 16 of its own (pgserver's binaries, in ``--dir``):

* baseline: raw COPY and raw INSERT rows/s of the same event rows into a
  plain table of the same shape, one connection;
* ingest: every site's real shipper (the code ``motcua serve --hub`` runs)
  shipping at once from two worker processes — events/s into the hub;
* catch-up: a provincial center's week offline (six open days) shipped into
  the loaded hub;
* lag: twelve real site servers with traffic, shipping in normal flow —
  event time to commit in the hub, p50/p99;
* issue latency of a real server process (``motcua serve``) with no hub, the
  hub up, the hub down, and catching up a four-week backlog — the last also
  with the shipper inside the server process (as before it had its own
  process), in the same run, as the baseline;
* province report times for a day, a month, the year (by site, by
  department; the year by every grouping) and twelve months not aligned on
  months, from the report cells — min/median/max of ``--runs`` runs — and,
  as the baseline in the same run, by scanning and sorting the facts as the
  hub did before the cells (the two must agree figure for figure);
* the hub's database size.

An ingested hub of an older schema is migrated first (``motcua hub init``:
the cells are filled from the facts there), and the time it took printed.
``--phase reports`` / ``--phase latency`` run only those parts of ``after``.

Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

START = date(2025, 1, 1)

COMMUNE_TOML = """
[center]
name = "UBND xã (mẫu) — Bộ phận một cửa"
name_en = "Commune one-stop office (sample)"
timezone = "Asia/Ho_Chi_Minh"
opens = "07:30"
closes = "17:00"
last_ticket = "16:30"
open_days = ["mon", "tue", "wed", "thu", "fri", "sat"]

[[departments]]
code = "HT"
letter = "A"
vi = "Tư pháp – Hộ tịch"
en = "Justice – civil status"
target_wait = 15
procedures = [
  { code = "HT-KS", vi = "Đăng ký khai sinh", en = "Birth registration", minutes = 8 },
  { code = "HT-KH", vi = "Đăng ký kết hôn", en = "Marriage registration", minutes = 12 },
  { code = "HT-CT", vi = "Chứng thực bản sao", en = "Certified copies", minutes = 4 },
]

[[departments]]
code = "DD"
letter = "B"
vi = "Đất đai – Xây dựng"
en = "Land – construction"
target_wait = 20
procedures = [
  { code = "DD-GCN", vi = "Cấp giấy chứng nhận quyền sử dụng đất", en = "Land use certificate", minutes = 20 },
  { code = "DD-XD", vi = "Giấy phép xây dựng nhà ở", en = "House building permit", minutes = 15 },
]

[[departments]]
code = "LD"
letter = "C"
vi = "Lao động – Thương binh và Xã hội"
en = "Labour – social affairs"
target_wait = 15
procedures = [
  { code = "LD-TC", vi = "Trợ cấp xã hội", en = "Social allowance", minutes = 10 },
]

[[departments]]
code = "PHI"
letter = "F"
vi = "Thu phí, lệ phí"
en = "Fees"
target_wait = 10
procedures = [
  { code = "PHI-NP", vi = "Nộp phí, lệ phí", en = "Pay a fee", minutes = 3 },
]

[[counters]]
number = 1
name = "Quầy 1"
departments = ["HT", "LD"]

[[counters]]
number = 2
name = "Quầy 2"
departments = ["DD", "PHI"]

[[counters]]
number = 3
name = "Quầy 3"
departments = ["HT", "PHI", "DD", "LD"]

[[officers]]
id = "cb01"
name = "Nguyễn Văn An"
pin_hash = "pbkdf2_sha256$1$x$00"

[[officers]]
id = "cb02"
name = "Trần Thị Bình"
pin_hash = "pbkdf2_sha256$1$x$00"

[[officers]]
id = "cb03"
name = "Lê Văn Cường"
pin_hash = "pbkdf2_sha256$1$x$00"

[devices]
kiosk = "kiosk-demo"
counter = "counter-demo"
display = "display-demo"
rating = "rating-demo"
admin = "admin-demo"
"""


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def events_in(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM events").fetchone()[0]


def tickets_in(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM tickets").fetchone()[0]


# --- generating the province ---------------------------------------------------

def _simulate(args: tuple) -> tuple[str, float, int]:
    config_path, out, days, load, seed, start = args
    from motcua.server.config import load_config
    from motcua.sim.run import SqliteSink, simulate_days

    config = load_config(config_path)
    tmp = Path(str(out) + ".part")
    tmp.unlink(missing_ok=True)
    sink = SqliteSink(tmp)
    t0 = time.perf_counter()
    for _ in simulate_days(config, start, days, seed, sink=sink, load=load):
        pass
    sink.close()
    tmp.rename(out)
    return str(out), time.perf_counter() - t0, tickets_in(out)


def _calibrate(config_path: str | None, per_day: float) -> float:
    """The simulator's load that gives ``per_day`` tickets a day on average."""
    from motcua.server.config import load_config
    from motcua.sim.run import simulate_days

    config = load_config(config_path)
    n, days = 0, 12
    for r in simulate_days(config, START, days, "calibrate", load=0.2):
        n += sum(1 for t in r.core.tickets.values() if t.day == r.day.isoformat())
    return 0.2 * per_day / (n / days)


def generate(folder: Path, days: int, distinct: int, center_tickets: int,
             commune_tickets: int) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    commune_cfg = folder / "commune.toml"
    commune_cfg.write_text(COMMUNE_TOML, "utf-8")
    meta_path = folder / "province.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("days") == days and meta.get("distinct") == distinct:
            return meta
    center_load = _calibrate(None, center_tickets / 313)
    commune_load = _calibrate(str(commune_cfg), commune_tickets / 313)
    jobs = [(None, folder / "center.db", days, center_load, 1, START),
            (None, folder / "center-week.db", 6, center_load, 2, START + timedelta(days=400)),
            (None, folder / "center-4weeks.db", 24, center_load, 3, START + timedelta(days=420))]
    jobs += [(str(commune_cfg), folder / f"commune-{i:02d}.db", days, commune_load, 100 + i,
              START) for i in range(distinct)]
    todo = [j for j in jobs if not Path(j[1]).exists()]
    print(f"generating {len(todo)} site year(s) on {os.cpu_count()} cores "
          f"(center load {center_load:.2f}, commune load {commune_load:.3f}) …", flush=True)
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(min(2, os.cpu_count() or 1)) as pool:
        for out, secs, n in pool.imap_unordered(_simulate, todo):
            print(f"  {Path(out).name}: {n:,} tickets in {secs:.0f} s", flush=True)
    meta = {"days": days, "distinct": distinct, "center_load": center_load,
            "commune_load": commune_load, "seconds": time.perf_counter() - t0}
    meta_path.write_text(json.dumps(meta))
    return meta


# --- the hub ------------------------------------------------------------------------

def start_postgres(folder: Path):
    from motcua.hub.embedded import EmbeddedPostgres

    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o711)
    return EmbeddedPostgres(folder / "pgdata", shared_buffers="1GB").start()


async def setup_hub(admin: str, codes: list[str]) -> dict[str, str]:
    import asyncpg

    from motcua.hub.schema import add_site, ensure_database, migrate, site_url

    await ensure_database(admin)
    conn = await asyncpg.connect(admin)
    try:
        await migrate(conn, name="Tỉnh (benchmark)")
        urls = {}
        for code in codes:
            role, password = await add_site(conn, code, f"Đơn vị {code}", rotate=False) \
                if not await conn.fetchval("SELECT 1 FROM hub.sites WHERE code = $1", code) \
                else await add_site(conn, code, rotate=True)
            urls[code] = site_url(admin, role, password)
        return urls
    finally:
        await conn.close()


async def baseline(admin: str, source: Path, rows: int = 300_000) -> dict:
    """Raw COPY and INSERT rows/s of the same event rows, no hub logic."""
    import asyncpg

    with sqlite3.connect(source) as db:
        data = [(1, r[0], r[1], date.fromisoformat(r[2]), r[3], r[4], r[5], r[6], r[7], r[8])
                for r in db.execute("SELECT id, at, day, type, ticket_id, counter, officer, "
                                    "device, data FROM events ORDER BY id LIMIT ?", (rows,))]
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute("DROP TABLE IF EXISTS bench_raw")
        await conn.execute("CREATE TABLE bench_raw (site_id smallint, id bigint, at float8, "
                           "day date, type text, ticket_id bigint, counter int, officer text, "
                           "device text, data jsonb, PRIMARY KEY (site_id, id))")
        cols = ["site_id", "id", "at", "day", "type", "ticket_id", "counter", "officer",
                "device", "data"]
        t0 = time.perf_counter()
        for i in range(0, len(data), 2000):
            async with conn.transaction():
                await conn.copy_records_to_table("bench_raw", records=data[i:i + 2000],
                                                  columns=cols)
        copy_rate = len(data) / (time.perf_counter() - t0)
        await conn.execute("TRUNCATE bench_raw")
        few = data[:50_000]
        t0 = time.perf_counter()
        for i in range(0, len(few), 2000):
            async with conn.transaction():
                await conn.executemany(
                    "INSERT INTO bench_raw VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                    "$10::jsonb)", few[i:i + 2000])
        insert_rate = len(few) / (time.perf_counter() - t0)
        await conn.execute("DROP TABLE bench_raw")
    finally:
        await conn.close()
    return {"copy": copy_rate, "insert": insert_rate, "rows": len(data)}


def _ship_worker(args: tuple) -> dict:
    """Ship several sites at once with the real shipper, until all caught up."""
    sites, start_at = args

    async def run() -> dict:
        from motcua.hub.shipper import Shipper
        from motcua.server.config import load_config

        configs: dict = {}
        shippers = []
        for code, db, url, cfg in sites:
            if cfg not in configs:
                configs[cfg] = load_config(cfg)
            shippers.append((Shipper(db, url, configs[cfg], code=code, batch=2000, poll=0.5,
                                     heartbeat_every=5.0), events_top(db)))
        parent = os.getppid()
        while time.time() < start_at:
            await asyncio.sleep(0.01)
        t0 = time.perf_counter()
        for s, _ in shippers:
            await s.start()
        while any((s.hwm or 0) < top for s, top in shippers):
            if os.getppid() != parent:  # the benchmark was stopped: stop too
                break
            await asyncio.sleep(0.05)
        secs = time.perf_counter() - t0
        failures = sum(s.failures for s, _ in shippers)
        for s, _ in shippers:
            await s.stop()
        return {"seconds": secs, "events": sum(top for _, top in shippers),
                "failures": failures, "cpu": time.process_time()}

    return asyncio.run(run())


def events_top(path: str) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT max(id) FROM events").fetchone()[0] or 0


def ingest(folder: Path, urls: dict[str, str], sites: list[tuple[str, str, str | None]]) -> dict:
    work = [(code, db, urls[code], cfg) for code, db, cfg in sites]
    halves = [work[0::2], work[1::2]]
    start_at = time.time() + 3.0  # both workers start together
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.map(_ship_worker, [(h, start_at) for h in halves])
    wall = time.perf_counter() - t0 - 3.0
    events = sum(r["events"] for r in results)
    secs = max(r["seconds"] for r in results)
    return {"events": events, "seconds": secs, "rate": events / secs, "wall": wall,
            "failures": sum(r["failures"] for r in results),
            "shipper_cpu": sum(r["cpu"] for r in results)}


async def catch_up(admin: str, db: Path, code: str, url: str) -> dict:
    from motcua.hub.shipper import Shipper
    from motcua.server.config import load_config

    top = events_top(str(db))
    s = Shipper(db, url, load_config(None), code=code, batch=2000, poll=0.1)
    t0 = time.perf_counter()
    await s.start()
    while (s.hwm or 0) < top:
        await asyncio.sleep(0.01)
    secs = time.perf_counter() - t0
    await s.stop()
    return {"events": top, "seconds": secs, "tickets": tickets_in(db)}


async def normal_flow_lag(admin: str, folder: Path, run: str, n_sites: int = 12,
                          seconds: float = 30.0) -> dict:
    """Real site servers with live traffic, shipping as they go."""
    from motcua.client import connect_once
    from motcua.server.app import MotcuaServer, always_open
    from motcua.server.config import load_config

    codes = [f"LAG{i:02d}-{run}" for i in range(n_sites)]
    urls = await setup_hub(admin, codes)
    config = always_open(load_config(str(bench_config_path(folder))))
    run_dir = folder / "lag"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    servers = []
    for code in codes:
        srv = MotcuaServer(config, run_dir / f"{code}.db", port=0, hub=urls[code])
        await srv.start()
        servers.append(srv)
    depts = [d.code for d in config.departments]
    # Normal flow: the shippers (child processes) connected before traffic.
    end = time.monotonic() + 60
    while any(s.shipper.state != "connected" for s in servers) and time.monotonic() < end:
        await asyncio.sleep(0.1)

    async def site_traffic(i: int, srv) -> int:
        url = f"ws://127.0.0.1:{srv.port}"
        kiosk = await connect_once(url, "kiosk", f"k{i}", "kiosk-demo")
        counter = await connect_once(url, "counter", f"c{i}", "counter-demo", counter=1)
        await counter.request("login", officer="cb01", pin="1234")
        n, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            await kiosk.request("issue", department=depts[n % 2], request_id=f"l{i}-{n}")
            if n % 2:
                await counter.request("call_next")
                await counter.request("finish")
            n += 1
            await asyncio.sleep(0.25)
        await kiosk.close()
        await counter.close()
        return n

    issued = sum(await asyncio.gather(*(site_traffic(i, s) for i, s in enumerate(servers))))
    await asyncio.sleep(2.0)
    lags: list[float] = []
    for srv in servers:
        lags.extend(srv.shipper.lags)
        await srv.stop()
    return {"sites": n_sites, "issued": issued, "samples": len(lags),
            "p50": pct(lags, 50) * 1000, "p99": pct(lags, 99) * 1000}


def bench_config_path(folder: Path) -> Path:
    from bench_server import bench_config

    return bench_config(folder)


# ``motcua serve`` with the shipper inside the server process, as it was before
# it had a child process of its own (the baseline of the catch-up latency).
_SERVE_INLINE = ("import sys, motcua.hub.process as p, motcua.hub.shipper as s; "
                 "p.ShipperProcess = s.Shipper; from motcua.cli import main; "
                 "sys.exit(main(sys.argv[1:]))")


def issue_latency(folder: Path, hub: str | None, db: Path, kiosks: int = 10,
                  per: int = 200, inline: bool = False) -> dict:
    """Issue latency of a real ``motcua serve`` process (its own CPU)."""
    from bench_server import hello, request

    port = free_port()
    head = [sys.executable, "-c", _SERVE_INLINE] if inline else \
        [sys.executable, "-m", "motcua.cli"]
    cmd = head + ["serve", "--ignore-hours", "--port", str(port),
                  "--db", str(db), "--config", str(bench_config_path(folder))]
    if hub:
        cmd += ["--hub", hub]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "Ctrl+C" in line:
                break

        def backlog() -> float | None:
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                for line in r.read().decode().splitlines():
                    if line.startswith("motcua_hub_backlog_events "):
                        return float(line.split()[1])
            return None

        time.sleep(1.0)
        before = backlog()

        async def load() -> list[float]:
            conns = [(await hello(f"ws://127.0.0.1:{port}", "kiosk", f"lat-{i}"))[0]
                     for i in range(kiosks)]
            lat: list[float] = []

            async def run(i: int, ws) -> None:
                for j in range(per):
                    t0 = time.perf_counter()
                    await request(ws, {"type": "issue", "id": j, "department": "TP",
                                       "request_id": f"{i}-{j}-{time.time()}"})
                    lat.append(time.perf_counter() - t0)
                    await asyncio.sleep(0.005)

            await asyncio.gather(*(run(i, ws) for i, ws in enumerate(conns)))
            for ws in conns:
                await ws.close()
            return lat

        lat = asyncio.run(load())
        after = backlog()
    finally:
        proc.terminate()
        proc.wait(10)
    return {"p50": pct(lat, 50) * 1000, "p99": pct(lat, 99) * 1000, "n": len(lat),
            "max": max(lat) * 1000, "backlog_before": before, "backlog_after": after,
            "load": os.getloadavg()[0]}


async def report_times(admin: str, runs: int) -> dict:
    """Report times from the cells (every grouping for the year) and, as the
    baseline, from the facts (the way the hub counted before the cells);
    both must give the same figures."""
    import asyncpg

    from motcua.hub.report import hub_report

    conn = await asyncpg.connect(admin)
    conn2 = await asyncpg.connect(admin)
    out: dict = {"cells": {}, "facts": {}, "differences": {}}
    try:
        first_day = await conn.fetchval("SELECT min(day) FROM hub.facts")
        last_day = await conn.fetchval("SELECT max(day) FROM hub.facts WHERE day < $1",
                                       START + timedelta(days=380))
        mid = date(first_day.year, 6, 16)
        periods = {"day": (mid, mid), "month": (mid.replace(day=1), date(mid.year, 6, 30)),
                   "year": (first_day, last_day),
                   "12 months, not on months": (first_day + timedelta(days=14),
                                                last_day - timedelta(days=11))}
        plan = [(name, by) for name in periods for by in ("site", "department")]
        plan += [("year", by) for by in ("none", "counter", "officer", "procedure", "hour",
                                         "day")]
        baseline = [(name, by) for name in ("day", "month", "year") for by in ("site",
                                                                               "department")]
        for name, by in plan:
            a, b = (d.isoformat() for d in periods[name])
            for source in ("facts", "cells") if (name, by) in baseline else ("cells",):
                times = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    hr = await hub_report(conn, a, b, None if by == "none" else by,
                                          conn2=conn2, source=source)
                    times.append(time.perf_counter() - t0)
                out[source][f"{name}/{by}"] = {
                    "min": min(times), "median": statistics.median(times), "max": max(times),
                    "issued": hr.report.total.issued, "rows": len(hr.report.rows),
                    "load": os.getloadavg()[0]}
                print(f"  report {name} by {by} from {source}: "
                      f"{statistics.median(times):.3f} s", flush=True)
                if source == "facts":
                    reference = hr
            if (name, by) in baseline:
                out["differences"][f"{name}/{by}"] = _differences(reference.report, hr.report)
        out["size"] = await conn.fetchval("SELECT pg_database_size(current_database())")
        out["tables"] = {r["t"]: r["bytes"] for r in await conn.fetch(
            "SELECT relname AS t, pg_total_relation_size(oid) AS bytes FROM pg_class "
            "WHERE relnamespace = 'hub'::regnamespace AND relkind = 'r'")}
        out["events"] = await conn.fetchval("SELECT count(*) FROM hub.events")
        out["facts_held"] = await conn.fetchval("SELECT count(*) FROM hub.facts")
        out["cells_held"] = dict(await conn.fetch(
            "SELECT grain::text, count(*) FROM hub.cells GROUP BY grain"))
    finally:
        await conn.close()
        await conn2.close()
    return out


def _differences(a, b) -> int:
    """Figures that differ between two reports (times to 1e-12: the facts'
    path interpolates in SQL, sums in another order)."""
    import dataclasses
    import math

    bad = int([k.key for k in a.rows] != [k.key for k in b.rows])
    for x, y in zip([a.total, *a.rows], [b.total, *b.rows]):
        for f in dataclasses.fields(x):
            u, v = getattr(x, f.name), getattr(y, f.name)
            if isinstance(u, float) and isinstance(v, float):
                bad += not math.isclose(u, v, rel_tol=1e-12)
            else:
                bad += u != v
    return bad


async def migrate_hub(admin: str) -> dict:
    """Bring an ingested hub to this schema (the cells filled from the facts)."""
    import asyncpg

    from motcua.hub.schema import migrate

    conn = await asyncpg.connect(admin)
    try:
        t0 = time.perf_counter()
        before, after = await migrate(conn)
        return {"from": before, "to": after, "seconds": time.perf_counter() - t0}
    finally:
        await conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/tmp/motcua-bench-hub",
                    help="where the generated sites and the hub's PostgreSQL live (reused)")
    ap.add_argument("--phase", choices=("all", "generate", "ingest", "after", "reports",
                                        "latency"), default="all",
                    help="generate: the sites only; ingest: + baseline and ingest; after: "
                         "catch-up, lag, latency and reports on an ingested hub; reports, "
                         "latency: only those")
    ap.add_argument("--runs", type=int, default=3, help="runs of each report timed")
    ap.add_argument("--communes", type=int, default=120)
    ap.add_argument("--distinct", type=int, default=12, help="distinct commune years simulated")
    ap.add_argument("--days", type=int, default=313, help="open days (313: a 6-day-week year)")
    ap.add_argument("--center-tickets", type=int, default=150_000)
    ap.add_argument("--commune-tickets", type=int, default=5_000)
    args = ap.parse_args()
    folder = Path(args.dir)
    meta = generate(folder, args.days, args.distinct, args.center_tickets, args.commune_tickets)
    if args.phase == "generate":
        return 0
    commune_cfg = str(folder / "commune.toml")
    sites = [("TTHC", str(folder / "center.db"), None)]
    sites += [(f"XA{i + 1:03d}", str(folder / f"commune-{i % args.distinct:02d}.db"),
               commune_cfg) for i in range(args.communes)]
    results_path = folder / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    hubdir = folder / "hub"
    if args.phase in ("all", "ingest"):
        shutil.rmtree(hubdir, ignore_errors=True)
    pg = start_postgres(hubdir)
    admin = pg.url("motcua")
    try:
        if args.phase in ("all", "ingest"):
            urls = asyncio.run(setup_hub(admin, [c for c, _, _ in sites]))
            results["load_before_ingest"] = os.getloadavg()[0]
            results["baseline"] = asyncio.run(baseline(admin, folder / "center.db"))
            print(f"baseline: COPY {results['baseline']['copy']:,.0f} rows/s, "
                  f"INSERT {results['baseline']['insert']:,.0f} rows/s", flush=True)
            print(f"ingest: {len(sites)} sites shipping at once …", flush=True)
            results["ingest"] = ingest(folder, urls, sites)
            print(f"  {results['ingest']['events']:,} events in "
                  f"{results['ingest']['seconds']:.0f} s", flush=True)
            results["tickets"] = tickets_in(folder / "center.db") + sum(
                tickets_in(Path(db)) for _, db, _ in sites[1:])
            results_path.write_text(json.dumps(results))
        if args.phase in ("all", "after", "reports", "latency"):
            mig = asyncio.run(migrate_hub(admin))
            if mig["from"] != mig["to"]:
                results["migration"] = mig
                print(f"migrated the hub from schema {mig['from']} to {mig['to']} in "
                      f"{mig['seconds']:.0f} s", flush=True)
            # As autovacuum would have by now: visibility map and statistics.
            if args.phase != "latency":
                asyncio.run(_vacuum(admin))
            # Fresh sites for every run: a site's log cannot be shipped twice.
            run = f"{int(time.time()) % 100000:05d}"
            week, up, catch, inline = (f"WEEK-{run}", f"UP-{run}", f"CATCH-{run}",
                                       f"INLINE-{run}")
            urls = asyncio.run(setup_hub(admin, [week, up, catch, inline]))
        if args.phase in ("all", "after"):
            results["catch_up"] = asyncio.run(catch_up(admin, folder / "center-week.db",
                                                       week, urls[week]))
            print(f"catch-up: {results['catch_up']}", flush=True)
            results["lag"] = asyncio.run(normal_flow_lag(admin, folder, run))
            print(f"lag: {results['lag']}", flush=True)
        if args.phase in ("all", "after", "latency"):
            lat_dir = folder / "latency"
            shutil.rmtree(lat_dir, ignore_errors=True)
            lat_dir.mkdir()
            lat = {}
            lat["none"] = issue_latency(folder, None, lat_dir / "none.db")
            lat["up"] = issue_latency(folder, urls[up], lat_dir / "up.db")
            lat["down"] = issue_latency(folder, "postgresql://x:y@127.0.0.1:9/motcua",
                                        lat_dir / "down.db")
            # The same four-week backlog, the shipper in the server process
            # (before) and in its own (now), one after the other.
            shutil.copy(folder / "center-4weeks.db", lat_dir / "inline.db")
            lat["catching_up_inline"] = issue_latency(folder, urls[inline],
                                                      lat_dir / "inline.db", inline=True)
            shutil.copy(folder / "center-4weeks.db", lat_dir / "catch.db")
            lat["catching_up"] = issue_latency(folder, urls[catch], lat_dir / "catch.db")
            results["latency"] = lat
            print(f"latency: {lat}", flush=True)
            results_path.write_text(json.dumps(results))
        if args.phase in ("all", "after", "reports"):
            rt = asyncio.run(report_times(admin, args.runs))
            results["reports"] = rt
            results["size"] = rt["size"]
            results["tables"] = rt["tables"]
            results["hub_events"] = rt["events"]
            results["hub_facts"] = rt["facts_held"]
            results_path.write_text(json.dumps(results))
    finally:
        pg.stop()
    print_table(results, meta, args)
    return 0


async def _vacuum(admin: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin)
    try:
        await conn.execute("VACUUM ANALYZE hub.facts")
        await conn.execute("VACUUM ANALYZE hub.events")
        await conn.execute("VACUUM ANALYZE hub.cells")
    finally:
        await conn.close()


def print_table(r: dict, meta: dict, args: argparse.Namespace) -> None:
    print()
    print(f"motcua province hub benchmark ({os.cpu_count()} cores, PostgreSQL 16 via pgserver, "
          f"Python {sys.version.split()[0]})")
    print(f"load average now (other work on the machine): "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"province: 1 provincial center + {args.communes} communes, {args.days} open days"
          + (f", {r['tickets']:,} tickets" if "tickets" in r else ""))
    print(f"{'measure':62} {'value':>14}")
    print("-" * 77)

    def row(label: str, value: str) -> None:
        print(f"{label:62} {value:>14}")

    if "baseline" in r:
        row("baseline: raw COPY into a plain table (rows/s, 1 connection)",
            f"{r['baseline']['copy']:,.0f}")
        row("baseline: raw INSERT (executemany, rows/s, 1 connection)",
            f"{r['baseline']['insert']:,.0f}")
    if "ingest" in r:
        i = r["ingest"]
        row(f"ingest: events/s into the hub, {args.communes + 1} sites at once", f"{i['rate']:,.0f}")
        row("  events shipped (each with its facts, RLS-checked)", f"{i['events']:,}")
        row("  seconds until every site was caught up", f"{i['seconds']:,.1f}")
        row("  shipper CPU seconds (2 worker processes)", f"{i['shipper_cpu']:,.1f}")
        row("  failed batches", f"{i['failures']}")
    if "catch_up" in r:
        c = r["catch_up"]
        row(f"catch-up: provincial center's week offline ({c['tickets']:,} tickets, "
            f"{c['events']:,} events), s", f"{c['seconds']:.2f}")
    if "lag" in r:
        g = r["lag"]
        row(f"shipping lag p50, normal flow ({g['sites']} live sites, ms)", f"{g['p50']:.1f}")
        row(f"shipping lag p99 ({g['samples']:,} events, ms)", f"{g['p99']:.1f}")
    if "migration" in r:
        m = r["migration"]
        row(f"migration of the ingested hub, schema {m['from']} → {m['to']} (cells filled), s",
            f"{m['seconds']:.0f}")
    if "latency" in r:
        for key, label in (("none", "no hub"), ("up", "hub up"), ("down", "hub down"),
                           ("catching_up_inline", "catching up, shipper in the server"),
                           ("catching_up", "catching up, shipper in its process")):
            v = r["latency"].get(key)
            if v is None:
                continue
            extra = ""
            if key.startswith("catching_up"):
                extra = f" ({v['backlog_before']:,.0f}→{v['backlog_after']:,.0f})"
            row(f"issue p50 / p99, {label}{extra} (ms)", f"{v['p50']:.1f} / {v['p99']:.1f}")
    if "reports" in r and "cells" in r["reports"]:
        rep = r["reports"]
        print()
        print(f"{'province report (s: min / median / max)':46} {'from cells':>17} "
              f"{'from facts':>17}  same")
        for key, v in rep["cells"].items():
            period, by = key.split("/")
            f = rep["facts"].get(key)
            base = f"{f['min']:.2f}/{f['median']:.2f}/{f['max']:.2f}" if f else ""
            same = ("yes" if rep["differences"].get(key) == 0 else
                    f"{rep['differences'][key]} differ") if key in rep["differences"] else ""
            label = f"{period} by {by} ({v['rows']:,} rows)"
            cells = f"{v['min']:.2f}/{v['median']:.2f}/{v['max']:.2f}"
            print(f"{label:46} {cells:>17} {base:>17}  {same}")
        print("cells held: " + ", ".join(f"{n:,} {'day month year'.split()[int(g) - 1]}"
                                         for g, n in sorted(rep.get("cells_held", {}).items())))
    if "size" in r:
        row("hub database size (MB)", f"{r['size'] / 2**20:,.0f}")
        for t, b in sorted(r["tables"].items()):
            row(f"  hub.{t} with indexes (MB)", f"{b / 2**20:,.0f}")
        row("  events / facts held", f"{r['hub_events']:,} / {r['hub_facts']:,}")
    print("targets: province report month < 1 s, year < 3 s")


if __name__ == "__main__":
    sys.exit(main())
