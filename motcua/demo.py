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


def _center_tz() -> Any:
    from zoneinfo import ZoneInfo

    from motcua.server.config import load_config

    return ZoneInfo(load_config(None).timezone)


def _printer(tz: Any) -> Callable[..., None]:
    def print_action(action: Any, result: dict | None, error: str | None) -> None:
        # The center's clock, not the machine's (a server is often on UTC).
        if action.kind in ("call_next", "call_ticket") and result and result.get("ticket"):
            t = result["ticket"]
            print(f"{datetime.now(tz):%H:%M:%S}  mời số {t['number']} đến quầy {t['counter']}",
                  flush=True)
    return print_action


def _backend_only(args: argparse.Namespace) -> int:
    tz = _center_tz()

    async def run() -> None:
        backend = await start_backend(Path(args.db), args.port, args.speed, args.seed,
                                      on_action=_printer(tz))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        print(f"motcua demo — máy chủ / server {backend.url}, dữ liệu / database {args.db}")
        print(f"Quầy {HUMAN_COUNTER} là của bạn: cán bộ cb01, PIN 1234. "
              f"Counter {HUMAN_COUNTER} is yours: officer cb01, PIN 1234.")
        print(f"Giờ / times: {tz.key}. Ctrl+C ở đây để kết thúc / Ctrl+C here ends the demo.",
              flush=True)
        await stop.wait()
        await backend.stop()

    logging.getLogger("motcua").setLevel(logging.ERROR)
    try:
        asyncio.run(run())
    finally:
        if args.cleanup:
            # The demo's temporary folder (its database) goes with it.
            shutil.rmtree(args.cleanup, ignore_errors=True)
    return 0


#: An app is fully usable from 80×24 up; the split layout gives each app at
#: least that (two panes side by side and one above the other, each with its
#: title line), so it needs a window of this size. Smaller terminals get one
#: tmux window per app instead (Ctrl+B n to switch, or click the status line).
SPLIT_MIN = (161, 50)

Step = tuple[str | None, list[str]]


def tmux_plan(session: str, size: tuple[int, int], server: str,
              apps: dict[str, str], titles: dict[str, str]) -> tuple[str, list[Step]]:
    """How to lay the demo out in a new detached tmux ``session`` whose window
    is ``size``: four titled panes when each app gets at least 80×24, else one
    window per app. Returns the layout's name ("split" or "windows") and the
    steps: (the pane a step creates, or None; its tmux arguments). Panes are
    named in later steps as ``{display}`` and so on, so that a user's
    base-index or pane-base-index settings don't matter."""
    width, height = size
    new = ["-P", "-F", "#{pane_id}"]
    steps: list[Step] = [("server", ["new-session", "-d", "-s", session, "-x", str(width),
                                     "-y", str(height), "-n", "motcua", *new, server])]
    if width >= SPLIT_MIN[0] and height >= SPLIT_MIN[1]:
        layout = "split"
        # Left half: the display over the counter console; right half: the
        # kiosk over the server's log (a few lines).
        steps += [
            ("display", ["split-window", "-h", "-b", "-l", "50%", "-t", "{server}", *new,
                         apps["display"]]),
            ("counter", ["split-window", "-v", "-l", "50%", "-t", "{display}", *new,
                         apps["counter"]]),
            ("kiosk", ["split-window", "-v", "-b", "-l", str(height - 8), "-t", "{server}",
                       *new, apps["kiosk"]]),
        ]
        steps += [(None, ["select-pane", "-t", f"{{{app}}}", "-T", titles[app]])
                  for app in ("server", "display", "counter", "kiosk")]
        steps += [(None, ["set-option", "-w", "-t", "{server}", "pane-border-status", "top"]),
                  (None, ["set-option", "-w", "-t", "{server}", "pane-border-format",
                          " #{pane_title} "]),
                  (None, ["select-pane", "-t", "{kiosk}"])]
    else:
        layout = "windows"
        steps.append((None, ["rename-window", "-t", "{server}", titles["server"]]))
        for app in ("display", "kiosk", "counter"):
            steps.append((app, ["new-window", "-t", session, "-n", titles[app], *new,
                                apps[app]]))
        steps.append((None, ["select-window", "-t", "{kiosk}"]))
    steps += [(None, ["set-option", "-t", session, "mouse", "on"]),
              # When the demo ends, a client that came from another session
              # goes back to it instead of leaving tmux.
              (None, ["set-option", "-t", session, "detach-on-destroy", "off"]),
              (None, ["set-option", "-t", session, "status-left", f"[{session}] "]),
              (None, ["set-option", "-t", session, "status-left-length", "40"])]
    return layout, steps


