"""Server benchmark on loopback: durable issue throughput and latency with 50
kiosks, against the bare stack as the baseline; call→display fan-out latency
to 1,000 and 2,000 displays; server RSS; raw SQLite commits/s on the same disk.

    python bench/bench_server.py [--kiosks 50] [--tickets 10000] [--displays 1000,2000]
                                 [--calls 20] [--runs 3]

The **bare stack** is the least a server on our stack can do per ticket:
websockets + one group-committed SQLite insert per request (WAL,
synchronous=FULL, through aiosqlite) + a JSON reply — no queue logic. It runs
under the same load in the same run, and motcua's rate is printed as a ratio
of it. Each server runs as its own process on 127.0.0.1; the kiosk load runs
in this process, the display receivers in several processes (so that one
receiver process doesn't dominate what is measured). Prints a table; asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from websockets.asyncio.client import connect

TOKENS = {"kiosk": "kiosk-demo", "counter": "counter-demo", "display": "display-demo"}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def sqlite_baseline(directory: Path, seconds: float = 2.0) -> float:
    """Raw commits/s: one small insert per transaction, WAL + synchronous=FULL,
    the same settings the server uses."""
    path = directory / "baseline.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    n, end = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < end:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (v) VALUES (?)", ("x" * 200,))
        db.execute("COMMIT")
        n += 1
    rate = n / (time.perf_counter() - start)
    db.close()
    return rate


BARE_SERVER = r"""
import asyncio, json, sys
import aiosqlite
from websockets.asyncio.server import serve

