"""Shared fixtures: a real server on 127.0.0.1 (port 0) with a real SQLite
file under tmp_path, and real websocket clients.

A test's server runs on a :class:`WallClock` of its own (real seconds passing
from a Tuesday 10:00 in Vietnam), never on the machine's clock: CI runs at
any hour, and a test that started at 23:59:59 would see its tickets expire at
midnight. Apps in a test take the same clock (``harness.clock``)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import AsyncIterator, Callable
from zoneinfo import ZoneInfo

import pytest
from clocks import (  # noqa: F401  (hooks: pytest --clock / --clock-matrix)
    pytest_addoption,
    pytest_cmdline_main,
    pytest_configure,
    pytest_report_header,
    pytest_runtest_setup,
)

from motcua.client import MotcuaClient, connect_once
from motcua.server.app import MotcuaServer, always_open
from motcua.server.config import CenterConfig, load_config

VN = ZoneInfo("Asia/Ho_Chi_Minh")
#: Where every test's wall clock starts: a working day (Tuesday), inside the
#: sample center's hours, hours away from midnight and minutes from an hour.
TEST_START = datetime(2026, 12, 1, 10, 0, tzinfo=VN)


class HandClock:
    """A clock moved by hand (``now`` set, or :meth:`advance`): the pure
    core's tests and a server's day changes run on it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float = 0, seconds: float = 0) -> None:
        self.now += timedelta(minutes=minutes, seconds=seconds)


class WallClock:
    """A test's wall clock: real (monotonic) seconds pass from ``start``,
    whatever the machine's clock says. Called, it gives an aware datetime
    (the server's, kiosk's and display's clock); :meth:`time` gives epoch
    seconds (the counter console's, rating pad's and monitor's)."""

    def __init__(self, start: datetime = TEST_START) -> None:
        self.start = start
        self._epoch = start.timestamp()
        self._mono = time.monotonic()

    def time(self) -> float:
        return self._epoch + (time.monotonic() - self._mono)

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.time(), timezone.utc)

    @property
    def day(self) -> str:
        """Today's date in Vietnam, as the core names days."""
        return self().astimezone(VN).date().isoformat()


TOKENS = {"kiosk": "kiosk-demo", "counter": "counter-demo", "display": "display-demo",
          "rating": "rating-demo", "admin": "admin-demo"}


@pytest.fixture(scope="session")
def sample_config() -> CenterConfig:
    """The built-in sample center, as shipped."""
    return load_config(None)


@pytest.fixture
def open_config(sample_config: CenterConfig) -> CenterConfig:
    """The sample center with ticket hours lifted, so tests pass at any hour."""
    return always_open(sample_config)


class Harness:
    """A running server that a test can stop and start again on the same file."""

    def __init__(self, config: CenterConfig, db: Path,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.db = db
        self.clock = clock or WallClock()
        self.server: MotcuaServer | None = None
        self.port = 0
        self.clients: list[MotcuaClient] = []

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> MotcuaServer:
        # Reuse the port across restarts so reconnecting clients find it again.
        self.server = MotcuaServer(self.config, self.db, host="127.0.0.1", port=self.port,
                                   clock=self.clock)
        await self.server.start()
        self.port = self.server.port
        return self.server

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def restart(self) -> MotcuaServer:
        await self.stop()
        # Let this harness's clients notice the drop first, so a following
        # wait_ready() waits for the new server's snapshot, not the old one.
        await wait_for(lambda: not any(c.connected for c in self.clients), 5)
        return await self.start()

    async def client(self, role: str, device: str | None = None,
                     counter: int | None = None) -> MotcuaClient:
        """A connected client of the shared client library."""
        c = await connect_once(self.url, role, device or f"{role}-test", TOKENS[role], counter)
        self.clients.append(c)
        return c

    async def close(self) -> None:
        for c in self.clients:
            await c.close()
        await self.stop()


@pytest.fixture
async def harness(open_config: CenterConfig, tmp_path: Path) -> AsyncIterator[Harness]:
    """A real server on 127.0.0.1, port 0, on tmp_path/motcua.db."""
    h = Harness(open_config, tmp_path / "motcua.db")
    await h.start()
    try:
        yield h
    finally:
        await h.close()


async def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll a condition on the event loop (for effects of broadcasts)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


# --- the province hub: a real PostgreSQL ------------------------------------------

@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL 16 (pgserver's binaries) on 127.0.0.1, started once
    for the session in a temporary folder."""
    import os
    import shutil
    import tempfile

    pytest.importorskip("asyncpg")
    from motcua.hub.embedded import EmbeddedPostgres, bin_dir

    try:
        bin_dir()
    except RuntimeError as e:
        pytest.skip(str(e))
    folder = Path(tempfile.mkdtemp(prefix="motcua-pg-"))
    folder.chmod(0o711)  # the server's own user (when run as root) must reach it
    pg = EmbeddedPostgres(folder / "data").start()
    try:
        yield pg
    finally:
        pg.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


_hub_numbers = iter(range(1, 10_000))


class Hub:
    """A fresh hub database on the session's PostgreSQL (its own role prefix,
    since roles are cluster-wide)."""

    def __init__(self, postgres, name: str) -> None:
        self.postgres = postgres
        self.name = name
        self.admin_url = postgres.url(name)
        self.conn = None

    async def setup(self, version: int | None = None) -> "Hub":
        import asyncpg

        from motcua.hub.schema import SCHEMA_VERSION, ensure_database, migrate

        await ensure_database(self.admin_url)
        self.conn = await asyncpg.connect(self.admin_url)
        await migrate(self.conn, prefix=self.name, name="Tỉnh thử nghiệm",
                      target=version or SCHEMA_VERSION)
        return self

    async def add_site(self, code: str, name: str | None = None) -> str:
        """A site's credential, as the URL its server ships with."""
        from motcua.hub.schema import add_site, site_url

        role, password = await add_site(self.conn, code, name or f"Đơn vị {code}")
        return site_url(self.admin_url, role, password)

    async def add_reader(self, name: str = "province") -> str:
        from motcua.hub.schema import add_reader, site_url

        role, password = await add_reader(self.conn, name)
        return site_url(self.admin_url, role, password)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


@pytest.fixture
async def hub(postgres):
    """A migrated hub database (admin connection at ``hub.conn``)."""
    h = await Hub(postgres, f"hub{next(_hub_numbers)}").setup()
    try:
        yield h
    finally:
        await h.close()
