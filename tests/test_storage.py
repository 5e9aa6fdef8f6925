"""Storage: schema versions, the append-only event log, durable writes."""

from __future__ import annotations

import sqlite3

import pytest

from motcua.server.core import QueueCore
from motcua.server.storage import SCHEMA_VERSION, Store, rows_for


async def test_schema_is_versioned_and_reopened(tmp_path, open_config):
    path = tmp_path / "s.db"
    for _ in range(2):
        store = Store(path)
        await store.open()
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    store = Store(path)
    with pytest.raises(RuntimeError, match="upgrade motcua"):
        await store.open()
    await store.close()


async def test_event_log_is_append_only(tmp_path, open_config):
    from datetime import datetime, timezone
    store = Store(tmp_path / "e.db")
    await store.open()
    core = QueueCore(open_config, lambda: datetime.now(timezone.utc))
    out = core.issue("TP", device="k", request_id="1")
    await store.write(rows_for(core, out))
    await store.close()
    with sqlite3.connect(tmp_path / "e.db") as db:
        types = [r[0] for r in db.execute("SELECT type FROM events ORDER BY id")]
        assert "ticket_issued" in types
        for stmt in ("UPDATE events SET type='x'", "DELETE FROM events"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(stmt)


async def test_duplicate_number_is_refused_by_the_database(tmp_path, open_config):
    from datetime import datetime, timezone
    from motcua.server.storage import StorageError
    store = Store(tmp_path / "d.db")
    await store.open()
    core = QueueCore(open_config, lambda: datetime.now(timezone.utc))
    out = core.issue("TP")
    await store.write(rows_for(core, out))
    # a second core that lost its numbering would re-issue A001: the file refuses it
    other = QueueCore(open_config, lambda: datetime.now(timezone.utc))
    other.meta.next_ticket = 99
    dup = other.issue("TP")
    with pytest.raises(StorageError):
        await store.write(rows_for(other, dup))
    await store.close()
    with sqlite3.connect(tmp_path / "d.db") as db:
        assert db.execute("SELECT count(*) FROM tickets").fetchone()[0] == 1


async def test_failed_commit_is_not_acknowledged_and_state_reloads(harness):
    """A real SQLite failure (a trigger that aborts) on one change: the client
    gets a `storage` error, nothing of it is kept, and the server carries on."""
    from motcua.client import ServerError
    with sqlite3.connect(harness.db) as db:
        db.execute("CREATE TRIGGER fail BEFORE INSERT ON tickets WHEN NEW.department = 'XD' "
                   "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
    kiosk = await harness.client("kiosk")
    await kiosk.request("issue", department="TP", request_id="ok-1")
    with pytest.raises(ServerError) as e:
        await kiosk.request("issue", department="XD", request_id="bad-1")
    assert e.value.code == "storage"
    with sqlite3.connect(harness.db) as db:
        db.execute("DROP TRIGGER fail")
    # the failed ticket's number was never handed out, so it is issued now
    retry = await kiosk.request("issue", department="XD", request_id="bad-1")
    assert retry["ticket"]["number"].endswith("001") and not retry["repeat"]
    again = await kiosk.request("issue", department="TP", request_id="ok-2")
    assert again["ticket"]["number"] == "A002"
    with sqlite3.connect(harness.db) as db:
        assert db.execute("SELECT count(*) FROM tickets").fetchone()[0] == 3


async def test_day_rollover_is_persisted_across_a_restart(tmp_path, open_config):
    """Yesterday's waiting and called tickets are stored as expired, so a new
    server process does not bring them back into today's queue."""
    from datetime import datetime, timedelta, timezone
    from conftest import Harness
    now = [datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)]  # 10:00 in Hà Nội
    h = Harness(open_config, tmp_path / "r.db", clock=lambda: now[0])
    await h.start()
    try:
        kiosk = await h.client("kiosk")
        counter = await h.client("counter", counter=1)
        await counter.request("login", officer="cb01", pin="1234")
        for i in range(3):
            await kiosk.request("issue", department="TP", request_id=f"d1-{i}")
        await counter.request("call_next")
        now[0] += timedelta(days=1)
        t = await kiosk.request("issue", department="TP", request_id="d2-0")
        assert t["ticket"]["number"] == "A001" and t["ticket"]["day"] == "2026-11-24"
        await h.restart()
        await kiosk.wait_ready(5)
        assert kiosk.state.departments["TP"]["waiting"] == 1
        with sqlite3.connect(h.db) as db:
            rows = db.execute("SELECT day, status FROM tickets ORDER BY id").fetchall()
            visit = db.execute("SELECT outcome FROM visits").fetchone()
        assert rows == [("2026-11-23", "expired")] * 3 + [("2026-11-24", "waiting")]
        assert visit == ("expired",)
        assert h.server.core.counters[1].ticket_id is None
    finally:
        await h.close()
