"""The hub's report cells (hub/cells.py): kept by PostgreSQL as facts arrive,
merged into months and years as a site moves on, and giving the site
report's figures exactly — without the report reading a single fact."""

from __future__ import annotations

import sqlite3
from datetime import date

import asyncpg
import pytest

from motcua.hub import schema
from motcua.hub.report import build_hub_table, hub_report
from motcua.hub.shipper import REJUDGE, Shipper
from motcua.reports.engine import ReportEngine
from motcua.reports.kpi import DIMENSIONS, targets
from motcua.reports.render import build_table, to_csv
from motcua.sim.run import SqliteSink, simulate_days

from conftest import Hub, _hub_numbers, wait_for
from test_hub_report import assert_same, ship_all

START = date(2026, 12, 28)  # a Monday: the days run into the next month and year


@pytest.fixture(scope="module")
def new_year(sample_config, tmp_path_factory):
    """Six open days of one site across the turn of the year."""
    path = tmp_path_factory.mktemp("newyear") / "site.db"
    sink = SqliteSink(path)
    days = [r.day.isoformat() for r in simulate_days(sample_config, START, 6, seed=11,
                                                     sink=sink, load=0.35)]
    sink.close()
    return path, days


@pytest.fixture(scope="module")
def into_february(sample_config, tmp_path_factory):
    """Seven open days of one site from January into February."""
    path = tmp_path_factory.mktemp("february") / "site.db"
    sink = SqliteSink(path)
    days = [r.day.isoformat() for r in simulate_days(sample_config, date(2027, 1, 27), 7,
                                                     seed=12, sink=sink, load=0.25)]
    sink.close()
    return path, days


PERIODS = [
    ("2026-12-01", "2026-12-31"),  # a full month: its month cell
    ("2026-01-01", "2026-12-31"),  # a full year: its year cell
    ("2026-12-29", "2027-01-02"),  # across both: days
    ("2027-01-01", "2027-01-31"),  # the month under way: its cell and today's days
    ("2026-11-15", "2027-02-10"),  # a bit of everything
]


def same_report(site, hub_rep, where):
    assert [k.key for k in hub_rep.rows] == [k.key for k in site.rows], where
    for a, b in zip(site.rows, hub_rep.rows):
        assert_same(a, b, (where, a.key))
    assert_same(site.total, hub_rep.total, (where, "total"))


async def test_cells_across_months_and_years_equal_the_site_report(
        new_year, sample_config, hub, tmp_path):
    path, days = new_year
    assert days[0] < "2027" < days[-1]
    url = await hub.add_site("TTHC")
    shipper = await ship_all(path, url, sample_config, "TTHC", batch=211)
    assert shipper.batches > 5
    grains = dict(await hub.conn.fetch("SELECT grain, count(*) FROM hub.cells GROUP BY grain"))
    assert grains.get(2) and grains.get(3)  # months and the year 2026 were built
    # Fragments of the days before the newest one were merged: one row per cell.
    assert await hub.conn.fetchval(
        "SELECT count(*) FROM (SELECT 1 FROM hub.cells c JOIN hub.cell_state s USING (site_id) "
        "WHERE c.grain = 1 AND c.start < s.newest GROUP BY c.site_id, c.start, c.fam, c.key, "
        "c.dept HAVING count(*) > 1) x") == 0
    with ReportEngine(path, sample_config, cache=False) as engine:
        for first, last in PERIODS:
            for by in (None, *DIMENSIONS):
                site = engine.report(first, last, by)
                hr = await hub_report(hub.conn, first, last, by, ["TTHC"])
                same_report(site, hr.report, (first, last, by))
                assert to_csv(build_hub_table(hr, "vi")) == \
                    to_csv(build_table(site, sample_config, "vi")), (first, by)