def run_plan(tmux: str, steps: list[Step]) -> dict[str, str]:
    """Run a :func:`tmux_plan`; returns the pane ids by name."""
    panes: dict[str, str] = {}
    for creates, args in steps:
        args = [a.format(**panes) if a.startswith("{") and a.endswith("}") and a[1:-1] in panes
                else a for a in args]
        proc = subprocess.run([tmux, *args], capture_output=True, text=True,
                              check=creates is not None)
        if creates is not None:
            panes[creates] = proc.stdout.strip()
    return panes


def _terminal_size(tmux: str) -> tuple[int, int]:
    if os.environ.get("TMUX"):
        proc = subprocess.run([tmux, "display-message", "-p", "#{client_width} #{client_height}"],
                              capture_output=True, text=True, check=False)
        try:
            width, height = (int(v) for v in proc.stdout.split())
            return width, max(1, height - 1)  # the status line
        except ValueError:
            pass
    size = shutil.get_terminal_size((80, 24))
    return size.columns, max(1, size.lines - 1)


def _demo(args: argparse.Namespace) -> int:
    if args.backend_only:
        return _backend_only(args)
    tmp = Path(tempfile.mkdtemp(prefix="motcua-demo-"))
    db = tmp / "demo.db"
    port = args.port or _free_port()
    url = f"ws://127.0.0.1:{port}"
    me = [sys.executable, "-m", "motcua.cli"]
    backend = me + ["demo", "--backend-only", "--db", str(db), "--port", str(port),
                    "--speed", str(args.speed), "--seed", args.seed, "--cleanup", str(tmp)]
    apps = {
        "display": me + ["display", "--url", url, "--voice", args.voice],
        "kiosk": me + ["kiosk", "--url", url],
        "counter": me + ["counter", "--url", url, "--counter", str(HUMAN_COUNTER)],
    }
    tmux = shutil.which("tmux")
    inside = bool(os.environ.get("TMUX"))
    if tmux and (sys.stdin.isatty() or inside) and not args.no_tmux:
        session = f"motcua-demo-{os.getpid()}"
        q = shlex.join
        wait = f"{q(me)} demo --wait-for {port};"
        # The server's pane ends the whole demo: its session goes with it.
        server = q(backend) + f"; {q([tmux, 'kill-session', '-t', session])}"
        titles = {"server": "máy chủ / server", "display": "màn hình / display",
                  "kiosk": "kiosk", "counter": f"quầy {HUMAN_COUNTER} / counter (cb01, 1234)"}
        size = _terminal_size(tmux)
        layout, steps = tmux_plan(session, size, server,
                                  {k: f"{wait} {q(v)}" for k, v in apps.items()}, titles)
        run_plan(tmux, steps)
        how = (f"{size[0]}×{size[1]}: " + (
            "một cửa sổ, bốn khung / one window, four panes" if layout == "split" else
            "mỗi ứng dụng một cửa sổ, Ctrl+B n chuyển / one window per app, Ctrl+B n to switch"
            f" (≥{SPLIT_MIN[0]}×{SPLIT_MIN[1]} splits them)"))
        print(f"tmux session {session} — {how}")
        print("Ctrl+C ở khung máy chủ để kết thúc / Ctrl+C in the server's pane ends it.")
        if inside:
            # Already in tmux: switch this client to the demo (no nesting);
            # it comes back here when the demo ends.
            os.execvp(tmux, [tmux, "switch-client", "-t", session])
        os.execvp(tmux, [tmux, "attach-session", "-t", session])
    print("Mở các lệnh này ở ba cửa sổ khác / open these in three other terminals"
          + ("" if tmux else " (install tmux to get them split in this one)") + ":")
    short = ["motcua"] if shutil.which("motcua") else me
    for cmd in apps.values():
        print("   ", shlex.join(short + cmd[len(me):]))
    return _backend_only(argparse.Namespace(db=str(db), port=port, speed=args.speed,
                                            seed=args.seed, cleanup=str(tmp)))


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
    p.add_argument("--cleanup", help=argparse.SUPPRESS)
    p.add_argument("--wait-for", type=int, help=argparse.SUPPRESS)
    p.set_defaults(func=lambda a: _wait_for(a.wait_for) if a.wait_for else _demo(a))
