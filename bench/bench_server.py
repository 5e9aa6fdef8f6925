"""Server benchmark on loopback: durable issue throughput and latency with 50
kiosks, call→display fan-out latency to 500 displays, server RSS, and raw
SQLite commits/s on the same disk as a baseline.

    python bench/bench_server.py [--kiosks 50] [--tickets 10000] [--displays 500] [--calls 20]

The server runs as its own process (``motcua serve``) on 127.0.0.1; the load
runs in this process. Prints a table; asserts nothing.
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


async def display_fanout(url: str, displays: int, calls: int, dept: str) -> dict:
    arrivals: dict[str, list[float]] = {}

    async def listen(ws) -> None:
        async for raw in ws:
            now = time.perf_counter()
            if '"ticket_called"' in raw:  # cheap filter before parsing
                msg = json.loads(raw)
                if msg["type"] == "ticket_called":
                    arrivals.setdefault(msg["ticket"]["number"], []).append(now)

    conns = []
    for i in range(displays):
        ws, _ = await hello(url, "display", f"bench-display-{i}")
        conns.append(ws)
    tasks = [asyncio.create_task(listen(ws)) for ws in conns]
    kiosk, _ = await hello(url, "kiosk", "bench-kiosk-fanout")
    counter, welcome = await hello(url, "counter", "bench-counter", counter=1)
    await request(counter, {"type": "login", "id": "login", "officer": "cb01", "pin": "1234"})
    sent: dict[str, float] = {}
    replied: dict[str, float] = {}
    for i in range(calls):
        await request(kiosk, {"type": "issue", "id": f"f{i}", "department": dept,
                              "request_id": f"fanout-{i}"})
    for i in range(calls):
        t0 = time.perf_counter()
        reply = await request(counter, {"type": "call_next", "id": f"c{i}"})
        number = reply["ticket"]["number"]
        sent[number], replied[number] = t0, time.perf_counter()
        await asyncio.sleep(0.05)
        await request(counter, {"type": "finish", "id": f"e{i}"})
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    from_reply, from_send, missing = [], [], 0
    for number, t_reply in replied.items():
        got = arrivals.get(number, [])
        missing += displays - len(got)
        from_reply += [(t - t_reply) * 1000 for t in got]
        from_send += [(t - sent[number]) * 1000 for t in got]
    for t in tasks:
        t.cancel()
    for ws in [*conns, kiosk, counter]:
        await ws.close()
    return {"samples": len(from_reply), "missing": missing,
            "reply_p50": pct(from_reply, 50), "reply_p99": pct(from_reply, 99),
            "send_p50": pct(from_send, 50), "send_p99": pct(from_send, 99)}


async def main_async(args: argparse.Namespace, url: str, pid: int) -> dict:
    from motcua.server.config import load_config
    departments = [d.code for d in load_config(None).departments]
    srv0, me0 = cpu_seconds(pid), time.process_time()
    kiosk = await kiosk_load(url, args.kiosks, args.tickets, departments)
    kiosk["server_cpu"] = cpu_seconds(pid) - srv0
    kiosk["client_cpu"] = time.process_time() - me0
    metrics = await asyncio.to_thread(http_get, url.replace("ws://", "http://") + "/metrics")
    figures = dict(line.rsplit(" ", 1) for line in metrics.splitlines()
                   if line.startswith("motcua_c"))
    kiosk["per_commit"] = float(figures["motcua_changes_total"]) / float(figures["motcua_commits_total"])
    dept = load_config(None).counter(1).departments[0]
    fan = await display_fanout(url, args.displays, args.calls, dept)
    return {"kiosk": kiosk, "fan": fan, "rss": rss_mb(pid)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiosks", type=int, default=50)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--displays", type=int, default=500)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--dir", help="directory for the databases (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tmpdir = Path(tmp)
        baseline = sqlite_baseline(tmpdir)
        port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "motcua.cli", "serve", "--ignore-hours", "--port", str(port),
             "--db", str(tmpdir / "bench.db"), "--config", str(bench_config(tmpdir))],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        try:
            assert proc.stdout is not None
            seen = []
            for line in proc.stdout:
                seen.append(line)
                if "Ctrl+C" in line:
                    break
            else:
                raise SystemExit("the server did not start:\n" + "".join(seen))
            rss_idle = rss_mb(proc.pid)
            res = asyncio.run(main_async(args, f"ws://127.0.0.1:{port}", proc.pid))
        finally:
            proc.terminate()
            proc.wait(10)
    k, f = res["kiosk"], res["fan"]
    print(f"motcua server benchmark (loopback, {os.cpu_count()} cores, Python {sys.version.split()[0]})")
    print(f"{'measure':58} {'value':>12}")
    print("-" * 71)
    print(f"{'baseline: raw SQLite commits/s (WAL, synchronous=FULL)':58} {baseline:12,.0f}")
    label = f"durable tickets issued/s ({args.kiosks} kiosks, {k['issued']:,} tickets)"
    print(f"{label:58} {k['rate']:12,.0f}")
    print(f"{'  ratio to raw SQLite commits/s':58} {k['rate'] / baseline:12.2f}")
    print(f"{'  server CPU seconds during the issue run':58} {k['server_cpu']:12.2f}")
    print(f"{'  load-generator CPU seconds during the issue run':58} {k['client_cpu']:12.2f}")
    print(f"{'  server capacity if CPU-bound (tickets / server CPU s)':58} {k['issued'] / max(k['server_cpu'], 1e-9):12,.0f}")
    print(f"{'  changes per commit (group commit)':58} {k['per_commit']:12.1f}")
    print(f"{'issue latency p50 (ms)':58} {k['p50']:12.2f}")
    print(f"{'issue latency p99 (ms)':58} {k['p99']:12.2f}")
    print(f"{'refused issues':58} {k['refused']:12}")
    print(f"{f'call_next reply -> event at {args.displays} displays p50 (ms)':58} {f['reply_p50']:12.2f}")
    print(f"{f'call_next reply -> event at {args.displays} displays p99 (ms)':58} {f['reply_p99']:12.2f}")
    print(f"{'call_next sent -> event at displays p50 (ms)':58} {f['send_p50']:12.2f}")
    print(f"{'call_next sent -> event at displays p99 (ms)':58} {f['send_p99']:12.2f}")
    print(f"{'display events received / missing':58} {f['samples']:>7,} / {f['missing']:<3}")
    print(f"{'server RSS idle (MB)':58} {rss_idle:12.1f}")
    print(f"{f'server RSS after load, {args.displays} displays connected (MB)':58} {res['rss']:12.1f}")
    print("targets: >= 3,000 tickets/s; call -> 500 displays p99 <= 50 ms")


if __name__ == "__main__":
    main()
