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
        parts.append(f"chờ/phiếu / wait per ticket {wait * scale:5.1f} min")
    if est.tickets:
        parts.append(f"MAE ước tính/estimate {est.mae:5.1f} min")
    return "  ".join(parts)


def _profile(args: argparse.Namespace, config):
    """The profile asked for: a file, ``sample``, ``capacity``, or the
    default (the sample center's own profile for the built-in center, else
    demand from capacity)."""
    from .profile import Profile

    choice = args.profile or ("sample" if args.config is None else "capacity")
    if choice == "sample":
        return Profile.sample(config)
    if choice == "capacity":
        return Profile.for_config(config, args.load)
    return Profile.load(choice, config)


def _simulate_core(args: argparse.Namespace) -> int:
    from motcua.server.config import ConfigError, load_config

    from .accuracy import EstimateLog, breakdown, format_tables, group_accuracy
    from .fairness import FairnessLog
    from .profile import ProfileError
    from .run import SqliteSink, estimate_errors, open_days, simulate_days

    try:
        config = load_config(args.config)
        profile = _profile(args, config)
    except ConfigError as e:
        print(f"{e.source}: {e}", file=sys.stderr)
        return 2
    except ProfileError as e:
        print(f"hồ sơ mô phỏng / profile: {e}", file=sys.stderr)
        return 2
    start = args.start or datetime.now(config.tz).date()
    seeds = [x.strip() for x in str(args.seed).split(",") if x.strip()] or ["0"]
    if args.db and len(seeds) > 1:
        print("--db ghi một lần chạy / --db takes a single seed", file=sys.stderr)
        return 2
    store = None
    if args.db:
        store = SqliteSink(args.db)
        days = [d.isoformat() for d in open_days(config, start, args.days)]
        present = store.days_present(days)
        if present:
            print(f"{args.db} đã có dữ liệu ngày / already has events on {', '.join(present)}",
                  file=sys.stderr)
            store.db.close()
            return 2
    print(f"Hồ sơ mô phỏng / profile: {profile.name}")
    tickets = rated = satisfied = 0
    satisfied_levels = {lv.value for lv in config.rating_levels if lv.satisfied}
    n_days = 0
    samples = []
    fairness = FairnessLog(config)
    per_seed = []
    try:
        for seed in seeds:
            # One log per run: ticket ids start again with each simulated center.
            estimates = EstimateLog(config)
            fair = FairnessLog(config)

            def sink(core, out, estimates=estimates, fair=fair) -> None:
                estimates(core, out)
                fair(core, out)
                if store is not None:
                    store(core, out)

            if len(seeds) > 1:
                print(f"— seed {seed}")
            for result in simulate_days(config, start, args.days, seed, sink=sink,
                                        profile=profile):
                sim = result.simulation
                est = estimate_errors(list(sim.records.values()))
                print(_line(result.day, sim, est), flush=True)
                day = result.day.isoformat()
                n_days += 1
                tickets += sim.stats.arrivals
                for r in result.core.ratings.values():
                    if r.day == day:
                        rated += 1
                        satisfied += r.value in satisfied_levels
            samples += estimates.samples
            per_seed.append((seed, estimates.samples))
            fairness.merge(fair)
    finally:
        if store is not None:
            store.close()
    queue = fairness.queue_waits()
    within = sum(q.within_target * q.n for q in queue) / max(1, sum(q.n for q in queue))
    print(f"Trung bình / average: {tickets / max(1, n_days):.0f} phiếu/ngày / tickets a day; "
          f"hài lòng / satisfied {100 * satisfied / max(1, rated):.1f}% of {rated} "
          f"đánh giá / ratings; gọi trong thời gian mục tiêu / called within target "
          f"{100 * within:.1f}% (mỗi lượt xếp hàng / per queue wait)")
    print()
    print("Ước tính thời gian chờ / wait estimates — chờ = mỗi phiếu, từ lấy số (hoặc chuyển) "
          "đến lần gọi đầu / wait = per ticket, issue (or transfer) → first call; "
          "khác \"Chờ TB\" của báo cáo (mỗi lượt xếp hàng) / not the report's per-queue "
          "\"Chờ TB\"")
    print("  hôm nay = công thức cũ / today = the old formula; mới = ước tính đang in / "
          "new = what is printed now; >50% = lệch quá nửa thời gian chờ (tối thiểu 5 phút) / "
          "off by more than half the wait (at least 5 min); range = thời gian chờ thật nằm "
          "trong khoảng in / real wait inside the printed range")
    if len(per_seed) > 1:
        for seed, xs in per_seed:
            g = group_accuracy(f"seed {seed}", [x for x in xs if x.kind == "issue"])
            print(f"  seed {seed}: chờ TB / mean wait {g.mean_wait:.1f} min; MAE hôm nay / today "
                  f"{g.today.mae:.1f} ({g.today.pct(g.mean_wait):.0f}%), mới / new {g.new.mae:.1f} "
                  f"({g.new.pct(g.mean_wait):.0f}%), range {100 * (g.new.coverage or 0):.0f}%")
    for line in format_tables(breakdown(samples, config)):
        print(line)
    print()
    print(f"Công bằng / fairness: quá {config.queue.max_priority_in_row} lượt ưu tiên liên tiếp "
          f"khi có người thường chờ / runs of more than {config.queue.max_priority_in_row} "
          f"priority calls while normal tickets waited: {fairness.priority_runs_over} "
          f"({fairness.priority_calls_over} lượt gọi / calls); dài hơn, khi không ai thường "
          f"chờ / longer, with no normal ticket waiting (allowed): "
          f"{fairness.priority_runs_long - fairness.priority_runs_over}")
    print(f"  {'':6s} {'lượt':>6s} {'TB':>6s} {'p90':>6s} {'lâu nhất':>8s} {'đúng hạn':>9s}")
    print(f"  {'':6s} {'waits':>6s} {'mean':>6s} {'p90':>6s} {'longest':>8s} {'in target':>9s}")
    for q in queue:
        print(f"  {q.department:6s} {q.n:6d} {q.mean:6.1f} {q.p90:6.1f} {q.longest:8.1f} "
              f"{100 * q.within_target:8.1f}%")
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
    from .erlang import erlang_check, erlang_grid

    if args.grid:
        print("Erlang C: μ = 0.1/phút/min (10 phút/min phục vụ / service); chờ TB mô phỏng ± "
              "khoảng tin cậy 95 % / simulated mean wait ± 95 % confidence interval; "
              f"{args.days} ngày/days mỗi điểm / per point")
        print(f"  {'c':>2s} {'ρ':>5s} {'τ min':>8s} {'×':>5s} {'phiếu':>8s} {'mô phỏng / sim':>17s} "
              f"{'Erlang C':>9s} {'chênh / diff':>15s} {'phải chờ / waited':>18s} {'C':>6s} "
              f"{'sót':>4s}")
        for r in erlang_grid(args.days, args.seed):
            ci_rel = 100 * r.ci / r.theory if r.theory else float("nan")
            print(f"  {r.c:2d} {r.rho:5.2f} {r.relaxation:8.0f} {60 / r.time_unit:5.1f} "
                  f"{r.tickets:8d} {r.simulated:8.2f} ±{r.ci:6.2f} {r.theory:9.2f} "
                  f"{100 * r.difference:+6.1f}% ±{ci_rel:5.1f}% "
                  f"{r.waited_share:9.3f} ±{r.waited_ci:5.3f} {r.theory_waited:6.3f} "
                  f"{r.unserved:4d}", flush=True)
        print("  τ = thời gian hồi phục / relaxation time; × = thời gian mô hình chạy nhanh hơn "
              "đồng hồ mô phỏng / model time sped up; sót / unserved = phiếu đo chưa được gọi "
              "hết ngày / measured tickets never called")
        return 0
    r = erlang_check(args.lam, args.mu, args.servers, args.days, args.seed)
    print(f"Erlang C: λ={args.lam}/min, μ={args.mu}/min, c={args.servers} (ρ={r.rho:.2f}); "
          f"{r.days} ngày/days, {r.tickets} phiếu/tickets after warm-up")
    print(f"  thời gian hồi phục / relaxation time {r.relaxation:.0f} min: khởi động / warm-up "
          f"{r.warmup:.0f} min, đo / measured {r.horizon:.0f} min a day"
          + (f" (model time ×{60 / r.time_unit:.1f})" if r.time_unit < 60 else ""))
    print(f"  chờ TB mô phỏng / simulated mean wait: {r.simulated:.2f} min "
          f"(± {r.ci:.2f}, 95 % CI)")
    print(f"  công thức Erlang C / Erlang C formula: {r.theory:.2f} min")
    print(f"  chênh lệch / difference: {100 * r.difference:+.1f}% "
          f"(± {100 * r.ci / r.theory:.1f}%)")
    print(f"  tỷ lệ phải chờ / share that waited: {r.waited_share:.3f} ± {r.waited_ci:.3f} "
          f"(Erlang C {r.theory_waited:.3f})")
    print(f"  phiếu chưa được gọi / measured tickets never called: {r.unserved}")
    if r.estimate_mae == r.estimate_mae:
        print(f"  ước tính in trên phiếu / printed estimates: MAE {r.estimate_mae:.2f} min, "
              f"bias {r.estimate_bias:+.2f} min")
    return 0 if r.relative_error <= args.tolerance else 1


