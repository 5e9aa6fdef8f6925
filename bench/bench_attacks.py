"""Two attacks from the integrity review, measured on a real server on
127.0.0.1 (in this process, with a clock the script moves):

1. PIN guessing: one script tries PINs for one officer as fast as it can for
   ``--seconds``; how many PINs were really checked, how many refused as
   locked, and how long the 10,000 PINs of a 4-digit code would take at
   that pace.
2. A stale request_id: a kiosk retries yesterday's ``request_id`` every 50 ms
   while 10 other kiosks issue tickets; the share of their commands that
   failed and of ``/healthz`` probes that were not 200.

    python bench/bench_attacks.py [--seconds 30]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from motcua.client import ServerError, connect_once  # noqa: E402
from motcua.server.app import MotcuaServer, always_open  # noqa: E402
from motcua.server.config import load_config  # noqa: E402

TOKENS = {"kiosk": "kiosk-demo", "counter": "counter-demo"}


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset


async def pin_guessing(seconds: float) -> None:
    clock = Clock()
    with tempfile.TemporaryDirectory() as d:
        server = MotcuaServer(always_open(load_config(None)), Path(d) / "p.db", port=0,
                              clock=clock)
        await server.start()
        url = f"ws://127.0.0.1:{server.port}"
        try:
            checked = locked = 0
            n = 0
            end = time.perf_counter() + seconds
            device = 0
            desk = await connect_once(url, "counter", "guess-0", TOKENS["counter"], 2)
            while time.perf_counter() < end:
                n += 1
                try:
                    await desk.request("login", officer="cb02", pin=f"{n:04d}")
                except ServerError as e:
                    if e.code == "login_locked":
                        locked += 1
                        # Try to dodge it: a new connection under a new device name.
                        await desk.close()
                        device += 1
                        desk = await connect_once(url, "counter", f"guess-{device}",
                                                  TOKENS["counter"], 2)
                    else:
                        checked += 1
            await desk.close()
            elapsed = seconds
            print(f"PIN guessing for {elapsed:.0f} s from one machine "
                  f"(renaming the device after each lock):")
            print(f"  attempts {n}, PINs actually checked {checked} "
                  f"({checked / elapsed:.2f}/s), refused as locked {locked}")
            # The back-off: simulate an hour of the same attacker with the clock.
            checked_hour = 0
            t_end = clock.offset + timedelta(hours=24)
            desk = await connect_once(url, "counter", "guess-x", TOKENS["counter"], 2)
            while clock.offset < t_end:
                try:
                    await desk.request("login", officer="cb02", pin="9999")
                except ServerError as e:
                    if e.code == "login_locked":
                        clock.offset += timedelta(seconds=int(e.params.get("minutes", 1)) * 60)
                    else:
                        checked_hour += 1
            await desk.close()
            print(f"  over 24 h (simulated clock, waiting out every lock): {checked_hour} PINs "
                  f"checked → a 4-digit PIN (10,000) takes ~{10000 / max(1, checked_hour):.0f} days "
                  f"for the whole space, ~{5000 / max(1, checked_hour):.0f} days on average")
            print("  before the lock-out (review figure): 44 PINs/s accepted, the whole space "
                  "in ~4 minutes")
        finally:
            await server.stop()


def healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


async def stale_request_id(seconds: float) -> None:
    clock = Clock()
    with tempfile.TemporaryDirectory() as d:
        server = MotcuaServer(always_open(load_config(None)), Path(d) / "s.db", port=0,
                              clock=clock)
        await server.start()
        url = f"ws://127.0.0.1:{server.port}"
        try:
            stale = await connect_once(url, "kiosk", "kiosk-stale", TOKENS["kiosk"])
            await stale.request("issue", department="TP", request_id="my-first-ticket")
            clock.offset += timedelta(days=1)
            kiosks = [await connect_once(url, "kiosk", f"k{i}", TOKENS["kiosk"])
                      for i in range(10)]
            ok = failed = probes = bad = 0
            stop = time.perf_counter() + seconds

            async def retrier():
                while time.perf_counter() < stop:
                    try:
                        await stale.request("issue", department="TP",
                                            request_id="my-first-ticket")
                    except ServerError:
                        pass
                    await asyncio.sleep(0.05)

            depts = [dpt.code for dpt in server.config.departments if dpt.code != "TP"]
            refused: dict[str, int] = {}

            async def worker(k, i):
                nonlocal ok, failed
                n = 0
                while time.perf_counter() < stop:
                    n += 1
                    try:
                        await k.request("issue", department=depts[n % len(depts)],
                                        request_id=f"w{i}-{n}")
                        ok += 1
                    except ServerError as e:
                        if e.code in ("storage", "internal"):
                            failed += 1
                        else:  # a department's numbers for the day ran out: not a fault
                            refused[e.code] = refused.get(e.code, 0) + 1

            async def prober():
                nonlocal probes, bad
                while time.perf_counter() < stop:
                    probes += 1
                    bad += await asyncio.to_thread(healthz, server.port) != 200
                    await asyncio.sleep(0.1)
            await asyncio.gather(retrier(), prober(),
                                 *(worker(k, i) for i, k in enumerate(kiosks)))
            print(f"\nA kiosk retrying yesterday's request_id every 50 ms, 10 kiosks issuing, "
                  f"{seconds:.0f} s:")
            print(f"  other kiosks' tickets: {ok} ok, {failed} failed "
                  f"({100 * failed / max(1, ok + failed):.1f} %); /healthz not 200: "
                  f"{bad} of {probes} probes; refused as business rules: {refused or 'none'}")
            print("  before the fix (review figure): 23 % of legitimate commands failed, "
                  "/healthz 503 most of the time")
            for k in [stale, *kiosks]:
                await k.close()
        finally:
            await server.stop()


async def main() -> None:
    import logging
    logging.disable(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    await pin_guessing(args.seconds)
    await stale_request_id(args.seconds)


if __name__ == "__main__":
    asyncio.run(main())
