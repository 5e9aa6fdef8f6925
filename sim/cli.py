"""``motcua simulate``: simulated days on the pure core or a live server,
and the Erlang C check."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, datetime, time
from pathlib import Path

WEEKDAY_VI = ("T2", "T3", "T4", "T5", "T6", "T7", "CN")


def _hhmm(value: str) -> time:
    try:
        return datetime.strptime(value, "%H:%M").time()
    except ValueError:
        raise argparse.ArgumentTypeError(f"HH:MM expected, got {value!r}") from None


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"YYYY-MM-DD expected, got {value!r}") from None


def _counters(value: str) -> set[int]:
    try:
        return {int(x) for x in value.split(",") if x.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError("counter numbers like 2,3,5") from None


def _mean_wait(sim) -> float | None:
    waits = [(r.called_at - r.issued_at) / 60 for r in sim.records.values()
             if r.called_at is not None]
    return sum(waits) / len(waits) if waits else None


def _line(day: date, sim, est, scale: float = 1.0) -> str:
    s = sim.stats
    wait = _mean_wait(sim)
    parts = [f"{day} {WEEKDAY_VI[day.weekday()]}", f"phát/issued {s.arrivals:4d}",
             f"xong/finished {s.finished:4d}", f"chuyển/transfers {s.transfers:3d}",
             f"vắng/no-shows {s.no_shows - s.returns:3d}", f"hủy/left {s.cancelled:3d}",
             f"đánh giá/ratings {s.ratings:4d}"]
    if wait is not None:
        parts.append(f"chờ TB/mean wait {wait * scale:5.1f} min")
    if est.tickets:
        parts.append(f"MAE ước tính/estimate {est.mae:5.1f} min")
    return "  ".join(parts)


def _simulate_core(args: argparse.Namespace) -> int:
    from motcua.server.config import ConfigError, load_config

    from .run import SqliteSink, estimate_errors, open_days, simulate_days

    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"{e.source}: {e}", file=sys.stderr)
        return 2
    start = args.start or datetime.now(config.tz).date()
    sink = None
    if args.db:
        sink = SqliteSink(args.db)
        days = [d.isoformat() for d in open_days(config, start, args.days)]
        present = sink.days_present(days)
        if present:
            print(f"{args.db} đã có dữ liệu ngày / already has events on {', '.join(present)}",
                  file=sys.stderr)
            sink.db.close()
            return 2
    records = []
    try:
        for result in simulate_days(config, start, args.days, args.seed, sink=sink,
                                    load=args.load):
            sim = result.simulation
            est = estimate_errors(list(sim.records.values()))
            records += sim.records.values()
            print(_line(result.day, sim, est), flush=True)
    finally:
        if sink is not None:
            sink.close()
    total = estimate_errors(records)
    print(f"Ước tính chờ in trên phiếu / printed wait estimates: {total.tickets} phiếu/tickets, "
          f"MAE {total.mae:.1f} min, lệch TB/bias {total.bias:+.1f} min "
          f"(chờ thực TB/actual mean {total.mean_wait:.1f}, ước tính TB/estimated mean "
          f"{total.mean_estimate:.1f})")
    if args.db:
        print(f"Đã ghi nhật ký sự kiện / event log written: {Path(args.db).resolve()}")
    return 0


def _simulate_server(args: argparse.Namespace) -> int:
    from motcua.client import AuthError

    from .run import estimate_errors
    from .server_driver import drive_server

    tokens = dict(kv.split("=", 1) for kv in args.token or [])

    async def go() -> int:
        day = args.start
        run = await drive_server(args.url, tokens, day=day, seed=args.seed,
                                 speed=args.speed, load=args.load, counters=args.counters,
                                 pin=args.pin, start=args.from_, until=args.until,
                                 on_action=_progress(args.verbose_actions))
        sim = run.simulation
        est = estimate_errors(list(sim.records.values()))
        print(_line(sim.day, sim, est, scale=args.speed or 1.0))
        print(f"{run.commands} lệnh/commands in {run.elapsed:.1f} s; trễ lớn nhất/max lag "
              f"{run.max_lag:.2f} s; lỗi/refusals {sim.stats.errors}")
        print(f"Ước tính chờ / wait estimates (server clock, compressed ×{args.speed:g}): "
              f"MAE {est.mae:.2f} min, bias {est.bias:+.2f} min over {est.tickets} tickets")
        return 0

    try:
        return asyncio.run(go())
    except AuthError as e:
        print(f"Máy chủ từ chối / server refused: {e.error.message}", file=sys.stderr)
        return 2
    except (OSError, TimeoutError) as e:
        print(f"Không kết nối được / cannot connect to {args.url}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _progress(verbose: bool):
    if not verbose:
        return None

    def show(action, result, error) -> None:
        print(f"  {action.at / 3600:05.2f}h {action.kind} {action.args} -> {error or 'ok'}")
    return show


def _erlang(args: argparse.Namespace) -> int:
    from .erlang import erlang_check

    r = erlang_check(args.lam, args.mu, args.servers, args.days, args.seed)
    rho = args.lam / (args.mu * args.servers)
    print(f"Erlang C: λ={args.lam}/min, μ={args.mu}/min, c={args.servers} (ρ={rho:.2f}); "
          f"{r.days} ngày/days, {r.tickets} phiếu/tickets after warm-up")
    print(f"  chờ TB mô phỏng / simulated mean wait: {r.simulated:.2f} min "
          f"(± {r.standard_error:.2f} standard error)")
    print(f"  công thức Erlang C / Erlang C formula: {r.theory:.2f} min")
    print(f"  chênh lệch / difference: {100 * r.relative_error:.1f}%")
    print(f"  tỷ lệ phải chờ / share that waited: {r.waited_share:.3f} "
          f"(Erlang C {r.theory_waited:.3f})")
    print(f"  ước tính in trên phiếu / printed estimates: MAE {r.estimate_mae:.2f} min, "
          f"bias {r.estimate_bias:+.2f} min")
    return 0 if r.relative_error <= args.tolerance else 1


def _run(args: argparse.Namespace) -> int:
    if args.erlang:
        return _erlang(args)
    if args.url:
        return _simulate_server(args)
    return _simulate_core(args)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``motcua simulate``."""
    p = sub.add_parser(
        "simulate", help="mô phỏng ngày làm việc / simulate center days",
        description="Mô phỏng ngày làm việc của trung tâm / simulate center days: arrivals "
                    "with a morning peak, procedure mix, service times, no-shows, transfers, "
                    "priority tickets, breaks and ratings; seeded and reproducible.")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--against-core", action="store_true",
                       help="run on the pure queue core with a simulated clock (default)")
    where.add_argument("--url", help="drive a running server, e.g. ws://127.0.0.1:8765")
    where.add_argument("--erlang", action="store_true",
                       help="check the simulator against the Erlang C formula (M/M/c)")
    p.add_argument("--days", type=int, default=1,
                   help="open days to simulate (core, default 1; Erlang default 120)")
    p.add_argument("--start", type=_day, help="first day, YYYY-MM-DD (default today)")
    p.add_argument("--seed", default="0", help="random seed (same seed, same days)")
    p.add_argument("--load", type=float, default=0.7,
                   help="average share of counter time busy (default 0.7)")
    p.add_argument("--config", help="center TOML file (core; default: built-in sample)")
    p.add_argument("--db", help="write the event log to this SQLite file (core)")
    server = p.add_argument_group("against a server (--url)")
    server.add_argument("--speed", type=float, default=60.0,
                        help="simulated seconds per real second (default 60; 0 = flat out)")
    server.add_argument("--counters", type=_counters,
                        help="counters to staff, e.g. 2,3,4 (default all)")
    server.add_argument("--from", dest="from_", type=_hhmm,
                        help="start the day at HH:MM (default opening time)")
    server.add_argument("--until", type=_hhmm, help="stop at HH:MM of simulated time")
    server.add_argument("--pin", default="1234", help="officers' PIN (sample: 1234)")
    server.add_argument("--token", action="append", metavar="ROLE=TOKEN",
                        help="device token (kiosk, counter, admin); default the demo tokens")
    server.add_argument("--verbose-actions", action="store_true", help="print every command")
    erl = p.add_argument_group("Erlang C check (--erlang)")
    erl.add_argument("--lam", type=float, default=0.21, help="arrivals per minute (0.21)")
    erl.add_argument("--mu", type=float, default=0.1, help="services per minute per counter")
    erl.add_argument("--servers", type=int, default=3, help="counters (3)")
    erl.add_argument("--tolerance", type=float, default=0.15,
                     help="exit 1 when the relative difference is larger (0.15)")
    p.set_defaults(func=_run_with_defaults)


def _run_with_defaults(args: argparse.Namespace) -> int:
    if args.erlang and args.days == 1:
        args.days = 120
    return _run(args)
