"""Apps benchmark: every terminal app through a whole simulated day.

    python bench/bench_apps.py [--speed 300] [--runs 1] [--baseline-ref REF] [--no-baseline]

One run starts a real server (``motcua serve --ignore-hours`` on a SQLite
file in a temporary folder) and the five apps as their real commands, each
under its own pseudo-terminal of 80×24 that this script reads and throws
away, as a terminal would show it:

* ``motcua kiosk`` (no printer), ``motcua counter --counter 1`` (left at the
  login screen: the simulator staffs every counter, counter 1 included),
  ``motcua rate --counter 1``, ``motcua display --voice off``,
  ``motcua monitor``.

Then ``motcua simulate --url … --speed N`` plays a whole busy day of the
sample center against the server (about 540 tickets; 07:30–17:00 in
``9.5 h / N``). For each app it prints:

* **start**: from the command's start to the first frame that shows the
  server's data (a marker text of that screen, found in the terminal output
  with the escape sequences taken out);
* **RSS** (``VmRSS``) settled before the day, at its middle and after its end
  (and the growth from start to end);
* **CPU per event**: the app's user + system CPU time during the day divided
  by the server's events of the day (its sequence numbers; the rating pad
  hears only its counter's share of them, the kiosk only what it needs).

The server and the simulator are always this tree's; the apps run from this
tree ("after") and, as the baseline, from ``--baseline-ref`` (default: where
this branch left ``main``: "before"), unpacked from git into a temporary
folder laid out as the installed package. ``--runs`` repeats everything and
prints min / median / max. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import re
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_print import build_tree  # noqa: E402

#: name → (arguments after ``motcua``, a text its screen shows once it has the server's data).
APPS: dict[str, tuple[list[str], str]] = {
    "kiosk": (["kiosk"], "Mời công dân chọn"),
    "counter": (["counter", "--counter", "1"], "Đã kết nối"),
    "rating pad": (["rate", "--counter", "1"], "Quầy chưa mở"),
    "display": (["display", "--voice", "off"], "Tổng số người đang chờ"),
    "monitor": (["monitor"], "Đã kết nối"),
}
#: CSI, OSC, DCS… and two-byte escapes: what is left is the text on screen.
ANSI = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)"
                  r"|[PX^_][^\x1b]*\x1b\\|.)")
CLK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def motcua(pkg: Path | None) -> tuple[list[str], dict[str, str]]:
    """The command line that runs ``motcua`` from ``pkg`` (None: this tree)."""
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="80", LINES="24")
    env.pop("TEXTUAL", None)
    if pkg is not None:
        env["PYTHONPATH"] = str(pkg)
    else:
        env.pop("PYTHONPATH", None)
    return [sys.executable, "-c", "import sys; from motcua.cli import main; sys.exit(main())"], env


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


@dataclass
class AppRun:
    name: str
    proc: subprocess.Popen
    fd: int
    marker: str
    began: float
    started: float | None = None  # seconds to the first frame with data
    tail: str = ""
    samples: list[tuple[float, float]] = field(default_factory=list)  # (t, rss)


class Terminals(threading.Thread):
    """Reads every app's terminal, as a terminal would, and spots each marker."""

    def __init__(self, apps: list[AppRun]) -> None:
        super().__init__(daemon=True)
        self.apps = {a.fd: a for a in apps}
        self.stop = False

    def run(self) -> None:
        while not self.stop:
            ready, _, _ = select.select(list(self.apps), [], [], 0.2)
            for fd in ready:
                app = self.apps[fd]
                try:
                    data = os.read(fd, 1 << 16)
                except OSError:
                    continue
                if app.started is None:
                    now = time.monotonic()
                    text = app.tail + ANSI.sub("", data.decode("utf-8", "replace"))
                    if app.marker in text:
                        app.started = now - app.began
                    app.tail = text[-400:]


async def _seq(url: str) -> int:
    from motcua.client import connect_once

    client = await connect_once(url, "admin", "bench-apps", "admin-demo", timeout=10)
    try:
        return client.seq
    finally:
        await client.close()


def server_seq(url: str) -> int:
    return asyncio.run(_seq(url))


