"""SQLite storage through aiosqlite: schema, migrations, load and durable writes.

The server applies a command to the pure core, turns the outcome into rows
(:func:`rows_for`), and hands them to :class:`Store.write`. One writer task
commits them in ``BEGIN IMMEDIATE`` transactions. When several commands are
waiting at once they share one commit (group commit): each command's rows are
still all-or-nothing, and nobody is answered before the commit returns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import tempfile
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiosqlite

from motcua.protocol import encode_text

from .booking import Booking
from .core import CounterState, Meta, Outcome, QueueCore, Rating, Ticket, Visit
from .strings import START, both, pair

log = logging.getLogger("motcua.storage")

TICKET_COLS = [f.name for f in fields(Ticket)]
VISIT_COLS = [f.name for f in fields(Visit)]
RATING_COLS = [f.name for f in fields(Rating)]
COUNTER_COLS = [f.name for f in fields(CounterState)]
BOOKING_COLS = [f.name for f in fields(Booking)]
EVENT_COLS = ["at", "day", "type", "ticket_id", "counter", "officer", "device", "data"]

# Each entry migrates the schema from version i to i+1. Never edit a landed
# migration: add a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE tickets (
        id INTEGER PRIMARY KEY, day TEXT NOT NULL, number TEXT NOT NULL,
        department TEXT NOT NULL, procedure TEXT, priority TEXT, status TEXT NOT NULL,
        issued_at REAL NOT NULL, device TEXT, request_id TEXT, band INTEGER NOT NULL,
        queued_at REAL NOT NULL, counter INTEGER, officer TEXT, called_at REAL,
        started_at REAL, finished_at REAL, recalls INTEGER NOT NULL DEFAULT 0,
        transfers INTEGER NOT NULL DEFAULT 0, note TEXT, visit_id INTEGER,
        UNIQUE (day, number)
    );
    CREATE UNIQUE INDEX tickets_request ON tickets (device, request_id)
        WHERE request_id IS NOT NULL;
    CREATE INDEX tickets_status ON tickets (status);
    CREATE TABLE visits (
        id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL, number TEXT NOT NULL,
        day TEXT NOT NULL, counter INTEGER NOT NULL, officer TEXT, department TEXT NOT NULL,
        procedure TEXT, called_at REAL NOT NULL, started_at REAL, ended_at REAL,
        outcome TEXT, rated INTEGER
    );
    CREATE INDEX visits_day ON visits (day);
    CREATE TABLE ratings (
        visit_id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL, day TEXT NOT NULL,
        counter INTEGER NOT NULL, officer TEXT, department TEXT NOT NULL, procedure TEXT,
        value INTEGER NOT NULL, reason TEXT, at REAL NOT NULL, device TEXT, request_id TEXT
    );
    CREATE INDEX ratings_day ON ratings (day);
    CREATE TABLE counters (
        number INTEGER PRIMARY KEY, status TEXT NOT NULL, officer TEXT, reason TEXT,
        ticket_id INTEGER, since REAL NOT NULL, priority_streak INTEGER NOT NULL
    );
    -- Append-only audit log: every change, who, which device, when.
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, day TEXT NOT NULL,
        type TEXT NOT NULL, ticket_id INTEGER, counter INTEGER, officer TEXT,
        device TEXT, data TEXT NOT NULL
    );
    CREATE INDEX events_day ON events (day, type);
    CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    """,
    # 2: idempotency keys are per day, as in memory (a retry of yesterday's
    # request_id used to fail the whole shared commit); the counter's login
    # session; the running state one row per field, so a commit rewrites
    # only the fields it changed.
    """
    DROP INDEX tickets_request;
    CREATE UNIQUE INDEX tickets_request ON tickets (day, device, request_id)
        WHERE request_id IS NOT NULL;
    ALTER TABLE counters ADD COLUMN session TEXT;
    INSERT INTO meta (key, value) SELECT 'core.' || j.key,
        CASE j.type WHEN 'text' THEN json_quote(j.value) WHEN 'true' THEN 'true'
            WHEN 'false' THEN 'false' WHEN 'null' THEN 'null' ELSE CAST(j.value AS TEXT) END
        FROM meta AS m, json_each(m.value) AS j WHERE m.key = 'core';
    DELETE FROM meta WHERE key = 'core';
    """,
    # 3: the citizen web (motcua.web): the key its ticket links are derived
    # from, and the phone numbers citizens left to be told when to come back
    # (kept for their day only; web.live deletes older rows).
    """
    INSERT OR IGNORE INTO meta (key, value) VALUES ('web.key', json_quote(lower(hex(randomblob(32)))));
    CREATE TABLE citizen_alerts (
        ticket_id INTEGER PRIMARY KEY, day TEXT NOT NULL, phone TEXT NOT NULL,
        lang TEXT NOT NULL, near TEXT, called TEXT, changes INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL
    );
    CREATE INDEX citizen_alerts_day ON citizen_alerts (day);
    """,
    # 4: running the center without editing its file (server/admin_store.py):
    # enrolled devices (only a digest of each secret), managers' accounts, the
    # configuration's versions (each a zlib-compressed JSON document; the
    # history is append-only) and the officers' PIN hashes, kept apart from
    # the documents so that old versions never hold them.
    """
    CREATE TABLE devices (
        name TEXT PRIMARY KEY, role TEXT NOT NULL, counter INTEGER,
        digest TEXT NOT NULL UNIQUE, created_at REAL NOT NULL, created_by TEXT,
        revoked_at REAL, revoked_by TEXT, revoke_reason TEXT, last_seen REAL, last_address TEXT
    );
    CREATE TABLE managers (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, created_by TEXT
    );
    CREATE TABLE config_versions (
        version INTEGER PRIMARY KEY, at REAL NOT NULL, by TEXT, reason TEXT, change TEXT,
        doc BLOB NOT NULL
    );
    CREATE TRIGGER config_versions_append_only_update BEFORE UPDATE ON config_versions
        BEGIN SELECT RAISE(ABORT, 'the configuration history is append-only'); END;
    CREATE TRIGGER config_versions_append_only_delete BEFORE DELETE ON config_versions
        BEGIN SELECT RAISE(ABORT, 'the configuration history is append-only'); END;
    CREATE TABLE officer_pins (
        officer TEXT PRIMARY KEY, pin_hash TEXT NOT NULL, updated_at REAL NOT NULL
    );
    """,
    # 5: appointments (server/booking.py): the bookings, with the citizen's
    # name, phone and ID number for the officer to check (never in the event
    # log); a ticket's booking and the slot it is due at; a counter's run of
    # booked calls.
    """
    CREATE TABLE bookings (
        code TEXT NOT NULL, day TEXT NOT NULL, slot TEXT NOT NULL, department TEXT NOT NULL,
        procedure TEXT NOT NULL, name TEXT NOT NULL, phone TEXT, id_number TEXT,
        source TEXT NOT NULL, created_at REAL NOT NULL, created_by TEXT,
        status TEXT NOT NULL, ticket_id INTEGER, checked_in_at REAL,
        PRIMARY KEY (code, day)
    );
    CREATE INDEX bookings_day ON bookings (day, department, slot);
    ALTER TABLE tickets ADD COLUMN booking TEXT;
    ALTER TABLE tickets ADD COLUMN slot REAL;
    ALTER TABLE counters ADD COLUMN booked_streak INTEGER NOT NULL DEFAULT 0;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def _upsert(table: str, cols: list[str], key: str) -> str:
    # ON CONFLICT DO UPDATE (not INSERT OR REPLACE): REPLACE would silently
    # delete another row that collides on UNIQUE(day, number).
    sets = ", ".join(f"{c}=excluded.{c}" for c in cols if c != key)
    return (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT({key}) DO UPDATE SET {sets}")


SQL_TICKET = _upsert("tickets", TICKET_COLS, "id")
SQL_VISIT = _upsert("visits", VISIT_COLS, "id")
SQL_COUNTER = _upsert("counters", COUNTER_COLS, "number")
SQL_BOOKING = _upsert("bookings", BOOKING_COLS, "code, day")
SQL_RATING = f"INSERT INTO ratings ({', '.join(RATING_COLS)}) VALUES ({', '.join('?' * len(RATING_COLS))})"
SQL_EVENT = f"INSERT INTO events ({', '.join(EVENT_COLS)}) VALUES ({', '.join('?' * len(EVENT_COLS))})"
SQL_META = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value"
#: Prefix of the meta rows that hold the core's running state (one per field).
META_PREFIX = "core."


@dataclass
class Rows:
    """One command's rows, copied when it was applied (later commands may
    change the same objects before this is written)."""

    tickets: list[tuple] = field(default_factory=list)
    visits: list[tuple] = field(default_factory=list)
    counters: list[tuple] = field(default_factory=list)
    ratings: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    bookings: list[tuple] = field(default_factory=list)
    #: (key, JSON) of each meta field the command changed.
    meta: list[tuple[str, str]] = field(default_factory=list)
    #: Further statements of the same transaction, in order: (SQL, parameters)
    #: for the administration's tables (server/admin_store.py).
    extra: list[tuple[str, tuple]] = field(default_factory=list)


def rows_for(core: QueueCore, out: Outcome, views: dict[int, dict] | None = None) -> Rows:
    """Copy what ``out`` touched into plain row tuples. ``views`` are ticket
    views already built for this outcome (:func:`ticket_views`)."""
    if views is None:
        views = ticket_views(core, out)
    rows = Rows()
    rows.tickets = [_row(core.tickets[i]) for i in sorted(out.tickets) if i in core.tickets]
    rows.visits = [_row(core.visits[i]) for i in sorted(out.visits) if i in core.visits]
    rows.counters = [_row(core.counters[n]) for n in sorted(out.counters) if n in core.counters]
    rows.ratings = [_row(r) for r in out.ratings]
    rows.bookings = [_row(core.bookings[c]) for c in sorted(out.bookings) if c in core.bookings]
    for ev in out.events:
        data = ev.data
        view = views.get(ev.ticket_id) if ev.ticket_id is not None else None
        if view is not None:
            # Keep the ticket's state with the event so reports need only the log.
            data = {**data, "ticket": view}
        rows.events.append((ev.at, ev.day or core.meta.day, ev.type, ev.ticket_id, ev.counter,
                            ev.officer, ev.device, encode_text(data)))
    rows.meta = meta_rows(core, out.meta)
    return rows


def ticket_views(core: QueueCore, out: Outcome) -> dict[int, dict]:
    """The wire view of each ticket an outcome touched, built once for the
    log, the events and the broadcast alike."""
    tickets = core.tickets
    ids = set(out.tickets)
    ids.update(ev.ticket_id for ev in out.events if ev.ticket_id is not None)
    return {tid: core.ticket_view(tickets[tid]) for tid in ids if tid in tickets}


def meta_rows(core: QueueCore, keys: Any = None) -> list[tuple[str, str]]:
    """(key, JSON) rows of the core's running state: the fields named in
    ``keys``, or all of them."""
    state = core.meta.__dict__
    names = sorted(keys) if keys is not None else list(state)
    return [(META_PREFIX + k, encode_text(state[k])) for k in names]


def meta_from_rows(rows: list[tuple[str, str]]) -> dict[str, Any] | None:
    """The core's running state from its meta rows (unknown fields skipped)."""
    known = {f.name for f in fields(Meta)}
    meta = {k[len(META_PREFIX):]: json.loads(v) for k, v in rows if k.startswith(META_PREFIX)}
    meta = {k: v for k, v in meta.items() if k in known}
    return meta or None


