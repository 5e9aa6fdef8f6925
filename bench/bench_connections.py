"""Connections that misbehave: displays that stop reading, and a flood of
connections that never say hello. Server memory with motcua's protections,
and with them switched off in the same run as the baseline (today's stack
without them: unbounded write buffers, autotuned kernel buffers, unlimited
pending handshakes, no reclaim).

    python bench/bench_connections.py [--hung 200] [--flood 3000] [--events 400]

Each scenario starts the server in its own process on 127.0.0.1 and prints
server RSS and the kernel's TCP memory (``/proc/net/sockstat``) at each
phase. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

from websockets.asyncio.client import connect

TOKENS = {"kiosk": "kiosk-demo", "counter": "counter-demo", "display": "display-demo"}

SERVER = """
import asyncio, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
import motcua.server.app as app
app.TICK_SECONDS = 2.0
if sys.argv[3] == "off":
    app.MAX_PENDING_HELLOS = 10**9
    app.MAX_UNSENT_BYTES = 10**12
    app.SOCKET_SEND_BUFFER = 0
    app.RECLAIM_AFTER_DROP = 0
from motcua.server.config import load_config
async def main():
    s = app.MotcuaServer(app.always_open(load_config(None)), sys.argv[1], port=int(sys.argv[2]))
    await s.start()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def tcp_mem_mb() -> float:
    """Kernel memory of all TCP sockets (pages, as /proc/net/sockstat counts)."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                parts = line.split()
                return int(parts[parts.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return float("nan")


def metric(port: int, name: str) -> float:
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, protections: bool) -> None:
        self.dir = tempfile.mkdtemp(prefix="motcua-bench-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, f"{self.dir}/b.db", str(self.port),
             "on" if protections else "off"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"
        self.url = f"ws://127.0.0.1:{self.port}"

    def rss(self) -> float:
        return rss_mb(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def hello(url: str, role: str, device: str, counter: int | None = None, **kw):
    ws = await connect(url, open_timeout=60, **kw)
    await ws.send(json.dumps({"type": "hello", "role": role, "device": device,
                              "token": TOKENS[role], "protocol": 1, "counter": counter}))
    assert json.loads(await ws.recv())["type"] == "welcome"
    return ws


async def hung_displays(protections: bool, n: int, events: int) -> dict[str, float]:
    """``n`` displays that say hello and then never read; the center works on."""
    await asyncio.sleep(3)  # let the kernel free the previous scenario's sockets
    srv = Server(protections)
    out = {"start": srv.rss(), "tcp_start": tcp_mem_mb()}
    try:
        hung = []
        for i in range(n):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", srv.port))
            sock.setblocking(False)
            hung.append(await hello(srv.url, "display", f"hung-{i}", sock=sock, max_queue=1))
        kiosk = await hello(srv.url, "kiosk", "k")
        desk = await hello(srv.url, "counter", "d", counter=1)

        async def ask(ws, msg):
            await ws.send(json.dumps({**msg, "id": 1}))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("re") == 1:
                    return reply
        await ask(desk, {"type": "login", "officer": "cb01", "pin": "1234"})
        t0 = time.perf_counter()
        for i in range(events):
            await ask(kiosk, {"type": "issue", "department": "TP", "request_id": f"r{i}"})
            await ask(desk, {"type": "call_next"})
            await ask(desk, {"type": "finish"})
            # every hung display is also asked for a snapshot it won't read
            if i % 20 == 0:
                for ws in hung:
                    if ws.state.name == "OPEN":
                        try:
                            await ws.send(json.dumps({"type": "snapshot"}))
                        except Exception:
                            pass
        out["cycles_per_s"] = events / (time.perf_counter() - t0)
        await asyncio.sleep(1)
        out["end"] = srv.rss()
        out["tcp_end"] = tcp_mem_mb()
        out["dropped"] = metric(srv.port, "motcua_slow_clients_dropped_total")
        for ws in hung:
            ws.transport.abort()
    finally:
        srv.stop()
    return out


async def hello_flood(protections: bool, n: int) -> dict[str, float]:
    """``n`` websocket connections at once that never say hello."""
    srv = Server(protections)
    out = {"start": srv.rss()}
    try:
        conns = []

        async def one():
            try:
                conns.append(await connect(srv.url, open_timeout=60))
            except Exception:
                pass
        await asyncio.gather(*(one() for _ in range(n)))
        out["open"] = len(conns)
        out["peak"] = srv.rss()
        await asyncio.sleep(25)  # the hello timeout (10 s), the close, a few ticks
        out["after_25s"] = srv.rss()
        for ws in conns:
            ws.transport.abort()
    finally:
        srv.stop()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hung", type=int, default=200)
    parser.add_argument("--flood", type=int, default=3000)
    parser.add_argument("--events", type=int, default=400, help="call cycles while hung")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"{args.hung} displays that stop reading, {args.events} call cycles:")
    print(f"{'':24}{'RSS start':>10}{'RSS end':>9}{'TCP mem':>9}{'dropped':>9}{'cycles/s':>10}")
    for label, on in (("without protections", False), ("motcua", True)):
        r = await hung_displays(on, args.hung, args.events)
        dropped = "-" if r["dropped"] != r["dropped"] else str(int(r["dropped"]))
        print(f"{label:24}{r['start']:>8.1f}MB{r['end']:>7.1f}MB"
              f"{r['tcp_end']:>7.1f}MB{dropped:>9}"
              f"{r['cycles_per_s']:>10.0f}")
    print(f"\n{args.flood} connections that never say hello:")
    print(f"{'':24}{'RSS start':>10}{'peak':>9}{'after 25 s':>11}{'admitted':>10}")
    for label, on in (("without protections", False), ("motcua", True)):
        r = await hello_flood(on, args.flood)
        print(f"{label:24}{r['start']:>8.1f}MB{r['peak']:>7.1f}MB{r['after_25s']:>9.1f}MB"
              f"{int(r['open']):>10}")


if __name__ == "__main__":
    asyncio.run(main())