def one_run(pkg: Path | None, speed: float, label: str) -> dict[str, dict[str, float]]:
    """One day with every app from ``pkg``: figures per app."""
    tmp = tempfile.TemporaryDirectory(prefix="motcua-bench-apps-")
    port = free_port()
    url = f"ws://127.0.0.1:{port}"
    here, here_env = motcua(None)
    server = subprocess.Popen([*here, "serve", "--ignore-hours", "--db", f"{tmp.name}/m.db",
                               "--port", str(port)], env=here_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    apps: list[AppRun] = []
    terminals: Terminals | None = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                server_seq(url)
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.3)
        cmd, env = motcua(pkg)
        for name, (args, marker) in APPS.items():
            master, slave = os.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
            began = time.monotonic()
            proc = subprocess.Popen([*cmd, *args, "--url", url], env=env, stdin=slave,
                                    stdout=slave, stderr=slave, start_new_session=True,
                                    cwd=tmp.name)
            os.close(slave)
            apps.append(AppRun(name, proc, master, marker, began))
        terminals = Terminals(apps)
        terminals.start()
        deadline = time.monotonic() + 60
        while any(a.started is None for a in apps) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(5)  # settle: first timers, caches
        for a in apps:
            if a.proc.poll() is not None:
                raise SystemExit(f"{label}: {a.name} exited ({a.proc.returncode}): "
                                 f"{a.tail[-300:]}")
        rss0 = {a.name: rss_mb(a.proc.pid) for a in apps}
        cpu0 = {a.name: cpu_s(a.proc.pid) for a in apps}
        seq0 = server_seq(url)
        t0 = time.monotonic()
        sim = subprocess.Popen([*here, "simulate", "--url", url, "--speed", str(speed)],
                               env=here_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
        while sim.poll() is None:
            time.sleep(1)
            t = time.monotonic() - t0
            for a in apps:
                a.samples.append((t, rss_mb(a.proc.pid)))
        out = sim.stdout.read() if sim.stdout else ""
        if sim.returncode:
            raise SystemExit(f"the simulator failed:\n{out[-2000:]}")
        day = time.monotonic() - t0
        cpu1 = {a.name: cpu_s(a.proc.pid) for a in apps}
        seq1 = server_seq(url)
        time.sleep(3)  # the last events drawn
        events = max(1, seq1 - seq0)
        figures: dict[str, dict[str, float]] = {}
        for a in apps:
            mid = min(a.samples, key=lambda s: abs(s[0] - day / 2))[1]
            end = rss_mb(a.proc.pid)
            figures[a.name] = {
                "start": a.started if a.started is not None else float("nan"),
                "rss0": rss0[a.name], "rss_mid": mid, "rss_end": end,
                "rss_max": max(r for _, r in a.samples),
                "cpu_ms": (cpu1[a.name] - cpu0[a.name]) * 1000 / events,
            }
        summary = next((line for line in out.splitlines() if "lệnh/commands" in line), "")
        print(f"  {label}: {events} events in {day:.0f} s; {summary.strip()}", flush=True)
        return figures
    finally:
        if terminals is not None:
            terminals.stop = True
        for a in apps:
            if a.proc.poll() is None:
                a.proc.terminate()
        for a in apps:
            try:
                a.proc.wait(5)
            except subprocess.TimeoutExpired:
                a.proc.kill()
                a.proc.wait()
            os.close(a.fd)
        server.terminate()
        server.wait(10)
        tmp.cleanup()


def spread(values: list[float], fmt: str) -> str:
    """One figure, or min / median / max over runs."""
    if len(values) == 1:
        return format(values[0], fmt)
    return "/".join(format(v, fmt) for v in (min(values), statistics.median(values),
                                             max(values)))


def table(title: str, runs: list[dict[str, dict[str, float]]]) -> None:
    n = len(runs)
    print(f"\n{title}" + (f" — min/median/max of {n} runs" if n > 1 else ""))
    head = (f"  {'app':<11} {'start s':>{9 if n == 1 else 14}}  "
            f"{'RSS start → middle → end (MB)':<{34 if n == 1 else 52}} "
            f"{'growth':>{7 if n == 1 else 17}}  {'CPU ms/event':>{12 if n == 1 else 17}}")
    print(head)
    for name in APPS:
        col = {k: [r[name][k] for r in runs] for k in runs[0][name]}
        growth = [r[name]["rss_end"] - r[name]["rss0"] for r in runs]
        rss = " → ".join(spread(col[k], ".1f") for k in ("rss0", "rss_mid", "rss_end"))
        print(f"  {name:<11} {spread(col['start'], '.2f'):>{9 if n == 1 else 14}}  "
              f"{rss:<{34 if n == 1 else 52}} "
              f"{spread(growth, '+.1f'):>{7 if n == 1 else 17}}  "
              f"{spread(col['cpu_ms'], '.2f'):>{12 if n == 1 else 17}}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--speed", type=float, default=300,
                   help="simulated seconds per real second (300: a day in about 2 minutes)")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--baseline-ref", default=None,
                   help="git ref of the baseline apps (default: git merge-base main HEAD)")
    p.add_argument("--no-baseline", action="store_true", help="measure this tree only")
    args = p.parse_args()
    if args.baseline_ref is None:
        base = subprocess.run(["git", "-C", str(ROOT), "merge-base", "main", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
        ref, commit = (f"main@{base[:7]}", base) if base else ("main", "main")
    else:
        ref = commit = args.baseline_ref
    load = os.getloadavg()[0]
    print(f"Apps through a simulated day at ×{args.speed:g}, 80×24 terminals; "
          f"load average {load:.2f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="motcua-bench-tree-") as tmp:
        pkg = None if args.no_baseline else build_tree(commit, Path(tmp))
        before: list[dict] = []
        after: list[dict] = []
        for i in range(args.runs):
            if pkg is not None:
                before.append(one_run(pkg, args.speed, f"run {i + 1} before ({ref})"))
            after.append(one_run(None, args.speed, f"run {i + 1} after (this tree)"))
    if before:
        table(f"before ({ref})", before)
    table("after (this tree)", after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
