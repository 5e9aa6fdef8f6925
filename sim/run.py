"""Run simulated days against the pure queue core, with a simulated clock.

A whole busy day takes a fraction of a second. Optionally every outcome is
written to a SQLite file with the server's own schema and row format
(:func:`server.storage.rows_for`), so reports and the monitor can be tried
on realistic data.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

from motcua.server.config import WEEKDAYS, CenterConfig
from motcua.server.core import Outcome, QueueCore, QueueError

from .model import DaySimulation, TicketRecord
from .profile import Profile

Sink = Callable[[QueueCore, Outcome], None]


class SimClock:
    """A clock the simulation moves by hand (the core reads it)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class DayResult:
    """One simulated day: the simulation (its stats and ticket records) and
    the core it ran on (its ``tickets`` and ``visits`` still hold the day)."""

    day: date
    simulation: DaySimulation
    core: QueueCore
    commands: int = 0
    events: int = 0


def day_rng(seed: int | str, day: date) -> random.Random:
    """The random stream of one day: the same seed and day give the same day,
    whichever other days are simulated with it."""
    return random.Random(f"motcua-sim:{seed}:{day.isoformat()}")


def run_on_core(sim: DaySimulation, core: QueueCore, clock: SimClock,
                sink: Sink | None = None, until: float | None = None) -> tuple[int, int]:
    """Carry out the commands of ``sim`` on ``core`` (all of them, or those
    due by ``until`` seconds after midnight); return (commands, events)."""
    commands = events = 0
    while (action := sim.next_action()) is not None:
        if until is not None and action.at > until:
            break
        clock.now = sim.timestamp(action.at)
        commands += 1
        try:
            out = core.execute(action.kind, **action.args)
        except QueueError as e:
            if e.outcome is not None:
                events += len(e.outcome.events)
                if sink is not None:
                    sink(core, e.outcome)
            sim.feed(action, None, e.code)
            continue
        if out.changed:
            events += len(out.events)
            if sink is not None:
                sink(core, out)
        sim.feed(action, out.result)
    return commands, events


def simulate_day(config: CenterConfig, day: date, seed: int | str = 0, *,
                 profile: Profile | None = None, core: QueueCore | None = None,
                 clock: SimClock | None = None, sink: Sink | None = None,
                 load: float = 0.7) -> DayResult:
    """Simulate one day of ``config`` on the pure core.

    Pass ``core`` and ``clock`` to continue a core across days (the core rolls
    the day over as the server does); ``sink(core, outcome)`` sees every
    outcome as it happens (see :class:`SqliteSink`).
    """
    profile = profile or Profile.for_config(config, load)
    if core is None or clock is None:
        clock = SimClock()
        core = QueueCore(config, clock)
    sim = DaySimulation(config, profile, day, day_rng(seed, day))
    commands, events = run_on_core(sim, core, clock, sink)
    return DayResult(day, sim, core, commands, events)


def open_days(config: CenterConfig, start: date, count: int) -> Iterator[date]:
    """The next ``count`` days the center is open, from ``start``."""
    d, n = start, 0
    while n < count:
        if WEEKDAYS[d.weekday()] in config.open_days:
            yield d
            n += 1
        d += timedelta(days=1)


def simulate_days(config: CenterConfig, start: date, days: int, seed: int | str = 0, *,
                  profile: Profile | None = None, sink: Sink | None = None,
                  load: float = 0.7, keep: bool = False) -> Iterator[DayResult]:
    """Simulate ``days`` open days from ``start`` on one core, as one server
    would live them. Yields each day's result (its core is shared: read
    what you need before the next day starts)."""
    profile = profile or Profile.for_config(config, load)
    clock = SimClock()
    core = QueueCore(config, clock)
    for d in open_days(config, start, days):
        yield simulate_day(config, d, seed, profile=profile, core=core, clock=clock, sink=sink)


# --- persistence ------------------------------------------------------------

