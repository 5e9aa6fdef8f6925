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
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiosqlite

from .core import CounterState, Outcome, QueueCore, Rating, Ticket, Visit
from .strings import START, both, pair

log = logging.getLogger("motcua.storage")

TICKET_COLS = [f.name for f in fields(Ticket)]
VISIT_COLS = [f.name for f in fields(Visit)]
RATING_COLS = [f.name for f in fields(Rating)]
COUNTER_COLS = [f.name for f in fields(CounterState)]
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
SQL_RATING = f"INSERT INTO ratings ({', '.join(RATING_COLS)}) VALUES ({', '.join('?' * len(RATING_COLS))})"
SQL_EVENT = f"INSERT INTO events ({', '.join(EVENT_COLS)}) VALUES ({', '.join('?' * len(EVENT_COLS))})"
SQL_META = "INSERT INTO meta (key, value) VALUES ('core', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value"


@dataclass
class Rows:
    """One command's rows, copied when it was applied (later commands may
    change the same objects before this is written)."""

    tickets: list[tuple] = field(default_factory=list)
    visits: list[tuple] = field(default_factory=list)
    counters: list[tuple] = field(default_factory=list)
    ratings: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    meta: str | None = None


def rows_for(core: QueueCore, out: Outcome) -> Rows:
    """Copy what ``out`` touched into plain row tuples."""
    rows = Rows()
    rows.tickets = [_row(core.tickets[i]) for i in sorted(out.tickets) if i in core.tickets]
    rows.visits = [_row(core.visits[i]) for i in sorted(out.visits) if i in core.visits]
    rows.counters = [_row(core.counters[n]) for n in sorted(out.counters) if n in core.counters]
    rows.ratings = [_row(r) for r in out.ratings]
    for ev in out.events:
        data = dict(ev.data)
        t = core.tickets.get(ev.ticket_id) if ev.ticket_id is not None else None
        if t is not None:
            # Keep the ticket's state with the event so reports need only the log.
            data["ticket"] = core.ticket_view(t)
        rows.events.append((ev.at, ev.day or core.meta.day, ev.type, ev.ticket_id, ev.counter, ev.officer,
                            ev.device, json.dumps(data, ensure_ascii=False)))
    rows.meta = json.dumps(core.meta_dict(), ensure_ascii=False)
    return rows


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

    async def open(self) -> None:
        """Open (creating if needed) the database and bring its schema up to date.

        Refuses, with :class:`DatabaseUnusable`, a file that could not be
        served from: its folder missing or not writable, not SQLite, damaged
        (``PRAGMA quick_check``), read-only, of an unknown schema version or
        another program's. Nothing is left open when it refuses.
        """
        check_location(self.path)
        try:
            self.db = await aiosqlite.connect(self.path, isolation_level=None)
        except sqlite3.Error as e:
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

    async def load(self, core: QueueCore) -> None:
        """Fill a fresh core from the database: today's tickets, every ticket
        still active, counters, and today's visits and ratings."""
        assert self.db is not None
        async with self.db.execute("SELECT value FROM meta WHERE key='core'") as cur:
            row = await cur.fetchone()
        meta = json.loads(row[0]) if row else None
        day = (meta or {}).get("day", "")
        tickets = [Ticket(*r) for r in await self._all(
            f"SELECT {', '.join(TICKET_COLS)} FROM tickets "
            "WHERE day = ? OR status IN ('waiting', 'called', 'serving') ORDER BY id", day)]
        counters = [CounterState(*r) for r in await self._all(
            f"SELECT {', '.join(COUNTER_COLS)} FROM counters")]
        # Today's visits, and those of tickets still at a counter (served
        # across midnight), which finish/transfer must still close.
        visits = [Visit(*r) for r in await self._all(
            f"SELECT {', '.join(VISIT_COLS)} FROM visits WHERE day = ? OR id IN "
            "(SELECT visit_id FROM tickets WHERE status IN ('called', 'serving')) ORDER BY id",
            day)]
        ratings = [Rating(*r) for r in await self._all(
            f"SELECT {', '.join(RATING_COLS)} FROM ratings WHERE day = ?", day)]
        core.load(meta, tickets, counters, visits, ratings)

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
                await self._commit(batch)
            except Exception as e:  # every waiter must hear about it
                log.exception("commit of %d change(s) failed", len(batch))
                self.failed = True
                while not self._queue.empty():
                    nxt = self._queue.get_nowait()
                    if nxt is None:
                        stop = True
                    else:
                        batch.append(nxt)
                for j in batch:
                    if j.done.done():
                        continue
                    if j.barrier:
                        j.done.set_result(None)  # its caller checks `failed`
                    else:
                        j.done.set_exception(StorageError(str(e)))
                continue
            real = sum(1 for j in batch if not j.barrier)
            if real:
                self.commits += 1
                self.changes += real
            for j in batch:
                if j.after is not None:
                    try:
                        j.after()
                    except Exception:
                        log.exception("post-commit step failed")
                if not j.done.done():
                    j.done.set_result(None)

    async def _commit(self, batch: list[_Job]) -> None:
        db = self.db
        assert db is not None
        tickets, visits, counters, ratings, events = [], [], [], [], []
        meta = None
        if all(j.barrier for j in batch):
            return
        for j in batch:
            tickets += j.rows.tickets
            visits += j.rows.visits
            counters += j.rows.counters
            ratings += j.rows.ratings
            events += j.rows.events
            meta = j.rows.meta or meta
        await db.execute("BEGIN IMMEDIATE")
        try:
            if tickets:
                await db.executemany(SQL_TICKET, tickets)
            if visits:
                await db.executemany(SQL_VISIT, visits)
            if counters:
                await db.executemany(SQL_COUNTER, counters)
            if ratings:
                await db.executemany(SQL_RATING, ratings)
            if events:
                await db.executemany(SQL_EVENT, events)
            if meta is not None:
                await db.execute(SQL_META, (meta,))
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise


class StorageError(Exception):
    """A commit failed; the change it carried was not recorded."""


class DatabaseUnusable(RuntimeError):
    """The database file can't be served from. ``message`` says why in
    Vietnamese, ``message_en`` in English (keys of :data:`strings.START`)."""

    def __init__(self, key: str, **params: Any) -> None:
        self.key = key
        self.message, self.message_en = pair(START, key, **params)
        super().__init__(both(self.message, self.message_en))


SQLITE_HEADER = b"SQLite format 3\x00"


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
