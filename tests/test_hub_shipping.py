"""Sites shipping their event logs to the province hub on a real PostgreSQL:
two real site servers at once, the hub killed mid-batch and restarted, a
site a week offline catching up, and the queue never waiting for the hub."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

import asyncpg
import pytest

from motcua.client import connect_once
from motcua.hub.embedded import EmbeddedPostgres
from motcua.hub.schema import add_site, ensure_database, migrate, site_url
from motcua.hub.shipper import Shipper
from motcua.hub.report import hub_report
from motcua.reports.engine import ReportEngine
from motcua.server.app import MotcuaServer
from motcua.sim.run import SqliteSink, simulate_days

from conftest import TOKENS, wait_for

START = date(2026, 11, 23)


def local_ids(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [r[0] for r in db.execute("SELECT id FROM events ORDER BY id")]


async def hub_ids(conn, code: str) -> list[int]:
    return [r[0] for r in await conn.fetch(
        "SELECT e.id FROM hub.events e JOIN hub.sites s ON s.id = e.site_id "
        "WHERE s.code = $1 ORDER BY e.id", code)]


def http(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


async def traffic(port: int, prefix: str, tickets: int, serve: int) -> None:
    """Take ``tickets`` numbers at a kiosk and serve ``serve`` of them."""
    url = f"ws://127.0.0.1:{port}"
    kiosk = await connect_once(url, "kiosk", f"{prefix}-kiosk", TOKENS["kiosk"])
    counter = await connect_once(url, "counter", f"{prefix}-c1", TOKENS["counter"], counter=1)
    try:
        for i in range(tickets):
            await kiosk.request("issue", department="TP", request_id=f"{prefix}-{i}")
        await counter.request("login", officer="cb01", pin="1234")
        for _ in range(serve):
            await counter.request("call_next")
            await counter.request("start")
            await counter.request("finish")
    finally:
        await kiosk.close()
        await counter.close()


async def test_two_real_sites_ship_to_one_hub(open_config, hub, tmp_path):
    urls = {code: await hub.add_site(code) for code in ("XA01", "XA02")}
    servers = {}
    try:
        for code in urls:
            srv = MotcuaServer(open_config, tmp_path / f"{code}.db", port=0, hub=urls[code])
            await srv.start()
            servers[code] = srv
        await asyncio.gather(traffic(servers["XA01"].port, "a", 12, 5),
                             traffic(servers["XA02"].port, "b", 7, 3))
        for code, srv in servers.items():
            want = local_ids(srv.store.path)
            await wait_for(lambda: srv.shipper.hwm == want[-1], 10)
            assert await hub_ids(hub.conn, code) == want
        # The config went too (no tokens, no PINs), and a heartbeat.
        cfg = await hub.conn.fetchval(
            "SELECT config::text FROM hub.site_config c JOIN hub.sites s ON s.id = c.site_id "
            "WHERE s.code = 'XA01'")
        assert "Sở Tư pháp" in cfg and "pin_hash" not in cfg and "kiosk-demo" not in cfg
        await wait_for(lambda: all(s.shipper.heartbeats for s in servers.values()), 10)
        live = await hub.conn.fetch("SELECT s.code, l.state FROM hub.site_live l "
                                    "JOIN hub.sites s ON s.id = l.site_id ORDER BY s.code")
        assert [r["code"] for r in live] == ["XA01", "XA02"]
        # Each site's /metrics tells its shipping state.
        text = await asyncio.to_thread(http, f"http://127.0.0.1:{servers['XA01'].port}/metrics")
        assert metric(text, "motcua_hub_connected") == 1
        assert metric(text, "motcua_hub_backlog_events") == 0
        assert "motcua_hub_lag_seconds" in text
        day = servers["XA01"].core.meta.day
        report = await hub_report(hub.conn, day, day, "site")
        rows = {k.key: k for k in report.report.rows}
        assert (rows["XA01"].issued, rows["XA01"].served) == (12, 5)
        assert (rows["XA02"].issued, rows["XA02"].served) == (7, 3)
    finally:
        for srv in servers.values():
            await srv.stop()


@pytest.fixture
def own_postgres():
    """A PostgreSQL of this test's own (it gets killed)."""
    folder = Path(tempfile.mkdtemp(prefix="motcua-pgk-"))
    folder.chmod(0o711)
    pg = EmbeddedPostgres(folder / "data").start()
    try:
        yield pg
    finally:
        pg.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