class SqliteSink:
    """Writes outcomes into a SQLite file with the server's schema, using the
    server's own row builder, in large transactions (fast, not durable: for
    simulations and benchmarks, never for a live center)."""

    def __init__(self, path: str | Path, batch: int = 20000) -> None:
        from motcua.server import storage

        self._storage = storage
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=OFF")
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        for i in range(version, storage.SCHEMA_VERSION):
            self.db.execute("BEGIN")
            for stmt in storage._statements(storage.MIGRATIONS[i]):
                self.db.execute(stmt)
            self.db.execute(f"PRAGMA user_version={i + 1}")
            self.db.execute("COMMIT")
        self.batch = batch
        self._pending: list = []
        self._n = 0
        self._core: QueueCore | None = None
        self.events = 0

    def __call__(self, core: QueueCore, out: Outcome) -> None:
        if core is not self._core:
            self._core = core
            # The server saves its running state with every change; a
            # simulation needs it only at each commit (see flush), and
            # encoding it thousands of times a day dominated the run time.
            core.meta_dict = dict  # type: ignore[method-assign]
        self._pending.append(self._storage.rows_for(core, out))
        self._n += len(out.events) + 1
        if self._n >= self.batch:
            self.flush()

    def days_present(self, days: list[str]) -> list[str]:
        """Which of ``days`` already have events in the file."""
        marks = ",".join("?" * len(days))
        return [r[0] for r in self.db.execute(
            f"SELECT DISTINCT day FROM events WHERE day IN ({marks})", days)]

    def flush(self) -> None:
        """Commit what is pending."""
        if not self._pending:
            return
        st = self._storage
        tickets, visits, counters, ratings, events = {}, {}, {}, [], []
        for rows in self._pending:
            # Later rows of the same ticket/visit/counter win, as in the server.
            tickets.update((r[0], r) for r in rows.tickets)
            visits.update((r[0], r) for r in rows.visits)
            counters.update((r[0], r) for r in rows.counters)
            ratings += rows.ratings
            events += rows.events
        self.db.execute("BEGIN")
        self.db.executemany(st.SQL_TICKET, list(tickets.values()))
        self.db.executemany(st.SQL_VISIT, list(visits.values()))
        self.db.executemany(st.SQL_COUNTER, list(counters.values()))
        self.db.executemany(st.SQL_RATING, ratings)
        self.db.executemany(st.SQL_EVENT, events)
        if self._core is not None:
            self.db.executemany(st.SQL_META, st.meta_rows(self._core))
        self.db.execute("COMMIT")
        self.events += len(events)
        self._pending = []
        self._n = 0

    def close(self) -> None:
        """Flush and close the file."""
        self.flush()
        self.db.close()


# --- how good were the printed estimates? ---------------------------------

@dataclass
class EstimateCheck:
    """Printed wait estimates against the real first waits, in minutes."""

    tickets: int = 0
    mae: float = float("nan")
    bias: float = float("nan")
    mean_wait: float = float("nan")
    mean_estimate: float = float("nan")
    by_department: dict[str, tuple[int, float]] = field(default_factory=dict)


def estimate_errors(records: list[TicketRecord], scale: float = 1.0) -> EstimateCheck:
    """Compare each called ticket's printed ``wait_minutes`` with its real
    wait (issue → first call, server clock). ``scale`` converts the server's
    seconds to simulated ones (the replay speed when driving a server)."""
    errs: dict[str, list[float]] = {}
    waits, ests, all_errs = [], [], []
    for r in records:
        if r.called_at is None or r.wait_minutes is None:
            continue
        actual = (r.called_at - r.issued_at) * scale / 60
        e = r.wait_minutes - actual
        errs.setdefault(r.department, []).append(e)
        all_errs.append(e)
        waits.append(actual)
        ests.append(r.wait_minutes)
    if not all_errs:
        return EstimateCheck()
    return EstimateCheck(
        len(all_errs), statistics.fmean(abs(e) for e in all_errs), statistics.fmean(all_errs),
        statistics.fmean(waits), statistics.fmean(ests),
        {d: (len(v), statistics.fmean(abs(e) for e in v)) for d, v in sorted(errs.items())})
