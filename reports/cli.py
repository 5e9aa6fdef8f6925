"""``motcua report``: KPIs from the event log as a table, CSV or Excel."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from .kpi import DIMENSIONS
from .render import (Table, build_table, catalogue, default_filename, to_csv, to_text,
                     write_csv, write_xlsx)


def period(args: argparse.Namespace, today: date) -> tuple[str, str]:
    """The first and last day asked for (default: today). Raises ValueError
    with a catalogue key and the offending value."""
    def day(value: str) -> date:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("bad_date", value) from None

    if args.month:
        try:
            first = datetime.strptime(args.month, "%Y-%m").date()
        except ValueError:
            raise ValueError("bad_month", args.month) from None
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    elif args.year:
        first, last = date(args.year, 1, 1), date(args.year, 12, 31)
    elif args.day:
        first = last = day(args.day)
    elif args.from_ or args.to:
        first = day(args.from_) if args.from_ else day(args.to)
        last = day(args.to) if args.to else today
    else:
        first = last = today
    if first > last:
        raise ValueError("bad_range", "")
    return first.isoformat(), last.isoformat()


def _run(args: argparse.Namespace) -> int:
    from motcua.server.config import ConfigError, load_config

    from .engine import ReportEngine, default_cache_path

    t = catalogue(args.lang)
    if args.hub:
        from motcua.hub.report import run_cli

        return run_cli(args)
    if args.by == "site" or args.site:
        print(t("needs_hub"), file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"{e.source}: {e}", file=sys.stderr)
        return 2
    db = Path(args.db)
    if not db.exists():
        print(t("no_database", path=db), file=sys.stderr)
        return 2
    today = datetime.now(config.tz).date()
    try:
        first, last = period(args, today)
    except ValueError as e:
        key, value = e.args
        print(t(key, value=value), file=sys.stderr)
        return 2
    by = None if args.by == "none" else args.by
    cache = False if args.no_cache else (args.cache or None)
    if cache is None and not default_cache_path(db).exists():
        print(t("cache_building", path=default_cache_path(db)), file=sys.stderr)
    started = time.perf_counter()
    with ReportEngine(db, config, cache=cache) as engine:
        report = engine.report(first, last, by)
    elapsed = time.perf_counter() - started
    table = build_table(report, config, args.lang, generated=datetime.now(config.tz))
    status = emit(table, args, first, last, by)
    if status == 0 and args.timing:
        print(t("timing", seconds=elapsed), file=sys.stderr)
    return status


def emit(table: Table, args: argparse.Namespace, first: str, last: str, by: str | None,
         prefix: str = "file_report") -> int:
    """Write a laid-out report where ``args`` says (terminal, CSV, xlsx)."""
    t = catalogue(args.lang)
    fmt = args.format
    if fmt == "xlsx":
        try:
            import openpyxl  # noqa: F401
        except ImportError:
            print(t("need_openpyxl"), file=sys.stderr)
            return 2
        out = Path(args.out or default_filename(first, last, by, args.lang, prefix))
        write_xlsx(table, out)
        print(t("written", path=out), file=sys.stderr)
    elif fmt == "csv":
        if args.out:
            write_csv(table, args.out)
            print(t("written", path=args.out), file=sys.stderr)
        else:
            sys.stdout.write(to_csv(table))
    else:
        text = to_text(table)
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
            print(t("written", path=args.out), file=sys.stderr)
        else:
            sys.stdout.write(text)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``motcua report``."""
    p = sub.add_parser(
        "report", help="báo cáo / KPI reports from the event log",
        description="Báo cáo chỉ số từ nhật ký sự kiện / KPI reports from the event log. "
                    "A fact cache is kept beside the database (<db>.reports.db) so that "
                    "long periods are fast; it is rebuilt by itself when needed.")
    p.add_argument("--db", default="motcua.db", help="SQLite database (default motcua.db)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--day", help="one day, YYYY-MM-DD (default: today)")
    when.add_argument("--month", help="a calendar month, YYYY-MM")
    when.add_argument("--year", type=int, help="a calendar year")
    when.add_argument("--from", dest="from_", metavar="DAY", help="first day, YYYY-MM-DD")
    p.add_argument("--to", metavar="DAY", help="last day, YYYY-MM-DD (with --from)")
    p.add_argument("--by", choices=[*DIMENSIONS, "site", "none"], default="department",
                   help="group rows by (default department; none = center totals only; "
                        "site: with --hub)")
    p.add_argument("--format", choices=("table", "csv", "xlsx"), default="table")
    p.add_argument("--out", help="output file (default: the terminal; for xlsx "
                                 "bao-cao_theo-<grouping>_<period>.xlsx, or "
                                 "report_by-<grouping>_<period>.xlsx with --lang en)")
    p.add_argument("--lang", choices=("vi", "en"), default="vi", help="headings language")
    p.add_argument("--config", help="center TOML file (default: built-in sample center)")
    p.add_argument("--cache", help="fact cache file (default <db>.reports.db)")
    p.add_argument("--no-cache", action="store_true",
                   help="write no cache: fold the period from the log each time (slower)")
    p.add_argument("--timing", action="store_true", help="print how long it took")
    p.add_argument("--hub", metavar="URL",
                   help="report from the province hub (a PostgreSQL URL) instead of --db")
    p.add_argument("--site", metavar="CODE,…",
                   help="with --hub: only these sites (default: every site)")
    p.set_defaults(func=_run)
