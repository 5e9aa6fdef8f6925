"""``motcua demo``: see the whole system work in one command.

Starts a server on a temporary database with the built-in sample center,
lets simulated citizens and officers work at a watchable pace (counter 1 is
left to you), and opens a split terminal (tmux) with the waiting-room
display, a kiosk you can use, and the counter console of counter 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("motcua.demo")

HUMAN_COUNTER = 1


@dataclass
class Backend:
    """A demo's server and its simulated people, running in this process."""

    server: Any
    sim: asyncio.Task

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}"

    async def stop(self) -> None:
        self.sim.cancel()
        try:
            await self.sim
        except (asyncio.CancelledError, Exception):
            pass
        await self.server.stop()


async def start_backend(db: Path, port: int = 0, speed: float = 30.0, seed: str = "demo",
                        on_action: Callable[..., Any] | None = None) -> Backend:
    """Start the sample-center server on ``db`` and the simulated day against it."""
    from motcua.server.app import MotcuaServer, always_open
    from motcua.server.config import load_config
    from motcua.sim.server_driver import drive_server

    config = load_config(None)
    server = MotcuaServer(always_open(config), db, host="127.0.0.1", port=port)
    await server.start()
    staffed = {c.number for c in config.counters} - {HUMAN_COUNTER}
    url = f"ws://127.0.0.1:{server.port}"

    async def simulate() -> None:
        # Simulated days one after another, so the demo never runs dry.
        round_ = 0
        while True:
            try:
                # Start mid-morning, when the center is busy.
                await drive_server(url, config=config, seed=f"{seed}-{round_}", speed=speed,
                                   counters=staffed, device=f"demo{round_}",
                                   start=time(8, 30), max_gap=0.5, on_action=on_action)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the simulated day stopped; starting another")
                await asyncio.sleep(1)
            round_ += 1

    return Backend(server, asyncio.create_task(simulate(), name="motcua-demo-sim"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _print_action(action: Any, result: dict | None, error: str | None) -> None:
    if action.kind in ("call_next", "call_ticket") and result and result.get("ticket"):
        t = result["ticket"]
        print(f"{datetime.now():%H:%M:%S}  mời số {t['number']} đến quầy {t['counter']}",
              flush=True)


def _backend_only(args: argparse.Namespace) -> int:
    async def run() -> None:
        backend = await start_backend(Path(args.db), args.port, args.speed, args.seed,
                                      on_action=_print_action)
        print(f"motcua demo — máy chủ / server {backend.url}, dữ liệu / database {args.db}")
        print(f"Quầy {HUMAN_COUNTER} là của bạn: cán bộ cb01, PIN 1234. "
              f"Counter {HUMAN_COUNTER} is yours: officer cb01, PIN 1234.")
        print("Ctrl+C ở đây để kết thúc / Ctrl+C here ends the demo.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await backend.stop()

    logging.getLogger("motcua").setLevel(logging.ERROR)
    asyncio.run(run())
    return 0


def _demo(args: argparse.Namespace) -> int:
    if args.backend_only:
        return _backend_only(args)
    tmp = Path(tempfile.mkdtemp(prefix="motcua-demo-"))
    db = tmp / "demo.db"
    port = args.port or _free_port()
    url = f"ws://127.0.0.1:{port}"
    me = [sys.executable, "-m", "motcua.cli"]
    backend = me + ["demo", "--backend-only", "--db", str(db), "--port", str(port),
                    "--speed", str(args.speed), "--seed", args.seed]
    apps = {
        "display": me + ["display", "--url", url, "--voice", args.voice],
        "kiosk": me + ["kiosk", "--url", url],
        "counter": me + ["counter", "--url", url, "--counter", str(HUMAN_COUNTER)],
    }
    tmux = shutil.which("tmux")
    if tmux and sys.stdin.isatty() and not args.no_tmux:
        session = f"motcua-demo-{os.getpid()}"
        q = shlex.join
        wait = f"{q(me)} demo --wait-for {port};"
        end = f"; tmux kill-session -t {session}"
        subprocess.run([tmux, "new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                        q(backend) + end], check=True)
        subprocess.run([tmux, "split-window", "-h", "-l", "45%", "-t", f"{session}:0.0",
                        f"{wait} {q(apps['kiosk'])}"], check=True)
        subprocess.run([tmux, "split-window", "-v", "-b", "-l", "70%", "-t", f"{session}:0.0",
                        f"{wait} {q(apps['display'])}"], check=True)
        subprocess.run([tmux, "split-window", "-v", "-l", "55%", "-t", f"{session}:0.2",
                        f"{wait} {q(apps['counter'])}"], check=True)
        subprocess.run([tmux, "set-option", "-t", session, "mouse", "on"], check=False)
        print(f"tmux session {session}: Ctrl+B D tạm rời / detaches; "
              f"`tmux kill-session -t {session}` kết thúc / ends it.")
        os.execvp(tmux, [tmux, "attach-session", "-t", session])
    print("Mở các lệnh này ở ba cửa sổ khác / open these in three other terminals"
          + ("" if tmux else " (install tmux to get them split in this one)") + ":")
    short = ["motcua"] if shutil.which("motcua") else me
    for cmd in apps.values():
        print("   ", shlex.join(short + cmd[len(me):]))
    return _backend_only(argparse.Namespace(db=str(db), port=port, speed=args.speed,
                                            seed=args.seed))


def _wait_for(port: int, timeout: float = 30.0) -> int:
    """Block until the demo server listens (the app panes start before it)."""
    import time
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return 0
        except OSError:
            time.sleep(0.2)
    print(f"the demo server did not start on port {port}", file=sys.stderr)
    return 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``motcua demo``."""
    p = sub.add_parser("demo", help="chạy thử toàn bộ hệ thống / try the whole system",
                       description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--speed", type=float, default=30.0,
                   help="simulated seconds per real second (default 30)")
    p.add_argument("--seed", default="demo", help="seed of the simulated days")
    p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    p.add_argument("--voice", choices=("off", "vi", "en"), default="off",
                   help="announce calls on the display (default off)")
    p.add_argument("--no-tmux", action="store_true",
                   help="don't split the terminal; print the app commands instead")
    p.add_argument("--backend-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--wait-for", type=int, help=argparse.SUPPRESS)
    p.set_defaults(func=lambda a: _wait_for(a.wait_for) if a.wait_for else _demo(a))
