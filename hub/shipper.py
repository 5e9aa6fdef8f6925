"""The site's side of the hub: ship the event log, the public configuration
and a live heartbeat to the province's PostgreSQL.

``motcua serve --hub URL`` runs it in a child process (:mod:`hub.process`).
It never holds up the queue: it reads the SQLite file through its own
read-only connection in a worker thread (WAL lets readers and the writer
work side by side), and when the hub is slow or away nothing on the site
waits for it; events simply stay in the local log until they can go.

Exactly once, in order:

* The hub keys events by (site, event id). The shipper always starts from
  the hub's own high-water mark, ``max(id)`` of the site's events *in the
  hub*, never from a local note of what it believes it sent.
* Each batch is one transaction: take the site's advisory lock, re-read the
  mark (it must still be what the batch was read after), insert the events
  and the report facts derived from them, void undone no-shows, commit. If
  anything fails — the link drops mid-batch, the hub is killed, the commit's
  answer is lost — the transaction either committed (the mark moved: the
  next read starts after it) or did not (nothing of it is there: the batch
  is read again). Either way nothing is lost and nothing lands twice; the
  primary key would refuse a duplicate even if the logic were wrong.
* Local event ids only grow and every commit adds a contiguous run of them
  (one writer), so "everything above the mark" is exactly what is missing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import sqlite3
import threading
import time
from collections import deque
from datetime import date
from pathlib import Path
from typing import Any, Callable

from motcua.reports.engine import extract_columns_sql
from motcua.reports.facts import RATING, REPORT_EVENTS, WAIT, HourOf, Row
from motcua.reports.kpi import satisfied_levels, targets
from motcua.server.config import CenterConfig

from .fold import FactStream, KeyedFact, Void
from .schema import SCHEMA_VERSION

log = logging.getLogger("motcua.hub.shipper")

#: Advisory lock namespace for "one shipper per site at a time".
LOCK_NAMESPACE = 0x6D6F7464
#: The oldest hub schema this shipper can write to.
MIN_SCHEMA = 2

EVENT_COLUMNS = ["id", "at", "day", "type", "ticket_id", "counter", "officer", "device", "data"]
FACT_COLUMNS = ["event_id", "seq", "day", "kind", "dept", "proc", "counter", "officer", "hour",
                "value", "ok"]

STAGING = """
CREATE TEMP TABLE IF NOT EXISTS ship_events (
    id bigint, at double precision, day date, type text, ticket_id bigint, counter integer,
    officer text, device text, data text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS ship_facts (
    event_id bigint, seq smallint, day date, kind smallint, dept text, proc text,
    counter integer, officer text, hour smallint, value double precision, ok boolean)
    ON COMMIT DELETE ROWS;
"""
# COPY into temporary tables (PostgreSQL refuses COPY FROM into a table with
# row-level security), then one INSERT … SELECT each, checked by the policies.
INSERT_EVENTS = ("INSERT INTO hub.events (site_id, id, at, day, type, ticket_id, counter, "
                 "officer, device, data) SELECT $1, id, at, day, type, ticket_id, counter, "
                 "officer, device, data::json FROM ship_events")
INSERT_FACTS = ("INSERT INTO hub.facts (site_id, event_id, seq, day, kind, dept, proc, counter, "
                "officer, hour, value, ok) SELECT $1, event_id, seq, day, kind, dept, proc, "
                "counter, officer, hour, value, ok FROM ship_facts")
# When the site's targets or rating levels change, its whole history is
# judged again by the new ones (as the site's own report would).
REJUDGE = [
    "UPDATE hub.facts f SET ok = (f.value <= t.target) FROM unnest($2::text[], $3::float8[]) "
    "AS t(dept, target) WHERE f.site_id = $1 AND f.kind = 2 AND f.dept = t.dept "
    "AND f.ok IS DISTINCT FROM (f.value <= t.target)",
    "UPDATE hub.facts SET ok = NULL WHERE site_id = $1 AND kind = 2 AND ok IS NOT NULL "
    "AND (dept IS NULL OR dept <> ALL($2::text[]))",
    "UPDATE hub.facts SET ok = (value = ANY($2::float8[])) WHERE site_id = $1 AND kind = 8 "
    "AND ok IS DISTINCT FROM (value = ANY($2::float8[]))",
]
VOID_FACTS = ("UPDATE hub.facts f SET voided_by = v.by FROM unnest($2::bigint[], $3::bigint[]) "
              "AS v(event_id, by) WHERE f.site_id = $1 AND f.event_id = v.event_id "
              "AND f.voided_by IS NULL")
HIGH_WATER = "SELECT coalesce(max(id), 0) FROM hub.events WHERE site_id = $1"
HEARTBEAT = ("INSERT INTO hub.site_live (site_id, heard_at, site_time, day, state, shipping) "
             "VALUES ($1, now(), $2, $3, $4::jsonb, $5::jsonb) ON CONFLICT (site_id) DO UPDATE "
             "SET heard_at = now(), site_time = excluded.site_time, day = excluded.day, "
             "state = excluded.state, shipping = excluded.shipping")


def _extract_sql(where: str) -> str:
    """Events with the fold's fields pulled out by SQLite, the same JSON
    paths as the site's report engine (:data:`reports.facts.EXTRACT`)."""
    return (f"SELECT id, at, day, type, ticket_id, counter, officer, device, data, "
            f"{extract_columns_sql()} FROM events WHERE {where} ORDER BY id")


BATCH_SQL = _extract_sql("id > ?") + " LIMIT ?"
_TYPES = ", ".join(f"'{t}'" for t in REPORT_EVENTS)
DAY_SQL = _extract_sql(f"day = ? AND id < ? AND type IN ({_TYPES})")


class HubRefused(Exception):
    """The hub will not take this site's events (wrong credential, another
    site's log under this code, an old schema): retrying soon won't help."""


class _Resync(Exception):
    """The hub's high-water mark is not where this batch started."""


class Figures:
    """What a shipper tells about itself (the site's /metrics, the hub's
    heartbeat): shared by :class:`Shipper` and, in the server, by
    :class:`~motcua.hub.process.ShipperProcess`, which mirrors the figures
    of the shipper running in its child process."""

    def _init_figures(self) -> None:
        self.state = "starting"  # starting | connected | down | refused | stopped
        self.site_id: int | None = None
        self.hwm: int | None = None
        #: The last high-water mark the hub gave (kept while it is away).
        self.known_mark: int | None = None
        self.local_max = 0
        self.shipped = 0
        self.batches = 0
        self.failures = 0
        self.heartbeats = 0
        self.last_error: str | None = None
        self.last_shipped_at: float | None = None
        self.lags: deque[float] = deque(maxlen=5000)
        #: Lag samples taken since start (``lags`` keeps the newest).
        self.lag_count = 0

    @property
    def backlog(self) -> int:
        """Events in the local log the hub does not have yet (as far as known:
        while the hub is away, from the last mark it gave)."""
        mark = self.hwm if self.hwm is not None else self.known_mark
        return max(0, self.local_max - (mark or 0))

    def lag(self, q: float) -> float | None:
        """Shipping lag quantile (seconds from an event's time to its commit
        in the hub) over the recent events."""
        if not self.lags:
            return None
        values = sorted(self.lags)
        return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]

    def metrics_lines(self) -> list[str]:
        """Prometheus lines for the site's /metrics."""
        up = 1 if self.state == "connected" else 0
        lines = [
            "# HELP motcua_hub_connected 1 while the hub takes this site's events.",
            "# TYPE motcua_hub_connected gauge",
            f"motcua_hub_connected {up}",
            "# HELP motcua_hub_backlog_events Events not yet in the hub.",
            "# TYPE motcua_hub_backlog_events gauge",
            f"motcua_hub_backlog_events {self.backlog}",
            "# HELP motcua_hub_shipped_events_total Events shipped since start.",
            "# TYPE motcua_hub_shipped_events_total counter",
            f"motcua_hub_shipped_events_total {self.shipped}",
            "# HELP motcua_hub_batches_total Batches committed in the hub since start.",
            "# TYPE motcua_hub_batches_total counter",
            f"motcua_hub_batches_total {self.batches}",
            "# HELP motcua_hub_failures_total Connection or batch failures since start.",
            "# TYPE motcua_hub_failures_total counter",
            f"motcua_hub_failures_total {self.failures}",
            "# HELP motcua_hub_heartbeats_total Heartbeats sent since start.",
            "# TYPE motcua_hub_heartbeats_total counter",
            f"motcua_hub_heartbeats_total {self.heartbeats}",
        ]
        if self.hwm is not None:
            lines += ["# HELP motcua_hub_high_water_mark The hub's newest event id of this site.",
                      "# TYPE motcua_hub_high_water_mark gauge",
                      f"motcua_hub_high_water_mark {self.hwm}"]
        if self.last_shipped_at is not None:
            lines += ["# HELP motcua_hub_last_shipped_timestamp_seconds When a batch last "
                      "committed.", "# TYPE motcua_hub_last_shipped_timestamp_seconds gauge",
                      f"motcua_hub_last_shipped_timestamp_seconds {self.last_shipped_at:.3f}"]
        if self.lags:
            lines += ["# HELP motcua_hub_lag_seconds Event time to commit in the hub, recent "
                      "events.", "# TYPE motcua_hub_lag_seconds summary"]
            for q in (0.5, 0.99):
                lines.append(f'motcua_hub_lag_seconds{{quantile="{q}"}} {self.lag(q):.3f}')
        return lines


