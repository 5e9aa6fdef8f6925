"""Printing benchmark: ticket bytes and wire time, and key press → printer bytes.

    python bench/bench_print.py [--runs 15] [--baseline-ref REF] [--no-baseline]

Two parts, each measured on this tree ("after") and, as the baseline, on the
code of ``--baseline-ref`` (default: where this branch left ``main``, so that
the two differ by this branch's work only: "before"), which is unpacked from
git into a temporary folder laid out as the installed package and run in a
subprocess with the very same measuring code:

1. Bytes per ticket and the time they take on a serial line (8N1: 10 bits a
   byte) at 9,600 and 115,200 baud, per printable width (58 mm = 384 dots,
   80 mm = 576 dots, 80 mm on a 512-dot printer) and QR mode, for the ticket
   the kiosk prints for the sample center's first department and procedure
   (Vietnamese and English).  Beside it, the time to render one ticket
   (median; each run a new number, as at a kiosk).

2. Key press → printer bytes through the real kiosk app driven by Pilot: a
   real server on 127.0.0.1 (SQLite in a temporary folder), the fake TCP
   printer of tests/fake_printer.py, and the kiosk pressing the last key of
   "department 1, procedure 1, no priority".  For each run: the first byte at
   the printer (its DLE EOT status query), the first byte of the ticket itself
   (ESC @) and its last byte (the cut); min / median / max over ``--runs``.

Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from datetime import datetime
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
BAUDS = (9600, 115200)
WIDTHS = ((58, None), (80, None), (80, 512))   # (paper mm, printable dots or None)
HCM = ZoneInfo("Asia/Ho_Chi_Minh")


# --------------------------------------------------------------------------- the trees

def build_tree(ref: str, into: Path) -> Path:
    """Unpack ``ref`` of this repository into ``into``, laid out as installed (motcua.*)."""
    raw = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref],
                         check=True, capture_output=True).stdout
    src = into / "src"
    with tarfile.open(fileobj=BytesIO(raw)) as tar:
        tar.extractall(src, filter="data")
    mapping = tomllib.loads((src / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"]
    pkg = into / "pkg"
    for name, folder in sorted(mapping.items(), key=lambda kv: kv[0].count(".")):
        target = pkg.joinpath(*name.split("."))
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(src / folder, target_is_directory=True)
    return pkg


def run_worker(pkg: Path | None, args: list[str]) -> dict:
    """Run this script's worker part on the code in ``pkg`` (None: this tree)."""
    env = dict(os.environ)
    if pkg is not None:
        env["PYTHONPATH"] = str(pkg)
        env["BENCH_BASELINE"] = "1"
    out = subprocess.run([sys.executable, __file__, "--worker", *args], env=env,
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the {'baseline ' if pkg else ''}worker {args[0]} failed:\n"
                         f"{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- worker: bytes

def _sample(language: str, n: int = 23):
    """(center, ticket dict, ahead, wait) for the sample center's first department."""
    from motcua.server.config import load_config

    center = load_config(None).public()
    dept = center["departments"][0]
    ticket = {"id": 1000 + n, "day": "2025-11-21", "number": f"{dept['letter']}{n:03d}",
              "department": dept["code"], "procedure": dept["procedures"][0]["code"],
              "priority": None,
              "issued_at": datetime(2025, 11, 21, 8, 15, tzinfo=HCM).timestamp()}
    return center, ticket, n % 100, 10 + n


def _new_api() -> bool:
    import motcua.printer

    return hasattr(motcua.printer, "PrinterOptions")


def ticket_of(language: str, n: int, paper: int, dots: int | None, qr: str):
    """A function that renders the kiosk's ticket number ``n`` and returns its bytes."""
    from motcua.i18n import Catalogue
    from motcua.kiosk.model import IssuedTicket, counters_for, qr_payload
    from motcua.kiosk.strings import EN, VI

    center, tk, ahead, wait = _sample(language, n)
    t = Catalogue(VI, EN, language)
    issued = IssuedTicket(tk, ahead, wait, False)
    if _new_api():
        from motcua.kiosk.slip import build_slip
        from motcua.printer import PrinterOptions, ticket_bytes

        opts = PrinterOptions(paper_mm=paper, dots=dots, qr=qr)
        return lambda: ticket_bytes(build_slip(center, issued, t), opts)
    if dots is not None:
        return None  # the old code had no printable-width setting
    from escpos.printer import Dummy
    from motcua.printer import TicketSlip, render

    # What the old kiosk's make_slip built.
    dept = next(d for d in center["departments"] if d["code"] == tk["department"])
    proc = next(p for p in dept["procedures"] if p["code"] == tk["procedure"])

    def old():
        slip = TicketSlip(
            center=t.pick(center, "name", "name_en"), number=issued.number,
            department=t.pick(dept), procedure=t.pick(proc), ahead=ahead, wait_minutes=wait,
            issued_at=issued.issued_local(center),
            counters=[t("counter_name", n=c) for c in counters_for(center, dept["code"])],
            qr=qr_payload(tk), footer=t("slip_footer"), priority=None, language=language)
        p = Dummy()
        render(slip, p, paper, native_qr=qr == "native")
        return p.output

    return old


def worker_bytes(repeat: int) -> dict:
    rows = []
    for language in ("vi", "en"):
        for paper, dots in WIDTHS:
            for qr in ("native", "raster"):
                make = ticket_of(language, 23, paper, dots, qr)
                if make is None:
                    rows.append({"lang": language, "paper": paper, "dots": dots, "qr": qr,
                                 "bytes": None, "ms": None})
                    continue
                size = len(make())
                times = []
                for n in range(repeat):
                    fn = ticket_of(language, 100 + n, paper, dots, qr)
                    t0 = time.perf_counter()
                    fn()
                    times.append((time.perf_counter() - t0) * 1000)
                rows.append({"lang": language, "paper": paper, "dots": dots, "qr": qr,
                             "bytes": size, "ms": statistics.median(times)})
    return {"rows": rows}


# --------------------------------------------------------------------------- worker: kiosk

def _fake_printer_class():
    spec = importlib.util.spec_from_file_location("bench_fake_printer",
                                                  ROOT / "tests" / "fake_printer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FakePrinter


async def _kiosk_runs(runs: int) -> dict:
    from motcua.kiosk.app import DepartmentScreen, HomeScreen, KioskApp, PriorityScreen
    from motcua.kiosk.app import TicketScreen
    from motcua.kiosk.model import IssuedTicket
    from motcua.server.app import MotcuaServer, always_open
    from motcua.server.config import load_config

    FakePrinter = _fake_printer_class()
    config = always_open(load_config(None))
    first, start, whole, render_ms = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp, FakePrinter("ok") as printer:
        server = MotcuaServer(config, Path(tmp) / "bench.db", host="127.0.0.1", port=0)
        await server.start()
        try:
            app = KioskApp(f"ws://127.0.0.1:{server.port}", "kiosk-demo", "bench-kiosk",
                           printer.spec, paper_mm=80, home_after=600, idle_after=600,
                           probe_every=3600)
            async with app.run_test(size=(120, 40)) as pilot:
                async def until(cond, timeout=30.0):
                    end = time.monotonic() + timeout
                    while not cond():
                        if time.monotonic() > end:
                            raise TimeoutError(f"kiosk not ready: {app.screen!r}")
                        await pilot.pause(0.005)

                await until(lambda: app.online and isinstance(app.screen, HomeScreen)
                            and app.focused is not None and app.focused.has_class("dept"))
                await pilot.pause(0.5)  # the start-up probe and warm-up are done
                for _ in range(runs + 1):  # the first run warms up: not counted
                    await pilot.press("1")
                    await until(lambda: isinstance(app.screen, DepartmentScreen))
                    await pilot.press("1")
                    await until(lambda: isinstance(app.screen, PriorityScreen))
                    await pilot.pause(0.3)
                    conn = printer.connections
                    t0 = time.perf_counter()
                    await pilot.press("1")  # "no priority": the number is issued now
                    await until(lambda: printer.connections > conn
                                and printer.connection_bytes(conn).endswith(b"\x1dV\x00"))
                    data = printer.connection_bytes(conn)
                    at = data.index(b"\x1b@")
                    first.append((printer.arrival_time(conn, 0) - t0) * 1000)
                    start.append((printer.arrival_time(conn, at) - t0) * 1000)
                    whole.append((printer.arrival_time(conn, len(data) - 1) - t0) * 1000)
                    await until(lambda: isinstance(app.screen, TicketScreen))
                    screen = app.screen
                    # Render alone: the next ticket (new number, people ahead,
                    # wait and time: the lines a kiosk draws for each ticket).
                    k = len(render_ms) + 1
                    tk = dict(screen.issued.ticket, number=f"Z{k:03d}",
                              issued_at=screen.issued.ticket["issued_at"] + 60 * k)
                    slip = app.make_slip(IssuedTicket(tk, 500 + k, 500 + k, False))
                    t1 = time.perf_counter()
                    if _new_api():
                        from motcua.printer import ticket_bytes

                        ticket_bytes(slip, app.print_options())
                    else:
                        from escpos.printer import Dummy
                        from motcua.printer import render

                        render(slip, Dummy(), 80)
                    render_ms.append((time.perf_counter() - t1) * 1000)
                    await pilot.press("enter")  # "Done": back to the start
                    await until(lambda: isinstance(app.screen, HomeScreen)
                                and app.focused is not None and app.focused.has_class("dept"))
        finally:
            await server.stop()

    def stats(xs):
        xs = xs[1:]
        return {"min": min(xs), "median": statistics.median(xs), "max": max(xs)}

    return {"first": stats(first), "start": stats(start), "whole": stats(whole),
            "render": stats(render_ms), "runs": runs}


def worker(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("part", choices=("bytes", "kiosk"))
    p.add_argument("--runs", type=int, default=15)
    args = p.parse_args(argv)
    import logging

    logging.disable(logging.CRITICAL)  # the kiosk logs to the terminal otherwise
    if args.part == "bytes":
        result = worker_bytes(max(5, args.runs))
    else:
        result = asyncio.run(_kiosk_runs(args.runs))
    print(json.dumps(result))


# --------------------------------------------------------------------------- report

def _width_name(paper: int, dots: int | None) -> str:
    return f"{paper} mm, {dots or {58: 384, 80: 576}[paper]} dots"


def report_bytes(before: dict | None, after: dict) -> None:
    print("\nTicket size and wire time (8N1), sample center, department 1, procedure 1")
    head = (f"{'lang':4} {'width':18} {'qr':6} | {'bytes':>7} {'9600 s':>7} {'115k s':>7} "
            f"{'render ms':>9} | {'bytes':>7} {'9600 s':>7} {'115k s':>7} {'render ms':>9}")
    print(f"{'':31}| {'before (' + (ARGS.baseline_ref if before else 'not run') + ')':^35}| "
          f"{'after':^35}")
    print(head)
    print("-" * len(head))
    old = {(r["lang"], r["paper"], r["dots"], r["qr"]): r for r in (before or {"rows": []})["rows"]}

    def cells(r):
        if not r or r["bytes"] is None:
            return f"{'n/a':>7} {'':>7} {'':>7} {'':>9}"
        secs = [r["bytes"] * 10 / b for b in BAUDS]
        return (f"{r['bytes']:>7,} {secs[0]:>7.1f} {secs[1]:>7.2f} {r['ms']:>9.1f}")

    for r in after["rows"]:
        key = (r["lang"], r["paper"], r["dots"], r["qr"])
        print(f"{r['lang']:4} {_width_name(r['paper'], r['dots']):18} {r['qr']:6} | "
              f"{cells(old.get(key))} | {cells(r)}")


def report_kiosk(before: dict | None, after: dict) -> None:
    print(f"\nKey press → printer, through the kiosk app (Pilot), ms over {after['runs']} runs "
          "(min / median / max)")
    rows = (("first byte at the printer (DLE EOT)", "first"),
            ("first byte of the ticket (ESC @)", "start"),
            ("whole ticket received (the cut)", "whole"),
            ("render alone (the next ticket, in process)", "render"))

    def fmt(s):
        return f"{s['min']:6.1f} / {s['median']:6.1f} / {s['max']:6.1f}"

    print(f"{'':42} {'before (' + ARGS.baseline_ref + ')' if before else '':>26}   {'after':>22}")
    for label, key in rows:
        print(f"{label:42} {fmt(before[key]) if before else '':>26}   {fmt(after[key]):>22}")


ARGS: argparse.Namespace


def main() -> int:
    global ARGS
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        if not os.environ.get("BENCH_BASELINE"):
            sys.path.insert(0, str(ROOT))
        worker(sys.argv[2:])
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=15, help="kiosk runs (default 15)")
    p.add_argument("--baseline-ref", default=None,
                   help="git ref of the baseline (default: git merge-base main HEAD)")
    p.add_argument("--no-baseline", action="store_true", help="measure this tree only")
    ARGS = p.parse_args()
    if ARGS.baseline_ref is None:
        base = subprocess.run(["git", "-C", str(ROOT), "merge-base", "main", "HEAD"],
                              check=True, capture_output=True, text=True).stdout.strip()
        ARGS.baseline_ref = f"main@{base[:7]}" if base else "main"
        ARGS.baseline_commit = base or "main"
    else:
        ARGS.baseline_commit = ARGS.baseline_ref
    with tempfile.TemporaryDirectory() as tmp:
        pkg = None if ARGS.no_baseline else build_tree(ARGS.baseline_commit, Path(tmp))
        runs = ["--runs", str(ARGS.runs)]
        before_bytes = run_worker(pkg, ["bytes", *runs]) if pkg else None
        after_bytes = run_worker(None, ["bytes", *runs])
        report_bytes(before_bytes, after_bytes)
        before_kiosk = run_worker(pkg, ["kiosk", *runs]) if pkg else None
        after_kiosk = run_worker(None, ["kiosk", *runs])
        report_kiosk(before_kiosk, after_kiosk)
    return 0


if __name__ == "__main__":
    sys.exit(main())
