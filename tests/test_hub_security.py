"""The hub's security model, enforced by PostgreSQL itself: a site's
credential reads and writes only its own rows, cannot rewrite history, and
readers write nothing. And the schema migrates from its previous version."""

from __future__ import annotations

import json
from datetime import date

import asyncpg
import pytest

from motcua.hub import schema
from motcua.hub.shipper import Shipper
from motcua.sim.run import SqliteSink, simulate_days

from conftest import Hub, _hub_numbers, wait_for

DAY = date(2026, 11, 23)


def event_row(site_id: int, event_id: int) -> tuple:
    return (site_id, event_id, 1.0e9 + event_id, DAY, "ticket_issued", event_id, None, None,
            "kiosk", json.dumps({"ticket": {"department": "TP"}}))


INSERT_EVENT = ("INSERT INTO hub.events (site_id, id, at, day, type, ticket_id, counter, officer, "
                "device, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::json)")


async def ids(hub) -> dict[str, int]:
    return {r["code"]: r["id"] for r in await hub.conn.fetch("SELECT id, code FROM hub.sites")}


async def test_a_site_credential_cannot_touch_another_sites_rows(hub):
    a_url = await hub.add_site("XA01")
    await hub.add_site("XA02")
    site = await ids(hub)
    a, b = site["XA01"], site["XA02"]
    # Some rows of site B, written by the admin.
    await hub.conn.execute(INSERT_EVENT, *event_row(b, 1))
    await hub.conn.execute(
        "INSERT INTO hub.facts (site_id, event_id, seq, day, kind, dept, hour) "
        "VALUES ($1, 1, 0, $2, 1, 'TP', 8)", b, DAY)
    conn = await asyncpg.connect(a_url)
    try:
        assert await conn.fetchval("SELECT hub.my_site()") == a
        # Its own rows: fine.
        await conn.execute(INSERT_EVENT, *event_row(a, 1))
        # Another site's id: refused by the row-level security policy.
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await conn.execute(INSERT_EVENT, *event_row(b, 2))
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await conn.execute("INSERT INTO hub.facts (site_id, event_id, seq, day, kind, hour) "
                               "VALUES ($1, 9, 0, $2, 1, 8)", b, DAY)
        for table in ("site_config", "site_live"):
            cols = ("(site_id, name, config, digest) VALUES ($1, 'x', '{}', 'x')"
                    if table == "site_config" else
                    "(site_id, site_time, state) VALUES ($1, 0, '{}')")
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                await conn.execute(f"INSERT INTO hub.{table} {cols}", b)
        # Another site's rows are invisible: updating them changes nothing.
        assert await conn.fetchval("SELECT count(*) FROM hub.events WHERE site_id = $1", b) == 0
        assert await conn.execute("UPDATE hub.facts SET voided_by = 1 WHERE site_id = $1",
                                  b) == "UPDATE 0"
        # Its own history is append-only: no updates, no deletes.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE hub.events SET type = 'x' WHERE site_id = $1", a)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM hub.events WHERE site_id = $1", a)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE hub.facts SET kind = 3 WHERE site_id = $1", a)
        # Nor can it make itself another site, or switch role.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE hub.sites SET role = current_user WHERE id = $1", b)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f"SET ROLE {hub.name}_site_xa02")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("ALTER TABLE hub.events DISABLE ROW LEVEL SECURITY")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f"CREATE ROLE {hub.name}_evil LOGIN")
    finally:
        await conn.close()
    assert await hub.conn.fetchval("SELECT count(*) FROM hub.events WHERE site_id = $1", b) == 1
    assert await hub.conn.fetchval("SELECT voided_by FROM hub.facts WHERE site_id = $1", b) is None


async def test_wrong_password_and_readers_are_refused(hub):
    url = await hub.add_site("XA01")
    wrong = url.replace(url.split(":")[2].split("@")[0], "not-the-password")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(wrong)
    reader = await asyncpg.connect(await hub.add_reader())
    try:
        site = (await ids(hub))["XA01"]
        await hub.conn.execute(INSERT_EVENT, *event_row(site, 1))
        assert await reader.fetchval("SELECT count(*) FROM hub.events") == 1  # reads all
        with pytest.raises((asyncpg.InsufficientPrivilegeError,
                            asyncpg.ReadOnlySQLTransactionError)):
            await reader.execute(INSERT_EVENT, *event_row(site, 2))
    finally:
        await reader.close()
    # A rotated password: the old credential no longer works.
    role, password = await schema.add_site(hub.conn, "XA01", rotate=True)
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(url)
    conn = await asyncpg.connect(schema.site_url(hub.admin_url, role, password))
    await conn.close()


