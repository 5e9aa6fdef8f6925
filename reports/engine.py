"""The report engine: the event log folded into a fact cache, read back fast.

The event log is the source of truth, but it is fat (each event carries the
ticket's JSON) and a year of a busy center is about a million events: any
query that touches them all reads the whole file (~0.6 GB) and takes
seconds, and SQL that parses the JSON takes several more. So the engine keeps
a *fact cache*, a small SQLite file beside the database (``motcua.db`` →
``motcua.reports.db``, ~17 MB for such a year):

* Facts (see :mod:`reports.facts`) are stored per day and kind as packed
  column arrays (:mod:`reports.columns`); a year loads in milliseconds and is
  aggregated in tight loops (counts, bisection for "within target",
  presorted runs for medians and 90th percentiles).
* Days that are over never change (the log is append-only and the server
  starts a new ``day`` at the rollover), so each is folded once, and only
  when a report first needs it: a report folds the days of its period that
  the cache lacks, each read with the ``events_day`` index (its report
  events in log order, the JSON fields pulled out by SQLite), never the
  whole log. Events added since the last run (``id`` above a watermark)
  make their days stale; those are folded again when next needed. The
  newest day may still grow: it is folded fresh on every run and never
  stored.
* A cache that does not match the database (another file under the same
  name, a restored backup, an older cache format, another time zone) is
  rebuilt from scratch; one that cannot be written is replaced by memory.

The database is opened read-only: reports never write to the server's file.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from motcua.server.config import CenterConfig

from .columns import (BYTEORDER, COLUMNS, Codes, Columns, aggregate_columns, encode_day,
                      wanted_columns)
from .facts import EXTRACT, REPORT_EVENTS, DayFold, Fact, HourOf, fold_rows
from .kpi import DIM_FIELD, Report, aggregate

log = logging.getLogger("motcua.reports")

#: Bump when the fold's definitions change: old caches are rebuilt.
FACTS_VERSION = 4

CACHE_SCHEMA = """
CREATE TABLE IF NOT EXISTS cache_meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS codes (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS day_facts (
    day TEXT NOT NULL, kind INTEGER NOT NULL, n INTEGER NOT NULL,
    dept BLOB, proc BLOB, counter BLOB, officer BLOB, hour BLOB, value BLOB,
    PRIMARY KEY (day, kind)
);
-- Days whose facts are in day_facts (a day may have none: only counter events).
CREATE TABLE IF NOT EXISTS folded_days (day TEXT PRIMARY KEY);
"""


def default_cache_path(db: str | Path) -> Path:
    """``motcua.db`` → ``motcua.reports.db`` (same folder)."""
    p = Path(db)
    return p.with_name(f"{p.stem}.reports{p.suffix or '.db'}")


def _json_sql(path: str) -> str:
    """A path of :data:`EXTRACT` as SQL: ``a|b`` is the first of a, b found."""
    parts = [f"json_extract(data, '{p}')" for p in path.split("|")]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def extract_columns_sql() -> str:
    """The fold's fields pulled out of an event's JSON by SQLite, as the
    columns ``dept, proc, num, text, ref`` (the paths of :data:`EXTRACT`).
    The hub's shipper reads the log with the same SQL."""
    cols = []
    for i, name in enumerate(("dept", "proc", "num", "text", "ref")):
        whens = " ".join(f"WHEN '{t}' THEN {_json_sql(paths[i])}"
                         for t, paths in EXTRACT.items() if paths[i])
        cols.append(f"CASE type {whens} END AS {name}")
    return ", ".join(cols)


def _extract_sql(where: str) -> str:
    types = ", ".join(f"'{t}'" for t in REPORT_EVENTS)
    return (f"SELECT day, type, at, ticket_id, counter, officer, {extract_columns_sql()} "
            f"FROM events WHERE {where} AND type IN ({types}) ORDER BY id")


#: A day's report events with the JSON fields pulled out by SQLite.
DAY_SQL = _extract_sql("day = ?")
#: A day's report events up to an event id (what the watermark covers).
DAY_UPTO_SQL = _extract_sql("day = ? AND id <= ?")
#: The report events of a stretch of the log, in log order (one pass, no sort).
RANGE_SQL = _extract_sql("id BETWEEN ? AND ?")

#: From this many days to fold, one pass over their stretch of the log beats
#: a query per day (which reads each day's rows through the index and sorts
#: them: about a third slower per day).
SCAN_DAYS = 8


class ReportEngine:
    """Reports over one motcua database.

    ``cache``: a path for the fact cache, None for the default beside the
    database, or False to keep facts in memory only (every run folds the
    requested days again: slow for long periods, but writes nothing).
    """

    def __init__(self, db: str | Path, config: CenterConfig,
                 cache: str | Path | None | bool = None) -> None:
        self.db_path = Path(db)
        if not self.db_path.exists():
            raise FileNotFoundError(f"no such database: {self.db_path}")
        self.config = config
        self.hour_of = HourOf(config.tz)
        self.src = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        self.persistent = cache is not False
        self.cache_path: Path | None = None
        self.cx = sqlite3.connect(":memory:", isolation_level=None)
        if self.persistent:
            path = Path(cache) if cache else default_cache_path(self.db_path)
            try:
                cx = sqlite3.connect(path, timeout=60, isolation_level=None)
                cx.execute("PRAGMA journal_mode=WAL")
                cx.executescript(CACHE_SCHEMA)
            except sqlite3.Error as e:
                # A read-only folder, say: still report, only slower.
                log.warning("no report cache at %s (%s): folding from the log", path, e)
                self.persistent = False
            else:
                self.cx.close()
                self.cx, self.cache_path = cx, path
        self.cx.executescript(CACHE_SCHEMA)
        self.codes = Codes(self.cx.execute("SELECT id, text FROM codes"))
        #: Days folded from the log by the last sync (for tests and timings).
        self.folded_days: list[str] = []

    def close(self) -> None:
        self.src.close()
        self.cx.close()

    def __enter__(self) -> "ReportEngine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- reading the log ------------------------------------------------

    def day_rows(self, day: str, upto: int | None = None) -> list[tuple]:
        """A day's report events (those up to event id ``upto``, if given),
        reduced in SQL (no JSON parsing in Python), as tuples in
        :class:`~reports.facts.Row` order."""
        if upto is None:
            return self.src.execute(DAY_SQL, (day,)).fetchall()
        return self.src.execute(DAY_UPTO_SQL, (day, upto)).fetchall()

    def resolve(self, ticket_id: int) -> tuple[str | None, str | None]:
        """Department and procedure of a ticket the day's events don't place.
        The server logs a ticket expired at a day rollover without its view;
        the tickets table still has where it was."""
        try:
            row = self.src.execute("SELECT department, procedure FROM tickets WHERE id = ?",
                                   (ticket_id,)).fetchone()
        except sqlite3.Error:
            return None, None
        return (row[0], row[1]) if row else (None, None)

    def log_days(self, first: str, last: str) -> list[str]:
        """Days within ``[first, last]`` that have events."""
        return [r[0] for r in self.src.execute(
            "SELECT DISTINCT day FROM events WHERE day BETWEEN ? AND ? ORDER BY day",
            (first, last))]

    # --- the cache ------------------------------------------------------

    def _identity(self) -> str | None:
        row = self.src.execute("SELECT id, at, type FROM events ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return None
        return (f"{row[0]}:{row[1]!r}:{row[2]}|{self.config.timezone}|{BYTEORDER}"
                f"|v{FACTS_VERSION}")

    def _event_mark(self, event_id: int) -> str | None:
        row = self.src.execute("SELECT at, type FROM events WHERE id = ?", (event_id,)).fetchone()
        return f"{row[0]!r}:{row[1]}" if row else None

    def _store_day(self, day: str, facts: list[Fact]) -> None:
        self.cx.execute("DELETE FROM day_facts WHERE day = ?", (day,))
        for kind, cols in encode_day(facts, self.codes).items():
            self.cx.execute(
                "INSERT INTO day_facts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (day, kind, len(cols["value"]), *(cols[c].tobytes() for c in COLUMNS)))
        if self.codes.new:
            self.cx.executemany("INSERT INTO codes VALUES (?, ?)", self.codes.new)
            self.codes.new = []
        self.cx.execute("INSERT OR REPLACE INTO folded_days VALUES (?)", (day,))
        self.folded_days.append(day)

    def sync(self, first: str | None = None, last: str | None = None) -> str | None:
        """Bring the cache up to date for the days ``first``–``last`` (all
        days when not given) and return the live day (the newest day in the
        log: it may still grow, so it is folded on each run and not stored).
        Only days of that period that the cache lacks, or that gained events
        since they were folded, are read from the log."""
        self.folded_days = []
        max_day = self.src.execute("SELECT max(day) FROM events").fetchone()[0]
        if not self.persistent or max_day is None:
            return max_day
        cx = self.cx
        cx.execute("BEGIN IMMEDIATE")  # one updater at a time
        try:
            meta = dict(cx.execute("SELECT key, value FROM cache_meta"))
            ident = self._identity()
            wm = int(meta.get("watermark", 0))
            if (meta.get("identity") != ident
                    or (wm and self._event_mark(wm) != meta.get("mark"))):
                # Another file, a restored backup or an older format: start over.
                for table in ("day_facts", "folded_days", "cache_meta", "codes"):
                    cx.execute(f"DELETE FROM {table}")
                self.codes = Codes()
                wm = 0
            new_max = self.src.execute("SELECT max(id) FROM events").fetchone()[0] or 0
            if wm and new_max > wm:
                # Days that gained events since the last run (a rowid range:
                # cheap) must be folded again when a report needs them.
                for (day,) in self.src.execute(
                        "SELECT DISTINCT day FROM events WHERE id > ?", (wm,)):
                    cx.execute("DELETE FROM day_facts WHERE day = ?", (day,))
                    cx.execute("DELETE FROM folded_days WHERE day = ?", (day,))
            folded = {r[0] for r in cx.execute(
                "SELECT day FROM folded_days WHERE day BETWEEN ? AND ?",
                (first or "", last or "9999-12-31"))}
            todo = [day for day in self.log_days(first or "", last or "9999-12-31")
                    if day != max_day and day not in folded]
            if todo:
                self._fold_days(todo, new_max)
            for key, value in (("identity", ident), ("watermark", str(new_max)),
                               ("mark", self._event_mark(new_max) if new_max else "")):
                cx.execute("INSERT OR REPLACE INTO cache_meta VALUES (?, ?)", (key, value))
            cx.execute("COMMIT")
        except BaseException:
            cx.execute("ROLLBACK")
            self.codes = Codes(self.cx.execute("SELECT id, text FROM codes"))
            raise
        return max_day

    def _fold_days(self, todo: list[str], upto: int) -> None:
        """Fold the days ``todo`` (sorted) into the cache, from the events
        up to id ``upto`` (an event written meanwhile makes its day stale on
        the next run, as it should)."""
        if len(todo) < SCAN_DAYS:
            for day in todo:
                self._store_day(day, list(fold_rows(self.day_rows(day, upto), self.hour_of,
                                                    self.resolve)))
            return
        # Many days: one pass over their stretch of the log. A day is
        # contiguous in the log; one that shows up again later is folded
        # again on its own.
        want = set(todo)
        lo = self.src.execute("SELECT min(id) FROM events WHERE day = ?", (todo[0],)).fetchone()
        hi = self.src.execute("SELECT max(id) FROM events WHERE day = ?", (todo[-1],)).fetchone()
        done: set[str] = set()
        again: set[str] = set()
        fold: DayFold | None = None
        current: str | None = None
        for r in self.src.execute(RANGE_SQL, (lo[0] or 0, min(hi[0] or 0, upto))):
            day = r[0]
            if day != current:
                if fold is not None and current is not None:
                    self._store_day(current, fold.finish())
                    done.add(current)
                fold, current = None, day
                if day in want:
                    if day in done:
                        again.add(day)
                    else:
                        fold = DayFold(self.hour_of, self.resolve)
            if fold is not None:
                fold.add(r)
        if fold is not None and current is not None:
            self._store_day(current, fold.finish())
            done.add(current)
        for day in sorted(again | (want - done)):
            self._store_day(day, list(fold_rows(self.day_rows(day, upto), self.hour_of,
                                                self.resolve)))

    # --- reports --------------------------------------------------------

    def _load(self, first: str, last: str, wanted: tuple[str, ...]) -> tuple[Columns, dict]:
        """The ``wanted`` columns of every fact of ``[first, last]``, and
        where each day's facts sit in them."""
        live_day = self.sync(first, last)
        cols = Columns(wanted)
        day_keys: dict[int, list[tuple[int, int, str]]] = defaultdict(list)

        def add(day: str, kind: int, n: int, blobs: dict | None, arrays: dict | None) -> None:
            start = len(cols.get(kind, "value"))
            if blobs is not None:
                cols.add_blobs(kind, blobs)
            else:
                cols.add_arrays(kind, arrays)  # type: ignore[arg-type]
            day_keys[kind].append((start, start + n, day))

        if self.persistent:
            names = ", ".join(cols.wanted)
            for day, kind, n, *blobs in self.cx.execute(
                    f"SELECT day, kind, n, {names} FROM day_facts WHERE day BETWEEN ? AND ? "
                    "ORDER BY day, kind", (first, last)):
                add(day, kind, n, dict(zip(cols.wanted, blobs)), None)
            live_days = [live_day] if live_day is not None and first <= live_day <= last else []
        else:
            live_days = self.log_days(first, last)
            self.folded_days = list(live_days)
        for day in live_days:
            facts = list(fold_rows(self.day_rows(day), self.hour_of, self.resolve))
            for kind, arrays in sorted(encode_day(facts, self.codes).items()):
                add(day, kind, len(arrays["value"]), None, arrays)
        return cols, day_keys

    def report(self, first: str, last: str, by: str | None = None) -> Report:
        """KPIs for the days ``first``–``last`` (inclusive), per ``by`` group."""
        if by is not None and by not in DIM_FIELD:
            raise ValueError(f"unknown grouping {by!r}")
        t0 = time.perf_counter()
        cols, day_keys = self._load(first, last, wanted_columns(by))
        t1 = time.perf_counter()
        rows, total = aggregate_columns(cols, self.config, by, self.codes, day_keys)
        t2 = time.perf_counter()
        return Report(first, last, by, rows, total,
                      {"load": t1 - t0, "aggregate": t2 - t1, "total": t2 - t0})

    def facts(self, first: str, last: str) -> list[Fact]:
        """The facts of a period, decoded (for checks and custom analysis)."""
        cols, day_keys = self._load(first, last, tuple(COLUMNS))
        out: list[Fact] = []
        text = self.codes.text
        for kind, slices in day_keys.items():
            c = cols.kinds[kind]
            for start, end, day in slices:
                for i in range(start, end):
                    v = c["value"][i]
                    out.append(Fact(day, kind, text.get(c["dept"][i]), text.get(c["proc"][i]),
                                    c["counter"][i] or None, text.get(c["officer"][i]),
                                    c["hour"][i], None if v != v else v))
        return out


def baseline_report(db: str | Path, config: CenterConfig, first: str, last: str,
                    by: str | None = None) -> Report:
    """The naive way, for comparison: read every event of the period with
    its JSON, parse it in Python, fold and aggregate in Python."""
    import json

    from .facts import row_from_data

    t0 = time.perf_counter()
    src = sqlite3.connect(f"file:{Path(db)}?mode=ro", uri=True)
    try:
        cur = src.execute(
            "SELECT day, type, at, ticket_id, counter, officer, data FROM events "
            "WHERE day BETWEEN ? AND ? ORDER BY day, id", (first, last))
        rows = (row_from_data(d, t, at, tid, c, o, json.loads(data))
                for d, t, at, tid, c, o, data in cur)
        def resolve(tid: int) -> tuple[str | None, str | None]:
            row = src.execute("SELECT department, procedure FROM tickets WHERE id = ?",
                              (tid,)).fetchone()
            return (row[0], row[1]) if row else (None, None)

        facts = list(fold_rows(rows, HourOf(config.tz), resolve))
    finally:
        src.close()
    rows_, total = aggregate(facts, config, by)
    return Report(first, last, by, rows_, total, {"total": time.perf_counter() - t0})