async def _fresh_hub(pg) -> tuple[str, str]:
    admin = pg.url("motcua")
    await ensure_database(admin)
    conn = await asyncpg.connect(admin)
    try:
        await migrate(conn)
        role, password = await add_site(conn, "TTHC")
    finally:
        await conn.close()
    return admin, site_url(admin, role, password)


async def test_hub_killed_mid_batch_loses_nothing_and_doubles_nothing(
        own_postgres, sample_config, tmp_path):
    path = tmp_path / "site.db"
    sink = SqliteSink(path)
    days = [r.day.isoformat() for r in simulate_days(sample_config, START, 4, seed=3,
                                                     sink=sink)]
    sink.close()
    want = local_ids(path)
    admin, url = await _fresh_hub(own_postgres)
    shipper = Shipper(path, url, sample_config, code="TTHC", batch=400, poll=0.05)
    watch = await asyncpg.connect(admin)
    await shipper.start()
    try:
        # Wait until some batches are in and one is open in the hub right now.
        await wait_for(lambda: (shipper.hwm or 0) > want[len(want) // 4], 30)
        in_batch = False
        for _ in range(2000):
            states = await watch.fetch(
                "SELECT state, query FROM pg_stat_activity WHERE usename = 'motcua_site_tthc'")
            if any(s["state"] in ("active", "idle in transaction") and
                   "pg_stat_activity" not in s["query"] for s in states):
                in_batch = True
                break
        assert in_batch
        await watch.close()
        own_postgres.kill()
        mark = shipper.known_mark
        assert 0 < mark < want[-1]
        await wait_for(lambda: shipper.state == "down", 20)
        await asyncio.sleep(1.5)  # retries against a dead hub
        own_postgres.start()
        await wait_for(lambda: shipper.hwm == want[-1], 60)
        assert shipper.failures >= 1
    finally:
        await shipper.stop()
    conn = await asyncpg.connect(admin)
    try:
        assert await hub_ids(conn, "TTHC") == want  # every event, once, in order
        assert await conn.fetchval("SELECT count(*) FROM hub.facts f WHERE NOT EXISTS "
                                   "(SELECT 1 FROM hub.events e WHERE e.site_id = f.site_id "
                                   "AND e.id = f.event_id)") == 0
        with ReportEngine(path, sample_config, cache=False) as engine:
            for d in days:
                site = engine.report(d, d, "department")
                hr = await hub_report(conn, d, d, "department")
                assert [(k.key, k.issued, k.served, k.no_show, k.waits, k.rated)
                        for k in hr.report.rows] == \
                    [(k.key, k.issued, k.served, k.no_show, k.waits, k.rated) for k in site.rows]
    finally:
        await conn.close()


async def test_a_week_offline_then_catching_up(own_postgres, open_config, sample_config, tmp_path):
    """A site whose link was down for a week: its log holds the week (six
    open days, simulated), the hub is down at start, the queue works, then
    the hub comes back and the site catches up."""
    path = tmp_path / "site.db"
    sink = SqliteSink(path)
    days = [r.day.isoformat() for r in simulate_days(sample_config, START, 6, seed=21,
                                                     sink=sink)]
    sink.close()
    admin, url = await _fresh_hub(own_postgres)
    own_postgres.stop()  # the link is down
    srv = MotcuaServer(open_config, path, port=0, hub=url)
    await srv.start()
    try:
        shipper = srv.shipper
        await wait_for(lambda: shipper.state == "down", 20)
        # The queue does not wait for the hub.
        started = time.perf_counter()
        await traffic(srv.port, "offline", 10, 4)
        assert time.perf_counter() - started < 5
        text = await asyncio.to_thread(http, f"http://127.0.0.1:{srv.port}/metrics")
        assert metric(text, "motcua_hub_connected") == 0
        await wait_for(lambda: shipper.backlog > 20_000, 10)
        own_postgres.start()
        want = local_ids(path)
        await wait_for(lambda: shipper.hwm == want[-1], 120)
        text = await asyncio.to_thread(http, f"http://127.0.0.1:{srv.port}/metrics")
        assert metric(text, "motcua_hub_backlog_events") == 0
        assert metric(text, "motcua_hub_connected") == 1
    finally:
        await srv.stop()
    conn = await asyncpg.connect(admin)
    try:
        assert await hub_ids(conn, "TTHC") == local_ids(path)
        with ReportEngine(path, sample_config, cache=False) as engine:
            site = engine.report(days[0], days[-1], "day")
        hr = await hub_report(conn, days[0], days[-1], "day")
        assert [(k.key, k.issued, k.served, k.rated, k.satisfied) for k in hr.report.rows] == \
            [(k.key, k.issued, k.served, k.rated, k.satisfied) for k in site.rows]
        assert len(hr.report.rows) == 6
    finally:
        await conn.close()


async def test_the_same_log_twice_is_refused(sample_config, hub, tmp_path):
    """Another database shipping under a site's code (a replaced disk, a
    copied credential) is refused instead of being mixed in."""
    url = await hub.add_site("TTHC")
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    for path, seed in ((a, 1), (b, 2)):
        sink = SqliteSink(path)
        list(simulate_days(sample_config, START, 1, seed=seed, sink=sink, load=0.2))
        sink.close()
    first = Shipper(a, url, sample_config, code="TTHC", poll=0.05)
    await first.start()
    await wait_for(lambda: first.hwm == local_ids(a)[-1], 20)
    await first.stop()
    second = Shipper(b, url, sample_config, code="TTHC", poll=0.05)
    await second.start()
    try:
        await wait_for(lambda: second.state == "refused", 20)
        assert "another event log" in second.last_error
    finally:
        await second.stop()
    assert await hub_ids(hub.conn, "TTHC") == local_ids(a)


def _local_tcp_ports(pid: int) -> set[int]:
    """Local ports of the TCP sockets process ``pid`` holds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if parts[9] in inodes:
                    ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_the_server_ships_from_a_child_process(open_config, hub, tmp_path):
    """The shipper runs in a child process of the server: the hub connection
    is the child's, the password is not on its command line, the child runs
    at a lower priority, and a child that dies is started again without
    losing or doubling an event."""
    url = await hub.add_site("XA01")
    srv = MotcuaServer(open_config, tmp_path / "site.db", port=0, hub=url)
    await srv.start()
    try:
        shipper = srv.shipper
        await traffic(srv.port, "a", 6, 2)
        await wait_for(lambda: shipper.hwm == local_ids(srv.store.path)[-1], 15)
        pid = shipper.pid
        assert pid and pid != os.getpid() and _alive(pid)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().decode()
        assert "motcua.hub.process" in cmdline and url.split(":")[2].split("@")[0] not in cmdline
        assert os.getpriority(os.PRIO_PROCESS, pid) > os.getpriority(os.PRIO_PROCESS, 0)
        role = f"{hub.name}_site_xa01"
        ports = {r[0] for r in await hub.conn.fetch(
            "SELECT client_port FROM pg_stat_activity WHERE usename = $1", role)}
        assert ports and ports <= _local_tcp_ports(pid)
        assert not ports & _local_tcp_ports(os.getpid())
        # The child killed: the queue goes on, a new child takes over.
        os.kill(pid, 9)
        await traffic(srv.port, "b", 5, 1)
        await wait_for(lambda: shipper.starts == 2 and shipper.state == "connected", 20)
        assert shipper.pid != pid and _alive(shipper.pid)
        await traffic(srv.port, "c", 4, 1)
        want = local_ids(srv.store.path)
        await wait_for(lambda: shipper.hwm == want[-1], 15)
        assert await hub_ids(hub.conn, "XA01") == want
        text = await asyncio.to_thread(http, f"http://127.0.0.1:{srv.port}/metrics")
        assert metric(text, "motcua_hub_failures_total") >= 1
        assert metric(text, "motcua_hub_connected") == 1
        assert metric(text, "motcua_hub_backlog_events") == 0
        child = shipper.pid
    finally:
        await srv.stop()
    assert not _alive(child)  # stopped with the server


async def test_the_child_does_not_outlive_a_killed_server(hub, tmp_path):
    """``motcua serve`` killed outright: its shipper process ends too (its
    pipe from the server closes)."""
    import subprocess
    import sys

    url = await hub.add_site("XA01")
    proc = subprocess.Popen(
        [sys.executable, "-m", "motcua.cli", "serve", "--ignore-hours", "--port", "0",
         "--db", str(tmp_path / "site.db"), "--hub", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def children() -> list[int]:
            try:
                with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                    return [int(x) for x in f.read().split()]
            except FileNotFoundError:
                return []

        await wait_for(lambda: bool(children()), 20)
        (child,) = children()
        await wait_for(lambda: bool(_local_tcp_ports(child)), 20)  # connected to the hub
        proc.kill()
        proc.wait(10)
        await wait_for(lambda: not _alive(child), 15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
