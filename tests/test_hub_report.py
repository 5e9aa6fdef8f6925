"""The province hub's reports: computed in PostgreSQL from the facts the
shipper derives as events arrive, and identical, figure for figure, to the
site's own report for that site and day."""

from __future__ import annotations

import math
import sqlite3
from datetime import date

import pytest

from motcua.hub.report import build_hub_table, hub_report
from motcua.hub.shipper import Shipper
from motcua.reports.engine import ReportEngine
from motcua.reports.kpi import DIMENSIONS
from motcua.reports.render import build_table, to_csv, to_text
from motcua.sim.run import SqliteSink, simulate_days

from conftest import wait_for

START = date(2026, 11, 23)  # a Monday


def as_dict(k):
    return {f: getattr(k, f) for f in (
        "key", "issued", "transferred_in", "served", "no_show", "transferred", "cancelled",
        "expired", "waits", "wait_mean", "wait_median", "wait_p90", "within_target",
        "target_waits", "services", "service_mean", "service_median", "service_p90", "rated",
        "satisfied")} | {"ratings": dict(k.ratings)}


def assert_same(site, hub, where):
    a, b = as_dict(site), as_dict(hub)
    assert a.keys() == b.keys()
    for name in a:
        x, y = a[name], b[name]
        if isinstance(x, float) or isinstance(y, float):
            # Means are summed in another order; medians and P90 interpolate
            # the same two values the same way.
            assert x is not None and y is not None and math.isclose(x, y, rel_tol=1e-12), \
                (where, name, x, y)
        else:
            assert x == y, (where, name, x, y)


async def ship_all(path, url, config, code, batch=2000):
    """Ship a site's whole log with the real shipper; return it stopped."""
    shipper = Shipper(path, url, config, code=code, batch=batch, poll=0.05)
    await shipper.start()
    top = sqlite3.connect(path).execute("SELECT max(id) FROM events").fetchone()[0]
    try:
        await wait_for(lambda: shipper.hwm == top, 60)
    finally:
        await shipper.stop()
    return shipper


@pytest.fixture(scope="module")
def site_days(sample_config, tmp_path_factory):
    """Three busy simulated days of one site (with no-shows, returns,
    transfers, cancellations and the rollover's expiries)."""
    path = tmp_path_factory.mktemp("hubsite") / "site.db"
    sink = SqliteSink(path)
    days = [r.day.isoformat() for r in simulate_days(sample_config, START, 3, seed=7,
                                                     sink=sink)]
    sink.close()
    return path, days


async def test_hub_report_equals_the_site_report_figure_for_figure(
        site_days, sample_config, hub, tmp_path):
    path, days = site_days
    url = await hub.add_site("TTHC", "Trung tâm tỉnh")
    # Small odd batches: days, no-shows and their returns fall across batches.
    shipper = await ship_all(path, url, sample_config, "TTHC", batch=313)
    assert shipper.batches > 10 and shipper.failures == 0
    voided = await hub.conn.fetchval("SELECT count(*) FROM hub.facts WHERE voided_by IS NOT NULL")
    assert voided > 0  # no-shows who came back were undone at the hub too
    with ReportEngine(path, sample_config, cache=tmp_path / "cache.db") as engine:
        periods = [((days[0], days[0]), (None, *DIMENSIONS)),
                   ((days[1], days[1]), (None, "department", "counter")),
                   ((days[2], days[2]), (None, "officer", "procedure")),
                   ((days[0], days[-1]), (None, "day", "hour"))]
        for (first, last), groupings in periods:
            for by in groupings:
                site = engine.report(first, last, by)
                hr = await hub_report(hub.conn, first, last, by, ["TTHC"])
                assert [k.key for k in hr.report.rows] == [k.key for k in site.rows], by
                for a, b in zip(site.rows, hr.report.rows):
                    assert_same(a, b, (first, by, a.key))
                assert_same(site.total, hr.report.total, (first, by, "total"))
                # And as a manager reads them: the same CSV, line for line.
                site_csv = to_csv(build_table(site, sample_config, "vi"))
                hub_csv = to_csv(build_hub_table(hr, "vi"))
                assert hub_csv == site_csv, (first, by)
    text = to_text(build_hub_table(await hub_report(hub.conn, days[0], days[0]), "vi"))
    assert "Trung tâm Phục vụ Hành chính công tỉnh" in text


async def test_two_sites_by_site_and_filtered(site_days, sample_config, hub, tmp_path):
    path, days = site_days
    other = tmp_path / "other.db"
    sink = SqliteSink(other)
    list(simulate_days(sample_config, START, 1, seed=99, sink=sink, load=0.3))
    sink.close()
    await ship_all(path, await hub.add_site("TTHC"), sample_config, "TTHC")
    await ship_all(other, await hub.add_site("XA01", "Xã Một"), sample_config, "XA01")
    d = days[0]
    both = await hub_report(hub.conn, d, d, "site")
    assert [k.key for k in both.report.rows] == ["TTHC", "XA01"]
    with ReportEngine(path, sample_config, cache=False) as a, \
            ReportEngine(other, sample_config, cache=False) as b:
        ta, tb = a.report(d, d).total, b.report(d, d).total
    rows = {k.key: k for k in both.report.rows}
    assert rows["TTHC"].issued == ta.issued and rows["XA01"].issued == tb.issued
    assert both.report.total.issued == ta.issued + tb.issued
    assert both.report.total.served == ta.served + tb.served
    assert both.report.total.rated == ta.rated + tb.rated
    # Counters mean nothing across sites: keyed by (site, counter) there.
    by_counter = await hub_report(hub.conn, d, d, "counter")
    assert {k.key[0] for k in by_counter.report.rows if k.key} == {"TTHC", "XA01"}
    text = to_text(build_hub_table(by_counter, "vi"))
    assert "XA01 · Quầy 1" in text and "Tất cả" not in text
    only = await hub_report(hub.conn, d, d, "department", ["xa01"])
    assert only.report.total.issued == tb.issued
    with pytest.raises(KeyError):
        await hub_report(hub.conn, d, d, None, ["NOPE"])
    table = build_hub_table(both, "en")
    assert "Tỉnh thử nghiệm" in table.title and "Sites: TTHC, XA01" in table.subtitle


async def test_a_changed_target_or_rating_scale_rejudges_the_history(
        site_days, sample_config, hub):
    """The site's report judges every wait by today's targets; so does the
    hub once the site ships its new configuration."""
    import dataclasses

    path, days = site_days
    url = await hub.add_site("TTHC")
    await ship_all(path, url, sample_config, "TTHC")
    tighter = dataclasses.replace(
        sample_config,
        departments=tuple(dataclasses.replace(d, target_wait=d.target_wait / 3)
                          for d in sample_config.departments),
        rating_levels=tuple(dataclasses.replace(lv, satisfied=lv.value == 4)
                            for lv in sample_config.rating_levels))
    d = days[0]
    before = await hub_report(hub.conn, d, d, "department", ["TTHC"])
    await ship_all(path, url, tighter, "TTHC")  # nothing new: only the configuration
    after = await hub_report(hub.conn, d, d, "department", ["TTHC"])
    with ReportEngine(path, tighter, cache=False) as engine:
        site = engine.report(d, d, "department")
    assert after.report.total.within_target < before.report.total.within_target
    assert after.report.total.satisfied < before.report.total.satisfied
    for a, b in zip(site.rows, after.report.rows):
        assert_same(a, b, a.key)
    assert_same(site.total, after.report.total, "total")