async def test_the_year_under_way_has_a_year_cell_of_its_finished_months(
        into_february, sample_config, hub):
    """A site in February: its 2027 cell holds January, its February cell the
    days before today, and the year's report is still the site's own."""
    path, days = into_february
    assert days[0] < "2027-02" <= days[-1]
    await ship_all(path, await hub.add_site("TTHC"), sample_config, "TTHC", batch=257)
    cells = dict(await hub.conn.fetch(
        "SELECT grain, array_agg(DISTINCT start ORDER BY start) FROM hub.cells "
        "WHERE grain > 1 GROUP BY grain"))
    assert cells[3] == [date(2027, 1, 1)] and cells[2] == [date(2027, 1, 1), date(2027, 2, 1)]
    conn2 = await asyncpg.connect(hub.admin_url)  # groups and total at once, as the CLI
    try:
        with ReportEngine(path, sample_config, cache=False) as engine:
            for first, last in (("2027-01-01", "2027-12-31"), ("2027-01-01", "2027-02-28"),
                                ("2027-02-01", "2027-02-28"), ("2026-12-01", "2027-12-31")):
                for by in (None, "department", "counter", "hour", "day"):
                    site = engine.report(first, last, by)
                    hr = await hub_report(hub.conn, first, last, by, conn2=conn2)
                    same_report(site, hr.report, (first, last, by))
    finally:
        await conn2.close()