def _floor(args: argparse.Namespace) -> int:
    """``--floor``: how close to the best possible the printed estimates are."""
    import statistics

    from motcua.server.config import ConfigError, load_config

    from .floor import floor_samples
    from .profile import ProfileError

    try:
        config = load_config(args.config)
        profile = _profile(args, config)
    except (ConfigError, ProfileError) as e:
        print(e, file=sys.stderr)
        return 2
    start = args.start or datetime.now(config.tz).date()
    samples = [s for s in floor_samples(config, start, args.days, args.seed, profile=profile,
                                        every=args.floor_every, replays=args.floor,
                                        priority_every=1, learn_days=1)
               if s.minutes is not None]
    print(f"Sàn sai số / error floor: {args.floor} lần chạy lại tương lai / replays of the "
          f"future at every {args.floor_every}th ticket (and every priority ticket) of "
          f"{args.days} days after a first day to learn, {len(samples)} phiếu/tickets; "
          f"MAE min (% of the group's mean wait)")
    print(f"  {'':22s} {'n':>5s} {'chờ TB':>7s} {'sàn / floor':>14s} {'mới / new':>14s} "
          f"{'hôm nay / today':>16s}")
    groups = [("tất cả / all", samples),
              ("ưu tiên / priority", [s for s in samples if s.priority]),
              ("thường / normal", [s for s in samples if not s.priority]),
              ("quầy chung / shared", [s for s in samples if s.shared]),
              ("quầy riêng / own", [s for s in samples if not s.shared]),
              ("giờ đầu / first hour", [s for s in samples if s.first_hour])]
    for name, xs in groups:
        if not xs:
            continue
        mw = statistics.fmean(s.wait for s in xs)

        def cell(err: float) -> str:
            return f"{err:5.1f} ({100 * err / mw:3.0f}%)" if mw else f"{err:5.1f}"
        print(f"  {name:22s} {len(xs):5d} {mw:7.1f} "
              f"{cell(statistics.fmean(abs(s.oracle - s.wait) for s in xs)):>14s} "
              f"{cell(statistics.fmean(abs(s.minutes - s.wait) for s in xs)):>14s} "
              f"{cell(statistics.fmean(abs(s.legacy - s.wait) for s in xs)):>16s}")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.erlang:
        return _erlang(args)
    if args.floor:
        return _floor(args)
    if args.url:
        return _simulate_server(args)
    return _simulate_core(args)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``motcua simulate``."""
    p = sub.add_parser(
        "simulate", help="mô phỏng ngày làm việc / simulate center days",
        description="Mô phỏng ngày làm việc của trung tâm / simulate center days: arrivals "
                    "with a morning peak and a lunch, procedure mix, service times, no-shows, transfers, "
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
    p.add_argument("--seed", default="0", help="random seed (same seed, same days); "
                   "several, comma-separated, pool the reports (1,2,3)")
    p.add_argument("--load", type=float, default=0.7,
                   help="with --profile capacity: average share of counter time busy "
                        "(default 0.7)")
    p.add_argument("--config", help="center TOML file (core; default: built-in sample)")
    p.add_argument("--profile", help="simulation profile: a TOML file, 'sample' (the sample "
                   "center's, default for the built-in center) or 'capacity' (demand from "
                   "capacity: every department busy --load of the day; default otherwise)")
    p.add_argument("--db", help="write the event log to this SQLite file (core)")
    p.add_argument("--floor", type=int, metavar="REPLAYS", default=0,
                   help="measure the error floor: replay the future REPLAYS times at a sample "
                        "of tickets (slow; see sim/floor.py)")
    p.add_argument("--floor-every", type=int, default=10, metavar="K",
                   help="with --floor: sample every K-th ticket (default 10)")
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
    erl.add_argument("--grid", action="store_true",
                     help="check c = 1, 2, 4, 8 at ρ = 0.5 … 0.95 (--days per point)")
    erl.add_argument("--tolerance", type=float, default=0.15,
                     help="exit 1 when the relative difference is larger (0.15)")
    p.set_defaults(func=_run_with_defaults)


def _run_with_defaults(args: argparse.Namespace) -> int:
    if args.erlang and args.days == 1:
        args.days = 20 if args.grid else 120
    return _run(args)