def _row(obj: Any) -> tuple:
    # A dataclass's __dict__ holds its fields in declaration order, which is
    # the column order; much cheaper than dataclasses.astuple's deep copy.
    return tuple(obj.__dict__.values())


@dataclass
class _Job:
    rows: Rows
    after: Callable[[], None] | None
    done: asyncio.Future
    barrier: bool = False  # writes nothing; resolves once everything before it is done


class Store:
    """The SQLite file and its single writer."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self.commits = 0
        self.changes = 0
        # Set when a commit fails: every change applied after it was built on
        # state the file doesn't have, so writes are refused until the owner
        # reloads its state and calls reset().
        self.failed = False

    async def open(self, *, exclusive: bool = True) -> None:
        """Open (creating if needed) the database and bring its schema up to date.

        Refuses, with :class:`DatabaseUnusable`, a file that could not be
        served from: its folder missing or not writable, not SQLite, damaged
        (``PRAGMA quick_check``), read-only, of an unknown schema version or
        another program's. Nothing is left open when it refuses.
        """
        check_location(self.path)
        # The server holds the file alone; a command-line tool beside it
        # (`motcua devices add`) writes through SQLite's own locking.
        self._lock = _take_lock(self.path) if exclusive else None
        try:
            self.db = await aiosqlite.connect(self.path, isolation_level=None)
        except sqlite3.Error as e:
            self._release_lock()
            raise unusable(e, self.path) from e
        try:
            await self._check_file()
            async with self.db.execute("PRAGMA journal_mode=WAL") as cur:
                (mode,) = await cur.fetchone()
            if str(mode).lower() != "wal":
                raise DatabaseUnusable("db_failed", path=self.path,
                                       reason=f"journal_mode={mode}, WAL expected")
            # FULL: a commit is on disk (WAL fsynced) before anybody is answered.
            await self.db.execute("PRAGMA synchronous=FULL")
            await self.db.execute("PRAGMA busy_timeout=5000")
            await self.db.execute("PRAGMA foreign_keys=ON")
            await self._migrate()
        except BaseException as e:
            db, self.db = self.db, None
            await db.close()  # else aiosqlite's thread keeps the process alive
            self._release_lock()
            if isinstance(e, sqlite3.Error):
                raise unusable(e, self.path) from e
            raise
        self._writer = asyncio.create_task(self._write_loop(), name="motcua-writer")

    async def _check_file(self) -> None:
        """The file is intact and can be written (before anything depends on it)."""
        assert self.db is not None
        async with self.db.execute("PRAGMA quick_check(3)") as cur:
            problems = [str(r[0]) for r in await cur.fetchall()]
        if problems != ["ok"]:
            detail = " ".join("; ".join(problems).split())  # one line, however SQLite wraps it
            raise DatabaseUnusable("db_damaged", path=self.path,
                                   detail=detail[:160] + ("…" if len(detail) > 160 else ""))
        # A read-only file opens and reads fine, then fails every write: ask
        # for the write lock now (nothing is written, it is rolled back).
        await self.db.execute("BEGIN IMMEDIATE")
        await self.db.execute("ROLLBACK")

    async def _migrate(self) -> None:
        assert self.db is not None
        async with self.db.execute("PRAGMA user_version") as cur:
            (version,) = await cur.fetchone()
        if version < 0:
            raise DatabaseUnusable("db_bad_version", path=self.path, version=version)
        if version > SCHEMA_VERSION:
            raise DatabaseUnusable("db_newer", path=self.path, version=version,
                                   supported=SCHEMA_VERSION)
        if version == 0:
            async with self.db.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name") as cur:
                tables = [r[0] for r in await cur.fetchall()]
            if tables:  # not ours: never create our tables among another program's
                raise DatabaseUnusable("db_foreign", path=self.path,
                                       tables=", ".join(tables[:5]))
        for i in range(version, SCHEMA_VERSION):
            log.info("migrating %s to schema version %d", self.path, i + 1)
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _statements(MIGRATIONS[i]):
                    await self.db.execute(stmt)
                await self.db.execute(f"PRAGMA user_version={i + 1}")
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        """Finish pending writes and close the file (nothing to do if it never opened)."""
        if self._writer is not None:
            await self._queue.put(None)
            await self._writer
            self._writer = None
        if self.db is not None:
            await self.db.close()
            self.db = None
        self._release_lock()

    def _release_lock(self) -> None:
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is not None:
            lock.close()  # closing the file releases the lock

    async def load(self, core: QueueCore) -> None:
        """Fill a fresh core from the database: today's tickets, every ticket
        still active, counters, today's visits and ratings, and the visits
        that can still be rated (one that ended just before midnight)."""
        assert self.db is not None
        meta = meta_from_rows(await self._all("SELECT key, value FROM meta"))
        day = (meta or {}).get("day", "")
        since = core.clock().timestamp() - core.config.rating_window_seconds
        since_day = datetime.fromtimestamp(since, core.config.tz).date().isoformat()
        tickets = [Ticket(*r) for r in await self._all(
            f"SELECT {', '.join(TICKET_COLS)} FROM tickets "
            "WHERE day = ? OR status IN ('waiting', 'called', 'serving') ORDER BY id", day)]
        counters = [CounterState(*r) for r in await self._all(
            f"SELECT {', '.join(COUNTER_COLS)} FROM counters")]
        # Today's visits, those of tickets still at a counter (served across
        # midnight), which finish/transfer must still close, and those still
        # inside the rating window.
        visits = [Visit(*r) for r in await self._all(
            f"SELECT {', '.join(VISIT_COLS)} FROM visits WHERE day = ? OR id IN "
            "(SELECT visit_id FROM tickets WHERE status IN ('called', 'serving')) "
            "OR (day >= ? AND ended_at >= ?) ORDER BY id", day, since_day, since)]
        loaded = {v.id for v in visits}
        ratings = [Rating(*r) for r in await self._all(
            f"SELECT {', '.join(RATING_COLS)} FROM ratings WHERE day = ? OR day >= ?",
            day, since_day) if r[0] in loaded or r[2] == day]
        core.load(meta, tickets, counters, visits, ratings, await self.bookings_from(day))

    async def bookings_from(self, day: str) -> list[Booking]:
        """The bookings of ``day`` and later."""
        return [Booking(*r) for r in await self._all(
            f"SELECT {', '.join(BOOKING_COLS)} FROM bookings WHERE day >= ? ORDER BY day, slot",
            day)]

    async def _all(self, sql: str, *params: Any) -> list[tuple]:
        assert self.db is not None
        async with self.db.execute(sql, params) as cur:
            return list(await cur.fetchall())

    def write(self, rows: Rows, after: Callable[[], None] | None = None) -> Awaitable[None]:
        """Queue rows for the next commit. ``after`` runs right after that
        commit, in submission order (the server broadcasts there), and the
        returned future resolves once the rows are durable."""
        done = asyncio.get_running_loop().create_future()
        if self.failed:
            done.set_exception(StorageError("an earlier commit failed; state must be reloaded"))
            return done
        self._queue.put_nowait(_Job(rows, after, done))
        return done

    async def barrier(self) -> None:
        """Wait until every write queued before this call has committed or
        failed. Raises :class:`StorageError` if the store is (now) failed."""
        done = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(Rows(), None, done, barrier=True))
        await done
        if self.failed:
            raise StorageError("an earlier commit failed; state must be reloaded")

    def mark_failed(self) -> None:
        """Refuse writes until reset(): memory no longer matches the file."""
        self.failed = True

    def reset(self) -> None:
        """Accept writes again (after the owner reloaded its state)."""
        self.failed = False

    async def _write_loop(self) -> None:
        assert self.db is not None
        stop = False
        while not stop:
            job = await self._queue.get()
            if job is None:
                break
            batch = [job]
            while not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            try:
                bad, why = await self._commit(batch)
            except Exception as e:  # every waiter must hear about it
                log.exception("commit of %d change(s) failed", len(batch))
                stop = self._fail_all(batch, StorageError(str(e))) or stop
                continue
            committed = batch if bad is None else batch[:bad]
            real = sum(1 for j in committed if not j.barrier)
            if real:
                self.commits += 1
                self.changes += real
            # Answer first, then broadcast: each waiter's wake-up is queued
            # now, the post-commit steps after them on the same loop, so the
            # officer's reply doesn't wait for a fan-out to 2,000 TVs.
            for j in committed:
                if not j.done.done():
                    j.done.set_result(None)
            afters = [j.after for j in committed if j.after is not None]
            if afters:
                asyncio.get_running_loop().call_soon(_run_all, afters)
            if bad is not None:
                # One change the file refused: the changes before it are
                # committed; it is refused; the ones after it were built on
                # it in memory, so they are not written now but handed back
                # to be applied afresh once memory is reloaded from the file.
                log.error("a change was refused by the database (%s); %d later change(s) "
                          "will be applied again", why, len(batch) - bad - 1)
                batch[bad].done.set_exception(StorageError(f"refused by the database: {why}"))
                stop = self._fail_all(batch[bad + 1:], Superseded(why)) or stop

    def _fail_all(self, jobs: list[_Job], error: StorageError) -> bool:
        """Mark the store failed and fail ``jobs`` and everything queued after
        them. Returns True if a stop was queued meanwhile."""
        self.failed = True
        stop = False
        jobs = list(jobs)
        while not self._queue.empty():
            nxt = self._queue.get_nowait()
            if nxt is None:
                stop = True
            else:
                jobs.append(nxt)
        for j in jobs:
            if j.done.done():
                continue
            if j.barrier:
                j.done.set_result(None)  # its caller checks `failed`
            else:
                j.done.set_exception(Superseded(str(error)) if isinstance(error, Superseded)
                                     else StorageError(str(error)))
        return stop

    async def _commit(self, batch: list[_Job]) -> tuple[int | None, str]:
        """Commit a batch. Returns (None, "") when all of it is committed, or
        (i, reason) when the database refused job i's rows (a constraint):
        then jobs before i are committed and i and the rest are not."""
        if all(j.barrier for j in batch):
            return None, ""
        try:
            await self._write_rows([j.rows for j in batch])
            return None, ""
        except sqlite3.IntegrityError as e:
            first_error = str(e)
        # One change broke a constraint. Find it, one savepoint per change,
        # so that it fails alone instead of taking every other client's
        # change in this shared commit down with it.
        db = self.db
        assert db is not None
        await db.execute("BEGIN IMMEDIATE")
        try:
            for i, j in enumerate(batch):
                if j.barrier:
                    continue
                await db.execute("SAVEPOINT job")
                try:
                    await self._write_job(j.rows)
                except sqlite3.IntegrityError as e:
                    await db.execute("ROLLBACK TO job")
                    await db.execute("RELEASE job")
                    await db.execute("COMMIT")
                    return i, str(e)
                await db.execute("RELEASE job")
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        log.warning("a shared commit failed (%s) but its changes pass one by one", first_error)
        return None, ""

    async def _write_rows(self, all_rows: list[Rows]) -> None:
        """Write several changes' rows in one transaction (the fast path): the
        whole transaction is one hand-off to the database thread."""
        db = self.db
        assert db is not None
        merged = Rows()
        meta: dict[str, str] = {}
        for rows in all_rows:
            merged.tickets += rows.tickets
            merged.visits += rows.visits
            merged.counters += rows.counters
            merged.ratings += rows.ratings
            merged.events += rows.events
            merged.bookings += rows.bookings
            merged.extra += rows.extra
            meta.update(rows.meta)  # a later change's value of a field wins
        merged.meta = list(meta.items())
        run_in_thread = getattr(db, "_execute", None)
        if run_in_thread is not None:
            # aiosqlite runs every call on its own thread; one call for the
            # whole transaction instead of one per statement (BEGIN, each
            # table, COMMIT) saves several thread hops per commit. It is
            # aiosqlite's internal runner (stable since 0.17); without it
            # the statements go one by one.
            await run_in_thread(_write_transaction, db._conn, merged)
            return
        await db.execute("BEGIN IMMEDIATE")
        try:
            await self._write_job(merged)
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise

    async def _write_job(self, rows: Rows) -> None:
        db = self.db
        assert db is not None
        for sql, rows_of in _STATEMENTS:
            if rows_of(rows):
                await db.executemany(sql, rows_of(rows))
        for sql, params in rows.extra:
            await db.execute(sql, params)


#: What a commit writes, table by table, in this order.
_STATEMENTS: tuple[tuple[str, Callable[[Rows], list]], ...] = (
    (SQL_TICKET, lambda r: r.tickets), (SQL_VISIT, lambda r: r.visits),
    (SQL_COUNTER, lambda r: r.counters), (SQL_RATING, lambda r: r.ratings),
    (SQL_EVENT, lambda r: r.events), (SQL_META, lambda r: r.meta),
    (SQL_BOOKING, lambda r: r.bookings),
)


def _write_transaction(conn: sqlite3.Connection, rows: Rows) -> None:
    """One transaction on the database thread (see Store._write_rows)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, rows_of in _STATEMENTS:
            if rows_of(rows):
                conn.executemany(sql, rows_of(rows))
        for sql, params in rows.extra:
            conn.execute(sql, params)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _run_all(steps: list[Callable[[], None]]) -> None:
    for step in steps:
        try:
            step()
        except Exception:
            log.exception("post-commit step failed")