class Shipper(Figures):
    """Ships one site's SQLite event log to the hub (start/stop/poke).

    It runs wherever it is started: the server runs it in a child process
    (:mod:`hub.process`), the tests and the benchmark in their own."""

    def __init__(self, db_path: str | Path, url: str, config: CenterConfig, *,
                 code: str | None = None, name: str | None = None,
                 heartbeat: Callable[[], dict[str, Any]] | None = None,
                 batch: int = 2000, heartbeat_every: float = 5.0, poll: float = 1.0,
                 connect_timeout: float = 10.0, catchup_duty: float = 0.5) -> None:
        self.db_path = Path(db_path)
        self.url = url
        self.config = config
        self.code = code
        self.name = name
        self.heartbeat_source = heartbeat
        self.batch = batch
        self.heartbeat_every = heartbeat_every
        self.poll = poll
        self.connect_timeout = connect_timeout
        #: While catching up, the share of the time spent shipping (the rest
        #: is left to the queue: a backlog of days is no reason to slow it).
        self.catchup_duty = catchup_duty
        self.hour_of = HourOf(config.tz)
        # The site's own definitions of "within target" and "satisfied".
        self.targets = targets(config)
        self.happy = satisfied_levels(config)
        # State the metrics read (all updated on the event loop).
        self._init_figures()
        self._conn: Any = None
        self._src: sqlite3.Connection | None = None
        # Held by the worker thread while it reads the local log, so that
        # stop() never closes the connection under it.
        self._src_lock = threading.Lock()
        self._stream: FactStream | None = None
        #: While catching up, the next batch is read and folded (in the worker
        #: thread) while the current one commits: (after id, its future).
        self._prefetch: tuple[int, asyncio.Future] | None = None
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._next_heartbeat = 0.0
        self._config_json = json.dumps(self._public(), ensure_ascii=False, sort_keys=True)
        self._config_digest = hashlib.sha256(self._config_json.encode()).hexdigest()

    def _public(self) -> dict[str, Any]:
        public = self.config.public()
        public["site"] = {"code": self.code, "name": self.name}
        return public

    # --- lifecycle ------------------------------------------------------

    async def start(self) -> None:
        """Start shipping in the background."""
        self._task = asyncio.create_task(self._run(), name="motcua-hub-shipper")

    async def stop(self) -> None:
        """Stop (a batch under way is rolled back by the hub if cut short)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        await self._close()
        await asyncio.to_thread(self._close_source)
        self.state = "stopped"

    def _close_source(self) -> None:
        with self._src_lock:
            if self._src is not None:
                self._src.close()
                self._src = None

    def poke(self) -> None:
        """New events were committed: ship them soon."""
        self._wake.set()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 2)
            except Exception:
                conn.terminate()

    # --- the local log (in a worker thread) ---------------------------------

    def _source(self) -> sqlite3.Connection:
        if self._src is None:
            # Read-only and in autocommit: every read sees the latest commit
            # and holds no snapshot between reads (checkpoints stay free).
            self._src = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True,
                                        check_same_thread=False, isolation_level=None)
            self._src.execute("PRAGMA busy_timeout=5000")
        return self._src

    def _local_state(self) -> tuple[int, tuple | None]:
        with self._src_lock:
            src = self._source()
            top = src.execute("SELECT max(id) FROM events").fetchone()[0] or 0
            first = src.execute("SELECT id, at, type FROM events ORDER BY id LIMIT 1").fetchone()
            return top, first

    def _resolve(self, ticket_id: int) -> tuple[str | None, str | None]:
        row = self._source().execute("SELECT department, procedure FROM tickets WHERE id = ?",
                                     (ticket_id,)).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def _load_day(self, day: str, before: int) -> list[tuple[int, Row]]:
        return [(r[0], Row(r[2], r[3], r[1], r[4], r[5], r[6], *r[9:]))
                for r in self._source().execute(DAY_SQL, (day, before))]

    def _prepare(self, after: int) -> tuple[list[tuple], list[tuple], list[Void], int]:
        """Read the next batch after ``after`` and derive its facts."""
        with self._src_lock:
            return self._prepare_locked(after)

    def _prepare_locked(self, after: int) -> tuple[list[tuple], list[tuple], list[Void], int]:
        src = self._source()
        if self._stream is None:
            self._stream = FactStream(self.hour_of, self._resolve, self._load_day)
        stream = self._stream
        events: list[tuple] = []
        facts: list[KeyedFact] = []
        voids: list[Void] = []
        days: dict[str, date] = {}
        for n, r in enumerate(src.execute(BATCH_SQL, (after, self.batch))):
            if n & 31 == 31:
                # Hand the GIL back often: the server's event loop must not
                # wait a whole switch interval (5 ms) behind this fold.
                time.sleep(0)
            eid, at, day, type_, tid, counter, officer, device, data = r[:9]
            d = days.get(day)
            if d is None:
                d = days[day] = date.fromisoformat(day)
            events.append((eid, at, d, type_, tid, counter, officer, device, data))
            stream.add(eid, Row(day, type_, at, tid, counter, officer, *r[9:]), facts, voids)
        top = src.execute("SELECT max(id) FROM events").fetchone()[0] or 0
        fact_rows = []
        tgt, happy = self.targets, self.happy
        for eid, seq, f in facts:
            d = days.get(f.day) or date.fromisoformat(f.day)
            ok = None
            if f.kind == WAIT:
                t = tgt.get(f.dept)  # type: ignore[arg-type]
                ok = None if t is None else f.value <= t  # type: ignore[operator]
            elif f.kind == RATING:
                ok = int(f.value) in happy  # type: ignore[arg-type]
            fact_rows.append((eid, seq, d, f.kind, f.dept, f.proc, f.counter, f.officer, f.hour,
                              f.value, ok))
        return events, fact_rows, voids, top

    # --- the hub ----------------------------------------------------------

    async def _connect(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url, timeout=self.connect_timeout,
                                     command_timeout=60, server_settings={
                                         "application_name": f"motcua-site-{self.code or ''}"})
        try:
            row = await conn.fetchrow("SELECT id, code, name FROM hub.sites WHERE role = current_user")
            if row is None:
                raise HubRefused("this credential belongs to no site of the hub "
                                 "(create one with `motcua hub add-site`)")
            if self.code and row["code"].lower() != self.code.lower():
                raise HubRefused(f"this credential is site {row['code']}'s, but the "
                                 f"configuration says site {self.code}")
            version = int(await conn.fetchval(
                "SELECT value FROM hub.meta WHERE key = 'schema_version'") or 0)
            if version < MIN_SCHEMA:
                raise HubRefused(f"the hub's schema is version {version}; run "
                                 f"`motcua hub init` to migrate it to {SCHEMA_VERSION}")
            site_id = int(row["id"])
            self.code = row["code"]
            top, first = await asyncio.to_thread(self._local_state)
            self.local_max = top
            hub_first = await conn.fetchrow(
                "SELECT id, at, type FROM hub.events WHERE site_id = $1 ORDER BY id LIMIT 1",
                site_id)
            hwm = await conn.fetchval(HIGH_WATER, site_id)
            if hub_first is not None and (first is None or tuple(hub_first) != tuple(first)):
                raise HubRefused(
                    f"the hub holds another event log for site {self.code} (its first event "
                    f"is {tuple(hub_first)}, this database's is {first}): is this the site's "
                    "own database?")
            if hwm > top:
                raise HubRefused(f"the hub has events up to {hwm} for site {self.code}, this "
                                 f"database only up to {top}: was it restored from a backup?")
            for stmt in STAGING.strip().split(";"):
                if stmt.strip():
                    await conn.execute(stmt)
            digest = await conn.fetchval(
                "SELECT digest FROM hub.site_config WHERE site_id = $1", site_id)
            if digest != self._config_digest:
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO hub.site_config (site_id, name, config, digest) "
                        "VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT (site_id) DO UPDATE SET "
                        "name = excluded.name, config = excluded.config, "
                        "digest = excluded.digest, updated_at = now()",
                        site_id, self.name or row["name"], self._config_json,
                        self._config_digest)
                    if digest is not None:
                        depts = sorted(self.targets)
                        await conn.execute(REJUDGE[0], site_id, depts,
                                           [self.targets[d] for d in depts])
                        await conn.execute(REJUDGE[1], site_id, depts)
                        await conn.execute(REJUDGE[2], site_id,
                                           [float(v) for v in sorted(self.happy)])
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        self.site_id = site_id
        self.hwm = self.known_mark = int(hwm)
        self._drop_prefetch()  # the fold is rebuilt from the local log up to the hub's mark
        self._next_heartbeat = 0.0

    def _drop_prefetch(self) -> None:
        """Forget a read-ahead batch (its fold went past what the hub has)."""
        if self._prefetch is not None:
            self._prefetch[1].add_done_callback(lambda f: f.cancelled() or f.exception())
            self._prefetch = None
        self._stream = None

    async def _ship_batch(self) -> int:
        """Ship one batch; return how many events went."""
        conn = self._conn
        assert conn is not None and self.hwm is not None and self.site_id is not None
        start = self.hwm
        pre, self._prefetch = self._prefetch, None
        try:
            if pre is not None and pre[0] == start:
                events, facts, voids, top = await pre[1]
            else:
                if pre is not None:
                    self._prefetch = pre
                    self._drop_prefetch()
                events, facts, voids, top = await asyncio.to_thread(self._prepare, start)
        except BaseException:
            self._stream = None
            raise
        self.local_max = max(self.local_max, top)
        if not events:
            return 0
        if len(events) >= self.batch:
            nxt = events[-1][0]
            self._prefetch = (nxt, asyncio.ensure_future(asyncio.to_thread(self._prepare, nxt)))
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_NAMESPACE,
                                   self.site_id)
                if await conn.fetchval(HIGH_WATER, self.site_id) != start:
                    raise _Resync()
                await conn.copy_records_to_table("ship_events", records=events,
                                                  columns=EVENT_COLUMNS)
                await conn.execute(INSERT_EVENTS, self.site_id)
                if facts:
                    await conn.copy_records_to_table("ship_facts", records=facts,
                                                      columns=FACT_COLUMNS)
                    await conn.execute(INSERT_FACTS, self.site_id)
                if voids:
                    await conn.execute(VOID_FACTS, self.site_id, [v.event_id for v in voids],
                                       [v.by for v in voids])
        except BaseException:
            # Whether or not it committed, the hub's mark says what is there;
            # the folded state went past it, so rebuild it from the log.
            self._drop_prefetch()
            self.hwm = None
            raise
        now = time.time()
        self.hwm = self.known_mark = events[-1][0]
        self.shipped += len(events)
        self.batches += 1
        self.last_shipped_at = now
        for ev in events:
            self.lags.append(now - ev[1])
        self.lag_count += len(events)
        return len(events)

    async def _send_heartbeat(self) -> None:
        conn = self._conn
        assert conn is not None
        try:
            state = self.heartbeat_source() if self.heartbeat_source is not None else {}
        except Exception:  # the site's own view failed: still say we are alive
            log.exception("heartbeat source failed")
            state = {}
        day = state.get("day")
        shipping = {"backlog": self.backlog, "hwm": self.hwm, "local_max": self.local_max,
                    "lag_p50": self.lag(0.5), "lag_p99": self.lag(0.99)}
        await conn.execute(HEARTBEAT, self.site_id, time.time(),
                           date.fromisoformat(day) if day else None,
                           json.dumps(state, ensure_ascii=False), json.dumps(shipping))
        self.heartbeats += 1

    async def _run(self) -> None:
        import asyncpg

        delay = 1.0
        while not self._stopping:
            try:
                if self._conn is None:
                    await self._connect()
                    self.state = "connected"
                    self.last_error = None
                    log.info("shipping to the hub as site %s from event %d", self.code, self.hwm)
                    delay = 1.0
                if self.hwm is None:
                    self.hwm = self.known_mark = int(
                        await self._conn.fetchval(HIGH_WATER, self.site_id))
                now = time.monotonic()
                if now >= self._next_heartbeat:
                    self._next_heartbeat = now + self.heartbeat_every
                    await self._send_heartbeat()
                self._wake.clear()
                began = time.monotonic()
                sent = await self._ship_batch()
                if sent >= self.batch:
                    # Catching up: on with the next batch after a pause that
                    # keeps shipping to ``catchup_duty`` of the time.
                    spent = time.monotonic() - began
                    duty = min(1.0, max(0.05, self.catchup_duty))
                    await asyncio.sleep(spent * (1 - duty) / duty)
                    continue
                timeout = max(0.0, min(self.poll, self._next_heartbeat - time.monotonic()))
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    pass
            except asyncio.CancelledError:
                raise
            except _Resync:
                log.warning("the hub's mark moved under this batch; starting again from it")
                continue
            except HubRefused as e:
                self._fail("refused", str(e))
                await self._close()
                await self._sleep(60.0)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError,
                    sqlite3.Error) as e:
                self._fail("down", f"{type(e).__name__}: {e}")
                await self._close()
                await self._sleep(delay * random.uniform(0.8, 1.2))
                delay = min(30.0, delay * 2)
            except Exception as e:  # a bug: keep the site running, keep trying
                log.exception("hub shipping failed")
                self._fail("down", f"{type(e).__name__}: {e}")
                await self._close()
                await self._sleep(30.0)

    def _fail(self, state: str, error: str) -> None:
        if self.state != state or self.last_error != error:
            log.warning("hub %s: %s", state, error)
        self.state = state
        self.last_error = error
        self.failures += 1
        self._drop_prefetch()
        self.hwm = None

    async def _sleep(self, seconds: float) -> None:
        """Wait before retrying, keeping the local backlog figure fresh."""
        end = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < end:
            try:
                top, _ = await asyncio.to_thread(self._local_state)
                self.local_max = max(self.local_max, top)
            except sqlite3.Error:
                pass
            await asyncio.sleep(min(1.0, max(0.0, end - time.monotonic())))