async def test_the_report_reads_no_fact(new_year, sample_config, hub):
    """A reader that may not read hub.facts still gets every report: the
    report counts and sorts only cells."""
    path, days = new_year
    await ship_all(path, await hub.add_site("TTHC"), sample_config, "TTHC")
    await ship_all(path, await hub.add_site("XA01"), sample_config, "XA01", batch=997)
    reader_url = await hub.add_reader()
    prefix = hub.name
    await hub.conn.execute(f'REVOKE SELECT ON hub.facts, hub.events FROM "{prefix}_readers"')
    conn = await asyncpg.connect(reader_url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("SELECT count(*) FROM hub.facts")
        for by in ("site", "department", "counter", "day"):
            hr = await hub_report(conn, "2026-01-01", "2027-12-31", by)
            ref = await hub_report(hub.conn, "2026-01-01", "2027-12-31", by, source="facts")
            same_report(ref.report, hr.report, by)
        assert hr.report.total.issued > 0
    finally:
        await conn.close()


async def test_cells_follow_any_change_to_the_facts(new_year, sample_config, hub):
    """Whoever changes facts (the admin repairing a day, a late event, a
    void), the cells follow in the same transaction."""
    path, days = new_year
    await ship_all(path, await hub.add_site("TTHC"), sample_config, "TTHC", batch=500)
    conn = hub.conn

    async def check(where):
        for first, last in (("2026-12-01", "2026-12-31"), ("2026-01-01", "2026-12-31"),
                            (days[0], days[-1])):
            for by in (None, "department", "officer", "hour"):
                hr = await hub_report(conn, first, last, by)
                ref = await hub_report(conn, first, last, by, source="facts")
                same_report(ref.report, hr.report, (where, first, by))

    await check("shipped")
    # A day repaired by the admin: facts of an old, already merged day deleted.
    n = await conn.fetchval("WITH d AS (DELETE FROM hub.facts WHERE day = $1 AND kind = 3 "
                            "RETURNING 1) SELECT count(*) FROM d", date.fromisoformat(days[1]))
    assert n > 0
    await check("deleted")
    # A wait corrected, and a fact moved to another department.
    await conn.execute("UPDATE hub.facts SET value = value * 2 WHERE day = $1 AND kind = 2 "
                       "AND event_id % 7 = 0", date.fromisoformat(days[0]))
    await conn.execute("UPDATE hub.facts SET dept = 'TP' WHERE day = $1 AND kind = 1 "
                       "AND event_id % 5 = 0", date.fromisoformat(days[2]))
    # (the facts' own `ok`, which only the reference reads, judged again)
    tgt = targets(sample_config)
    await conn.execute(REJUDGE[0].replace("f.site_id = $1", "$1::int IS NOT NULL"), 0,
                       list(tgt), list(tgt.values()))
    await check("updated")
    # A fact given another key (its event id): it leaves its day, lands in another.
    await conn.execute("UPDATE hub.facts SET event_id = event_id + 10000000, day = $2 "
                       "WHERE day = $1 AND kind = 3 AND event_id % 3 = 0",
                       date.fromisoformat(days[2]), date.fromisoformat(days[3]))
    await check("rekeyed")
    # Voids and their undoing (count-only facts: a count less, a count more).
    await conn.execute("UPDATE hub.facts SET voided_by = event_id + 1 WHERE kind = 1 "
                       "AND event_id % 11 = 0")
    await check("voided")
    await conn.execute("UPDATE hub.facts SET voided_by = NULL WHERE kind = 1 "
                       "AND voided_by = event_id + 1 AND event_id % 2 = 0")
    await check("unvoided")
    # A late fact for a day inside the finished year: its month and year again.
    await conn.execute(
        "INSERT INTO hub.facts (site_id, event_id, seq, day, kind, dept, proc, counter, officer, "
        "hour, value, ok) SELECT site_id, event_id, 9, day, kind, dept, proc, counter, officer, "
        "hour, value + 100000, ok AND false FROM hub.facts WHERE day = $1 AND kind = 2 LIMIT 3",
        date.fromisoformat(days[0]))
    await check("late")
    await conn.execute("TRUNCATE hub.facts")
    assert await conn.fetchval("SELECT count(*) FROM hub.cells") == 0


async def test_migrating_fills_the_cells_from_the_facts(postgres, new_year, sample_config,
                                                        tmp_path):
    """A hub of version 2 with a site's history: after `motcua hub init`
    its reports come from cells, equal to the site's own."""
    path, days = new_year
    old = await Hub(postgres, f"hub{next(_hub_numbers)}").setup(version=2)
    try:
        url = await old.add_site("TTHC")
        shipper = Shipper(path, url, sample_config, code="TTHC", batch=700, poll=0.05)
        await shipper.start()
        top = sqlite3.connect(path).execute("SELECT max(id) FROM events").fetchone()[0]
        try:
            await wait_for(lambda: shipper.hwm == top, 60)
        finally:
            await shipper.stop()
        assert await old.conn.fetchval("SELECT to_regclass('hub.cells')") is None
        assert await schema.migrate(old.conn) == (2, schema.SCHEMA_VERSION)
        with ReportEngine(path, sample_config, cache=False) as engine:
            for first, last in PERIODS[:3]:
                for by in (None, "department", "counter", "day"):
                    site = engine.report(first, last, by)
                    hr = await hub_report(old.conn, first, last, by)
                    same_report(site, hr.report, (first, by))
    finally:
        await old.close()


async def test_a_site_reads_only_its_own_cells_and_writes_none(new_year, sample_config, hub):
    path, days = new_year
    urls = {code: await hub.add_site(code) for code in ("XA01", "XA02")}
    for code, url in urls.items():
        await ship_all(path, url, sample_config, code, batch=1500)
    ids = dict(await hub.conn.fetch("SELECT code, id FROM hub.sites"))
    conn = await asyncpg.connect(urls["XA01"])
    try:
        assert {r[0] for r in await conn.fetch("SELECT DISTINCT site_id FROM hub.cells")} == \
            {ids["XA01"]}
        for sql in ("INSERT INTO hub.cells (site_id, grain, start, fam) "
                    f"VALUES ({ids['XA02']}, 1, '2026-12-28', 1)",
                    f"UPDATE hub.cells SET issued = 0 WHERE site_id = {ids['XA01']}",
                    "DELETE FROM hub.cells",
                    "UPDATE hub.cell_state SET built = NULL",
                    f"SELECT hub.cells_rebuild({ids['XA02']}::smallint, ARRAY['2026-12-28'::date])",
                    f"SELECT hub.cells_settle({ids['XA02']}::smallint, '2026-12-28', "
                    "'2026-12-28', ARRAY[]::date[])"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
        mine = await hub_report(conn, days[0], days[-1], "site")
        assert [k.key for k in mine.report.rows] == ["XA01"]
    finally:
        await conn.close()
    both = await hub_report(hub.conn, days[0], days[-1], "site")
    assert [k.key for k in both.report.rows] == ["XA01", "XA02"]
    assert both.report.total.issued == 2 * mine.report.total.issued
