"""What the administration costs: a live change in the core (the next
version parsed and checked like a center file) against an ordinary queue
command as the baseline; a manager's password (Argon2id) against an
officer's PIN (PBKDF2); a device's hello check against the demo token's.

    .venv/bin/python bench/bench_admin.py
"""

from __future__ import annotations

import hmac
import statistics
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from motcua.server.accounts import hash_password, verify_password
from motcua.server.config import hash_pin, load_config, verify_pin
from motcua.server.core import QueueCore
from motcua.server.devices import Devices
from motcua.server.live_config import always_open


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def show(label: str, samples: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"  {label:52} median {statistics.median(ms):8.3f} ms   p99 {p99:8.3f} ms   (n={len(ms)})")


def main() -> None:
    now = datetime(2026, 3, 3, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    core = QueueCore(always_open(load_config(None)), lambda: now)
    i = iter(range(10**6))
    print("core commands (the sample center: 14 departments, 59 procedures, 14 counters)")
    show("baseline: issue a ticket", timed(
        lambda: core.issue("KHDT", request_id=f"b{next(i)}"), 300))
    flip = iter(range(10**6))

    def change() -> None:
        n = next(flip)
        core.configure({"kind": "set_notice", "notice": f"Thông báo {n}"}, by="ql01")
    show("live change: set_notice (next version parsed + checked)", timed(change, 100))

    def cap() -> None:
        core.configure({"kind": "set_daily_cap", "department": "TP", "cap": 300 + next(flip) % 500},
                       by="ql01")
    show("live change: set_daily_cap", timed(cap, 100))

    print("secrets")
    pin_hash = hash_pin("1234")
    show("baseline: officer PIN check (PBKDF2-SHA256, 100k)", timed(
        lambda: verify_pin("1234", pin_hash), 20))
    pw_hash = hash_password("mat-khau-quan-ly")
    show("manager password check (Argon2id, 64 MiB, t=3)", timed(
        lambda: verify_password("mat-khau-quan-ly", pw_hash), 20))
    devices = Devices()
    _, secret = devices.enrol("kiosk", "sanh-1", 0.0, None)
    for k in range(500):
        devices.enrol("display", f"tv-{k}", 0.0, None)
    show("baseline: demo token compare", timed(
        lambda: hmac.compare_digest(b"kiosk-demo", b"kiosk-demo"), 10000))
    show("enrolled device hello check (501 devices)", timed(
        lambda: devices.authenticate(secret), 10000))


if __name__ == "__main__":
    main()