class StorageError(Exception):
    """A commit failed; the change it carried was not recorded."""


class Superseded(StorageError):
    """This change was not written because an earlier one in the same commit
    was refused; it was never recorded and may be applied again as it is."""
class DatabaseUnusable(RuntimeError):
    """The database file can't be served from. ``message`` says why in
    Vietnamese, ``message_en`` in English (keys of :data:`strings.START`)."""

    def __init__(self, key: str, **params: Any) -> None:
        self.key = key
        self.message, self.message_en = pair(START, key, **params)
        super().__init__(both(self.message, self.message_en))


SQLITE_HEADER = b"SQLite format 3\x00"


def _take_lock(path: Path) -> Any:
    """Hold an exclusive lock on ``<db>.lock`` for as long as the server
    runs: two servers on one file would each number tickets from their own
    memory and hand out the same numbers. Released when the file object is
    closed (also when the process dies). None where locking isn't available."""
    try:
        import fcntl
    except ImportError:  # not POSIX: SQLite's own locking still guards each write
        return None
    lock_path = path.with_name(path.name + ".lock")
    try:
        f = open(lock_path, "a+")
    except OSError as e:
        raise DatabaseUnusable("db_folder_readonly", folder=path.parent) from e
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        f.close()
        raise DatabaseUnusable("db_in_use", path=path) from e
    return f