async def main(path, port):
    db = await aiosqlite.connect(path, isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=FULL")
    await db.execute("CREATE TABLE IF NOT EXISTS tickets (id INTEGER PRIMARY KEY, "
                     "device TEXT, request_id TEXT, department TEXT, number TEXT)")
    queue = asyncio.Queue()
    seq = {}

    async def writer():
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            await db.execute("BEGIN IMMEDIATE")
            await db.executemany("INSERT INTO tickets (device, request_id, department, number) "
                                 "VALUES (?, ?, ?, ?)", [row for row, _ in batch])
            await db.execute("COMMIT")
            for _, fut in batch:
                fut.set_result(None)

    async def handler(ws):
        hello = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "welcome", "seq": 0}))
        loop = asyncio.get_running_loop()
        async for raw in ws:
            msg = json.loads(raw)
            dept = msg.get("department", "X")
            seq[dept] = n = seq.get(dept, 0) + 1
            number = f"{dept[0]}{n:03d}"
            fut = loop.create_future()
            queue.put_nowait(((hello["device"], msg.get("request_id"), dept, number), fut))
            await fut
            await ws.send(json.dumps({"type": "reply", "re": msg.get("id"), "ok": True,
                                      "ticket": {"number": number, "department": dept}},
                                     ensure_ascii=False))

    asyncio.create_task(writer())
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=2**20):
        print("motcua bare stack ready (Ctrl+C)", flush=True)
        await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def bench_config(directory: Path) -> Path:
    """The sample center without daily caps (so 14 × 999 numbers are free)."""
    text = resources.files("motcua.server").joinpath("sample_center.toml").read_text("utf-8")
    text = re.sub(r"(?m)^\s*daily_cap\s*=.*$", "", text)
    path = directory / "bench_center.toml"
    path.write_text(text, "utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_get(url: str) -> str:
    import urllib.request
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def hello(url: str, role: str, device: str, **extra) -> tuple:
    ws = await connect(url, max_size=2**22, ping_interval=None)
    await ws.send(json.dumps({"type": "hello", "role": role, "device": device,
                              "token": TOKENS[role], "protocol": 1, **extra}))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def request(ws, msg: dict) -> dict:
    await ws.send(json.dumps(msg))
    while True:
        reply = json.loads(await ws.recv())
        if reply.get("re") == msg["id"]:
            return reply


async def kiosk_load(url: str, kiosks: int, tickets: int, departments: list[str]) -> dict:
    conns = [(await hello(url, "kiosk", f"bench-kiosk-{i}"))[0] for i in range(kiosks)]
    per = tickets // kiosks
    latencies: list[float] = []
    refused = 0

    async def run(i: int, ws) -> None:
        nonlocal refused
        for j in range(per):
            dept = departments[(i * per + j) % len(departments)]
            t0 = time.perf_counter()
            reply = await request(ws, {"type": "issue", "id": j, "department": dept,
                                       "request_id": f"{i}-{j}"})
            latencies.append(time.perf_counter() - t0)
            if reply["type"] != "reply":
                refused += 1

    start = time.perf_counter()
    await asyncio.gather(*(run(i, ws) for i, ws in enumerate(conns)))
    elapsed = time.perf_counter() - start
    for ws in conns:
        await ws.close()
    return {"issued": len(latencies) - refused, "refused": refused, "seconds": elapsed,
            "rate": (len(latencies) - refused) / elapsed,
            "p50": pct(latencies, 50) * 1000, "p99": pct(latencies, 99) * 1000}


def _receiver_process(url: str, first: int, count: int, ready, stop, results) -> None:
    """One receiver process: ``count`` displays; records when each call arrives."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def run() -> None:
        arrivals: dict[str, list[float]] = {}

        async def listen(ws) -> None:
            async for raw in ws:
                now = time.monotonic()
                if '"ticket_called"' in raw:  # cheap filter before parsing
                    msg = json.loads(raw)
                    if msg["type"] == "ticket_called":
                        arrivals.setdefault(msg["ticket"]["number"], []).append(now)
        conns = []
        for i in range(first, first + count):
            ws, _ = await hello(url, "display", f"bench-display-{i}")
            conns.append(ws)
        tasks = [asyncio.create_task(listen(ws)) for ws in conns]
        ready.put(count)
        while stop.empty():
            await asyncio.sleep(0.1)
        for t in tasks:
            t.cancel()
        for ws in conns:
            ws.transport.abort()
        results.put(arrivals)
    asyncio.run(run())


async def display_fanout(url: str, displays: int, calls: int, dept: str,
                         processes: int = 4) -> dict:
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    ready, stop, results = ctx.Queue(), ctx.Queue(), ctx.Queue()
    per = -(-displays // processes)
    procs = []
    for p in range(processes):
        count = min(per, displays - p * per)
        if count > 0:
            proc = ctx.Process(target=_receiver_process,
                               args=(url, p * per, count, ready, stop, results))
            proc.start()
            procs.append(proc)
    connected = 0
    while connected < displays:
        connected += await asyncio.to_thread(ready.get, True, 300)
    kiosk, _ = await hello(url, "kiosk", "bench-kiosk-fanout")
    counter, _ = await hello(url, "counter", "bench-counter", counter=1)
    await request(counter, {"type": "login", "id": "login", "officer": "cb01", "pin": "1234"})
    sent: dict[str, float] = {}
    replied: dict[str, float] = {}
    for i in range(calls):
        await request(kiosk, {"type": "issue", "id": f"f{i}", "department": dept,
                              "request_id": f"fanout-{displays}-{i}"})
    for i in range(calls):
        t0 = time.monotonic()
        reply = await request(counter, {"type": "call_next", "id": f"c{i}"})
        number = reply["ticket"]["number"]
        sent[number], replied[number] = t0, time.monotonic()
        await asyncio.sleep(0.05)
        await request(counter, {"type": "finish", "id": f"e{i}"})
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    for _ in procs:
        stop.put(True)
    arrivals: dict[str, list[float]] = {}
    for _ in procs:
        for number, times in (await asyncio.to_thread(results.get, True, 60)).items():
            arrivals.setdefault(number, []).extend(times)
    for proc in procs:
        proc.join(30)
    await request(counter, {"type": "logout", "id": "out"})
    for ws in (kiosk, counter):
        await ws.close()
    from_reply, from_send, missing = [], [], 0
    for number, t_reply in replied.items():
        got = arrivals.get(number, [])
        missing += displays - len(got)
        from_reply += [(t - t_reply) * 1000 for t in got]
        from_send += [(t - sent[number]) * 1000 for t in got]
    reply_ms = [(replied[n] - sent[n]) * 1000 for n in replied]
    return {"samples": len(from_send), "missing": missing,
            "reply_p50": pct(reply_ms, 50), "reply_p99": pct(reply_ms, 99),
            "send_p50": pct(from_send, 50), "send_p99": pct(from_send, 99),
            "after_reply_p50": pct(from_reply, 50)}


class ServerProcess:
    """A server started as its own process; ``kind`` is "motcua" or "bare"."""

    def __init__(self, kind: str, directory: Path, config: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        db = directory / f"{kind}-{self.port}.db"
        if kind == "bare":
            cmd = [sys.executable, "-c", BARE_SERVER, str(db), str(self.port)]
        else:
            cmd = [sys.executable, "-m", "motcua.cli", "serve", "--ignore-hours", "--demo",
                   "--port", str(self.port), "--db", str(db), "--config", str(config)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, text=True)
        assert self.proc.stdout is not None
        seen = []
        for line in self.proc.stdout:
            seen.append(line)
            if "Ctrl+C" in line:
                break
        else:
            raise SystemExit(f"the {kind} server did not start:\n" + "".join(seen))
        self.url = f"ws://127.0.0.1:{self.port}"
        self.rss_idle = rss_mb(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def staff_counters(url: str, config) -> list:
    """An officer logged in at every counter (each counter's console stays
    connected): the estimator then looks ahead through every queue, as in
    opening hours, instead of answering "no counter open"."""
    consoles = []
    for c, o in zip(config.counters, config.officers):
        ws, _ = await hello(url, "counter", f"bench-counter-{c.number}", counter=c.number)
        reply = await request(ws, {"type": "login", "id": "login", "officer": o.id, "pin": "1234"})
        assert reply["type"] == "reply", reply
        consoles.append(ws)
    return consoles


async def issue_run(server: ServerProcess, args: argparse.Namespace,
                    departments: list[str], config=None) -> dict:
    consoles = await staff_counters(server.url, config) if config is not None else []
    srv0, me0 = cpu_seconds(server.proc.pid), time.process_time()
    k = await kiosk_load(server.url, args.kiosks, args.tickets, departments)
    for ws in consoles:
        await ws.close()
    k["server_cpu"] = cpu_seconds(server.proc.pid) - srv0
    k["client_cpu"] = time.process_time() - me0
    k["cpu_us"] = k["server_cpu"] / max(1, k["issued"]) * 1e6
    return k


def spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    """min / median / max."""
    v = sorted(values)
    return "/".join(fmt.format(x) for x in (v[0], statistics.median(v), v[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiosks", type=int, default=50)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--displays", default="1000,2000",
                        help="display counts for the fan-out, comma-separated")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", help="directory for the databases (default: a temp dir)")
    parser.add_argument("--no-staffed", action="store_true",
                        help="skip the runs with an officer at every counter (the wait "
                             "estimator's look-ahead through growing queues)")
    args = parser.parse_args()
    from motcua.server.config import load_config
    config = load_config(None)
    departments = [d.code for d in config.departments]
    dept = config.counter(1).departments[0]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tmpdir = Path(tmp)
        baseline = sqlite_baseline(tmpdir)
        cfg = bench_config(tmpdir)
        bare_runs, motcua_runs, staffed_runs = [], [], []
        kinds = [("bare", bare_runs, None), ("motcua", motcua_runs, None)]
        if not args.no_staffed:
            kinds.append(("motcua", staffed_runs, config))
        for _ in range(args.runs):
            # Alternate, so that a slow spell of the machine hits all.
            for kind, runs, staffed in kinds:
                srv = ServerProcess(kind, tmpdir, cfg)
                try:
                    runs.append(asyncio.run(issue_run(srv, args, departments, staffed)))
                    if kind == "motcua":
                        metrics = http_get(srv.url.replace("ws://", "http://") + "/metrics")
                        figures = dict(line.rsplit(" ", 1) for line in metrics.splitlines()
                                       if line.startswith("motcua_c"))
                        runs[-1]["per_commit"] = (float(figures["motcua_changes_total"])
                                                  / float(figures["motcua_commits_total"]))
                        runs[-1]["rss_idle"] = srv.rss_idle
                finally:
                    srv.stop()
        fans = {}
        srv = ServerProcess("motcua", tmpdir, cfg)
        try:
            for n in (int(x) for x in args.displays.split(",") if x):
                fans[n] = asyncio.run(display_fanout(srv.url, n, args.calls, dept))
            rss_loaded = rss_mb(srv.proc.pid)
        finally:
            srv.stop()
    ratios = [m["rate"] / b["rate"] for b, m in zip(bare_runs, motcua_runs)]
    print(f"motcua server benchmark (loopback, {os.cpu_count()} cores, Python "
          f"{sys.version.split()[0]}); min/median/max of {args.runs} runs")
    print(f"{'measure':56} {'value':>22}")
    print("-" * 79)
    print(f"{'raw SQLite commits/s (WAL, synchronous=FULL)':56} {baseline:22,.0f}")
    label = f"bare stack: requests/s ({args.kiosks} clients, {args.tickets:,})"
    print(f"{label:56} {spread([r['rate'] for r in bare_runs]):>22}")
    print(f"{'  server CPU per request (µs)':56} {spread([r['cpu_us'] for r in bare_runs]):>22}")
    label = f"motcua: durable tickets issued/s ({args.kiosks} kiosks)"
    print(f"{label:56} {spread([r['rate'] for r in motcua_runs]):>22}")
    print(f"{'  server CPU per ticket (µs)':56} {spread([r['cpu_us'] for r in motcua_runs]):>22}")
    print(f"{'  ratio to the bare stack (same run)':56} {spread(ratios, '{:.2f}'):>22}")
    print(f"{'  issue latency p50 (ms)':56} {spread([r['p50'] for r in motcua_runs], '{:.2f}'):>22}")
    print(f"{'  issue latency p99 (ms)':56} {spread([r['p99'] for r in motcua_runs], '{:.2f}'):>22}")
    print(f"{'  changes per commit (group commit)':56} "
          f"{spread([r['per_commit'] for r in motcua_runs], '{:.1f}'):>22}")
    print(f"{'  refused issues':56} {sum(r['refused'] for r in motcua_runs):>22}")
    if staffed_runs:
        per_dept = args.tickets // len(departments)
        label = f"motcua, an officer at every counter (queues to ~{per_dept:,})"
        print(f"{label:56} {spread([r['rate'] for r in staffed_runs]):>22}")
        print(f"{'  server CPU per ticket (µs)':56} "
              f"{spread([r['cpu_us'] for r in staffed_runs]):>22}")
        print(f"{'  issue latency p50 / p99 (ms)':56} "
              f"{statistics.median([r['p50'] for r in staffed_runs]):>10.2f} / "
              f"{statistics.median([r['p99'] for r in staffed_runs]):<9.2f}")
        print(f"{'  refused issues':56} {sum(r['refused'] for r in staffed_runs):>22}")
    for n, f in fans.items():
        print(f"{f'call_next sent -> event at {n:,} displays p50 / p99 (ms)':56} "
              f"{f['send_p50']:>10.1f} / {f['send_p99']:<9.1f}")
        print(f"{f'  call_next reply p50 / p99 (ms)':56} "
              f"{f['reply_p50']:>10.1f} / {f['reply_p99']:<9.1f}")
        print(f"{'  events received / missing':56} {f['samples']:>10,} / {f['missing']:<9}")
    print(f"{'server RSS idle (MB)':56} {statistics.median([r['rss_idle'] for r in motcua_runs]):22.1f}")
    print(f"{'server RSS after the fan-outs (MB)':56} {rss_loaded:22.1f}")
    print("targets: ratio >= 0.8 of the bare stack; call -> 1,000 displays p99 <= 50 ms")


if __name__ == "__main__":
    main()
