"""Drive a real motcua server with a simulated day, over websockets.

The same :class:`~sim.model.DaySimulation` as on the pure core, but each
command goes through the shared client to a running server: a kiosk issues
tickets, one connection per counter logs its officer in and calls, serves,
transfers; an admin connection cancels, requeues and rates. Simulated time
runs ``speed`` times faster than the wall clock (the server keeps its own
real clock, so every duration it records is compressed by ``speed``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time as _time
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Callable

from motcua.client import MotcuaClient, NotConnected, ServerError, connect_once
from motcua.reports.center import config_from_public
from motcua.server.config import CenterConfig

from .model import Action, DaySimulation
from .profile import Profile
from .run import day_rng

log = logging.getLogger("motcua.sim")

DEFAULT_TOKENS = {"kiosk": "kiosk-demo", "counter": "counter-demo", "admin": "admin-demo"}

#: Commands with a request id: safe to send again after a dropped connection.
_IDEMPOTENT = {"issue", "rate"}


def with_day_hours(config: CenterConfig) -> CenterConfig:
    """A server started with ``--ignore-hours`` reports 00:00–23:59; simulate
    an ordinary office day (07:30–17:00, tickets until 16:30) instead."""
    if config.opens == time(0, 0) and config.last_ticket >= time(23, 59):
        return dataclasses.replace(config, opens=time(7, 30), closes=time(17, 0),
                                   last_ticket=time(16, 30))
    return config


@dataclass
class ServerRun:
    """What a run against a server did."""

    simulation: DaySimulation
    speed: float
    commands: int = 0
    elapsed: float = 0.0
    #: How far behind schedule the driver fell at worst (seconds).
    max_lag: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)


async def drive_server(url: str, tokens: dict[str, str] | None = None, *,
                       config: CenterConfig | None = None, day: date | None = None,
                       seed: int | str = 0, speed: float = 60.0, load: float = 0.7,
                       profile: Profile | None = None, counters: set[int] | None = None,
                       pin: str = "1234", start: time | None = None,
                       until: time | None = None, device: str = "sim",
                       max_gap: float | None = None,
                       on_action: Callable[[Action, dict | None, str | None], Any] | None = None,
                       ) -> ServerRun:
    """Replay a simulated day against the server at ``url``.

    ``counters`` restricts which counters the simulation staffs (leave the
    others to people, e.g. in a demo); ``start``/``until`` cut the day to a
    window of simulated time; ``speed`` is simulated seconds per real second
    (0 = as fast as the server answers). Officers log in with ``pin``.
    ``max_gap`` caps any wait between two commands at that many real seconds
    (the schedule shifts), so a demo has no long idle stretches.
    """
    tokens = {**DEFAULT_TOKENS, **(tokens or {})}
    clients: list[MotcuaClient] = []

    async def connect(role: str, name: str, counter: int | None = None) -> MotcuaClient:
        c = await connect_once(url, role, name, tokens[role], counter)
        clients.append(c)
        return c

    try:
        admin = await connect("admin", f"{device}-admin")
        cfg = config or with_day_hours(config_from_public(admin.state.center))
        day = day or datetime.now(cfg.tz).date()
        sim = DaySimulation(cfg, profile or Profile.for_config(cfg, load), day,
                            day_rng(seed, day), counters=counters, start=start, expire=False,
                            prefix=f"{device}-{seed}")
        kiosk = await connect("kiosk", f"{device}-kiosk")
        desks = {n: await connect("counter", f"{device}-counter-{n}", n) for n in sim.counters}
        run = ServerRun(sim, speed)
        stop_at = None if until is None else until.hour * 3600 + until.minute * 60
        loop = asyncio.get_running_loop()
        began = _time.perf_counter()
        t_real0: float | None = None
        t_sim0 = 0.0
        while (action := sim.next_action()) is not None:
            if stop_at is not None and action.at > stop_at:
                break
            if t_real0 is None:
                t_real0, t_sim0 = loop.time(), action.at
            if speed > 0:
                due = t_real0 + (action.at - t_sim0) / speed
                delay = due - loop.time()
                if max_gap is not None and delay > max_gap:
                    t_real0 -= delay - max_gap
                    delay = max_gap
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    run.max_lag = max(run.max_lag, -delay)
            result, error = await _carry_out(action, kiosk, admin, desks, pin)
            run.commands += 1
            if error in ("not_connected", "timeout"):
                run.failures[error] = run.failures.get(error, 0) + 1
            sim.feed(action, result, error)
            if on_action is not None:
                on_action(action, result, error)
        run.elapsed = _time.perf_counter() - began
        return run
    finally:
        for c in clients:
            await c.close()


async def _carry_out(a: Action, kiosk: MotcuaClient, admin: MotcuaClient,
                     desks: dict[int, MotcuaClient], pin: str) -> tuple[dict | None, str | None]:
    kind, args = a.kind, dict(a.args)
    if kind == "tick":  # the server ticks by itself
        return {}, None
    if kind == "issue":
        client, msg = kiosk, {k: v for k, v in args.items() if v is not None}
    elif kind == "rate":
        client = admin
        msg = {"visit": args["visit_id"], "value": args["value"],
               "request_id": args["request_id"]}
        if args.get("reason"):
            msg["reason"] = args["reason"]
    elif kind in ("cancel", "requeue"):
        client, msg = admin, {k: v for k, v in args.items() if v is not None}
    else:
        client = desks[args.pop("counter")]
        msg = {k: v for k, v in args.items() if v is not None}
        if kind == "login":
            msg["pin"] = pin
    for attempt in range(3):
        try:
            return await client.request(kind, **msg), None
        except ServerError as e:
            return None, e.code
        except (NotConnected, TimeoutError) as e:
            if kind not in _IDEMPOTENT or attempt == 2:
                return None, "timeout" if isinstance(e, TimeoutError) else "not_connected"
            try:
                await client.wait_ready(10)
            except Exception:
                pass
    return None, "not_connected"