def check_location(path: Path) -> None:
    """What can be told before SQLite opens ``path``: it is no folder, its
    folder exists (made if needed) and is writable (WAL keeps ``-wal`` and
    ``-shm`` files beside it), and an existing file is SQLite and writable."""
    if path.is_dir():
        raise DatabaseUnusable("db_is_folder", path=path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatabaseUnusable("db_folder", folder=folder, reason=e.strerror or e) from e
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise DatabaseUnusable("db_folder_readonly", folder=folder) from e
    if not path.exists():
        return
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError as e:
        raise DatabaseUnusable("db_unreadable", path=path, reason=e.strerror or e) from e
    if head and head != SQLITE_HEADER:  # an empty file is a new database to SQLite
        raise DatabaseUnusable("db_not_sqlite", path=path)
    try:
        with open(path, "r+b"):
            pass
    except PermissionError as e:
        raise DatabaseUnusable("db_readonly", path=path) from e
    except OSError as e:
        raise DatabaseUnusable("db_unreadable", path=path, reason=e.strerror or e) from e


def unusable(e: sqlite3.Error, path: Path) -> DatabaseUnusable:
    """An SQLite error while opening, as the reason the file can't be used."""
    name = getattr(e, "sqlite_errorname", "") or ""
    text = str(e)
    if name == "SQLITE_NOTADB" or "not a database" in text:
        return DatabaseUnusable("db_not_sqlite", path=path)
    if name.startswith("SQLITE_CORRUPT") or "malformed" in text:
        return DatabaseUnusable("db_damaged", path=path, detail=text)
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return DatabaseUnusable("db_readonly", path=path)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return DatabaseUnusable("db_locked", path=path)
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return DatabaseUnusable("db_unreadable", path=path, reason=text)
    return DatabaseUnusable("db_failed", path=path, reason=text)


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (triggers contain ';')."""
    out, buf = [], []
    for line in script.strip().splitlines():
        if line.strip().startswith("--"):
            continue
        buf.append(line)
        joined = "\n".join(buf).strip()
        if joined.endswith(";") and (not joined.upper().startswith("CREATE TRIGGER")
                                     or joined.upper().endswith("END;")):
            out.append(joined)
            buf = []
    if "\n".join(buf).strip():
        out.append("\n".join(buf).strip())
    return out