async def test_bad_site_codes_and_duplicates_are_refused(hub):
    for bad in ("", "x y", "a;DROP", "é", "-lead", "x" * 40):
        with pytest.raises(schema.HubError):
            await schema.add_site(hub.conn, bad)
    await schema.add_site(hub.conn, "XA01")
    with pytest.raises(schema.HubError, match="already exists"):
        await schema.add_site(hub.conn, "xa01")
    with pytest.raises(schema.HubError, match="no site"):
        await schema.add_site(hub.conn, "XA09", rotate=True)


async def test_a_credential_for_another_site_is_refused_by_the_shipper(
        sample_config, hub, tmp_path):
    url = await hub.add_site("XA02")
    path = tmp_path / "site.db"
    sink = SqliteSink(path)
    list(simulate_days(sample_config, DAY, 1, seed=1, sink=sink, load=0.1))
    sink.close()
    shipper = Shipper(path, url, sample_config, code="XA01", poll=0.05)
    await shipper.start()
    try:
        await wait_for(lambda: shipper.state == "refused", 20)
        assert "XA02" in shipper.last_error and "XA01" in shipper.last_error
    finally:
        await shipper.stop()
    assert await hub.conn.fetchval("SELECT count(*) FROM hub.events") == 0


async def test_schema_migrates_from_the_previous_version(postgres, sample_config, tmp_path):
    from motcua.hub.shipper import MIN_SCHEMA as shipper_needs

    old = await Hub(postgres, f"hub{next(_hub_numbers)}").setup(version=1)
    try:
        assert await schema.schema_version(old.conn) == 1 < shipper_needs
        url = await old.add_site("XA01")
        path = tmp_path / "site.db"
        sink = SqliteSink(path)
        list(simulate_days(sample_config, DAY, 1, seed=4, sink=sink, load=0.2))
        sink.close()
        # A shipper of this version does not write into the older schema.
        shipper = Shipper(path, url, sample_config, code="XA01", poll=0.05)
        await shipper.start()
        try:
            await wait_for(lambda: shipper.state == "refused", 20)
            assert "motcua hub init" in shipper.last_error
        finally:
            await shipper.stop()
        # Rows written under the old version survive the migration.
        site = (await ids(old))["XA01"]
        await old.conn.execute(INSERT_EVENT, *event_row(site, 1))
        before, after = await schema.migrate(old.conn)
        assert (before, after) == (1, schema.SCHEMA_VERSION)
        assert await schema.migrate(old.conn) == (schema.SCHEMA_VERSION, schema.SCHEMA_VERSION)
        assert await old.conn.fetchval("SELECT count(*) FROM hub.events") == 1
        await old.conn.execute("DELETE FROM hub.events")  # (the owner may; sites may not)
        shipper = Shipper(path, url, sample_config, code="XA01", poll=0.05, heartbeat=lambda: {
            "day": DAY.isoformat(), "departments": [], "counters": []})
        await shipper.start()
        try:
            await wait_for(lambda: shipper.heartbeats > 0 and shipper.backlog == 0, 20)
        finally:
            await shipper.stop()
        assert await old.conn.fetchval("SELECT count(*) FROM hub.site_live") == 1
        # The new table has its policy too.
        conn = await asyncpg.connect(url)
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                await conn.execute("INSERT INTO hub.site_live (site_id, site_time, state) "
                                   "VALUES ($1, 0, '{}')", site + 1)
        finally:
            await conn.close()
        # A schema newer than this motcua is refused, not downgraded.
        await old.conn.execute("UPDATE hub.meta SET value = '99' WHERE key = 'schema_version'")
        with pytest.raises(schema.HubError, match="newer"):
            await schema.migrate(old.conn)
    finally:
        await old.close()


def test_the_hub_section_of_the_center_file():
    """``[hub]``: the site's code, name and URL; bad values named by field,
    and the URL (it holds the site's password) never goes to clients."""
    import tomllib
    from importlib import resources

    from motcua.server.config import ConfigError, parse_config

    text = resources.files("motcua.server").joinpath("sample_center.toml").read_text("utf-8")
    data = tomllib.loads(text)
    data["hub"] = {"code": "XA01", "name": "UBND xã Một",
                   "url": "postgresql://motcua_site_xa01:s3cret@hub.example:5432/motcua"}
    config = parse_config(data)
    assert (config.hub.code, config.hub.name) == ("XA01", "UBND xã Một")
    assert "s3cret" not in json.dumps(config.public())
    data["hub"] = {"code": "bad code", "url": "mysql://x", "port": 1}
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    paths = {p for p, _ in e.value.errors}
    assert {"hub.code", "hub.url", "hub.port"} <= paths
    del data["hub"]
    assert parse_config(data).hub.url is None
