"""Reports: figures from the event log against figures computed directly
from the pure core's own tickets, visits and ratings of a simulated day."""

from __future__ import annotations

import csv
import math
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict
from datetime import date, datetime

import pytest

from motcua.cli import main
from motcua.reports.engine import ReportEngine, baseline_report, default_cache_path
from motcua.reports.kpi import DIMENSIONS, aggregate
from motcua.reports.render import build_table, to_text, write_csv, write_xlsx
from motcua.server.core import CANCELLED, EXPIRED, NO_SHOW
from motcua.sim.run import SqliteSink, simulate_day, simulate_days

DAY = date(2026, 11, 23)  # a Monday


@pytest.fixture(scope="module")
def simulated(sample_config, tmp_path_factory):
    """One busy simulated day, persisted with the server's row format."""
    path = tmp_path_factory.mktemp("report") / "motcua.db"
    sink = SqliteSink(path)
    result = simulate_day(sample_config, DAY, seed=11, sink=sink)
    sink.close()
    return result, path


def expected(result, config, by):
    """Every KPI per group, straight from the core's state (no event log)."""
    core, day = result.core, result.day.isoformat()
    tz = config.tz
    targets = {d.code: d.target_wait * 60 for d in config.departments}
    happy = {lv.value for lv in config.rating_levels if lv.satisfied}

    def hour(ts):
        return datetime.fromtimestamp(ts, tz).hour

    def key(dept, proc, counter, officer, ts):
        return {None: None, "department": dept, "procedure": proc, "counter": counter,
                "officer": officer, "hour": hour(ts), "day": day}[by]

    g = defaultdict(lambda: {"issued": 0, "transferred_in": 0, "served": 0, "transferred": 0,
                             "no_show": 0,
                             "cancelled": 0, "expired": 0, "waits": [], "within": 0,
                             "service": [], "ratings": defaultdict(int)})
    visits = defaultdict(list)
    for v in sorted(core.visits.values(), key=lambda v: v.id):
        if v.day == day:
            visits[v.ticket_id].append(v)
    for t in core.tickets.values():
        if t.day != day:
            continue
        vs = visits[t.id]
        dept0 = vs[0].department if vs else t.department
        proc0 = vs[0].procedure if vs else t.procedure
        g[key(dept0, proc0, None, None, t.issued_at)]["issued"] += 1
        start = t.issued_at
        for i, v in enumerate(vs):
            if start is not None:
                wait = v.called_at - start
                row = g[key(v.department, v.procedure, v.counter, v.officer, start)]
                row["waits"].append(wait)
                row["within"] += wait <= targets[v.department]
                start = None
            if v.outcome in ("served", "transferred"):
                row = g[key(v.department, v.procedure, v.counter, v.officer, v.ended_at)]
                row["served" if v.outcome == "served" else "transferred"] += 1
                row["service"].append(v.ended_at - v.started_at)
            if v.outcome == "transferred":
                start = v.ended_at
                # Sent on to the next visit's department (or where it waits now).
                nxt = vs[i + 1] if i + 1 < len(vs) else t
                dept = nxt.department
                proc = nxt.procedure
                g[key(dept, proc, None, None, v.ended_at)]["transferred_in"] += 1
        status = {NO_SHOW: "no_show", CANCELLED: "cancelled", EXPIRED: "expired"}.get(t.status)
        if status == "no_show":
            g[key(t.department, t.procedure, t.counter, t.officer, t.finished_at)]["no_show"] += 1
        elif status:
            g[key(t.department, t.procedure, None, None, t.finished_at)][status] += 1
    for r in core.ratings.values():
        if r.day == day:
            g[key(r.department, r.procedure, r.counter, r.officer, r.at)]["ratings"][r.value] += 1
    out = {}
    for k, row in g.items():
        ratings = dict(row["ratings"])
        rated = sum(ratings.values())
        out[k] = {
            **{n: row[n] for n in ("issued", "transferred_in", "served", "transferred",
                                   "no_show", "cancelled", "expired")},
            "waits": len(row["waits"]),
            "wait_mean": statistics.fmean(row["waits"]) if row["waits"] else None,
            "wait_median": statistics.median(row["waits"]) if row["waits"] else None,
            "wait_p90": _p90(row["waits"]),
            "within": row["within"] / len(row["waits"]) if row["waits"] else None,
            "service_mean": statistics.fmean(row["service"]) if row["service"] else None,
            "service_median": statistics.median(row["service"]) if row["service"] else None,
            "service_p90": _p90(row["service"]),
            "ratings": ratings,
            "satisfaction": (sum(n for v, n in ratings.items() if v in happy) / rated
                             if rated else None),
        }
    return out


def _p90(values):
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def as_dict(k):
    return {
        "issued": k.issued, "transferred_in": k.transferred_in, "served": k.served,
        "transferred": k.transferred,
        "no_show": k.no_show, "cancelled": k.cancelled, "expired": k.expired,
        "waits": k.waits, "wait_mean": k.wait_mean, "wait_median": k.wait_median,
        "wait_p90": k.wait_p90, "within": k.within_share, "service_mean": k.service_mean,
        "service_median": k.service_median, "service_p90": k.service_p90,
        "ratings": dict(k.ratings), "satisfaction": k.satisfaction,
    }


def assert_same(got, want, where):
    assert set(got) == set(want), where
    for name, w in want.items():
        g = got[name]
        if isinstance(w, float) or isinstance(g, float):
            assert g is not None and w is not None and math.isclose(g, w, rel_tol=1e-9,
                                                                     abs_tol=1e-6), \
                (where, name, g, w)
        else:
            assert g == w, (where, name, g, w)


def test_the_simulated_day_is_busy_and_varied(simulated):
    result, _ = simulated
    stats = result.simulation.stats
    assert stats.arrivals > 400
    assert stats.transfers > 20 and stats.no_shows > 3 and stats.cancelled > 0
    assert stats.ratings > 200 and stats.pauses > 10
    assert any(t.priority for t in result.core.tickets.values())


@pytest.mark.parametrize("by", [None, *DIMENSIONS])
def test_report_matches_the_core(simulated, sample_config, tmp_path, by):
    result, db = simulated
    want = expected(result, sample_config, by)
    with ReportEngine(db, sample_config, cache=tmp_path / "cache.db") as engine:
        report = engine.report(DAY.isoformat(), DAY.isoformat(), by)
    if by is None:
        assert_same(as_dict(report.total), want[None], "total")
        return
    got = {k.key: as_dict(k) for k in report.rows}
    assert set(got) == set(want)
    for key in want:
        assert_same(got[key], want[key], (by, key))
    # The total row is the whole day, whatever the grouping.
    total = expected(result, sample_config, None)[None]
    assert_same(as_dict(report.total), total, "total")


def test_fast_path_baseline_and_python_aggregation_agree(simulated, sample_config, tmp_path):
    _, db = simulated
    d = DAY.isoformat()
    with ReportEngine(db, sample_config, cache=False) as mem, \
            ReportEngine(db, sample_config, cache=tmp_path / "c.db") as cached:
        facts = mem.facts(d, d)
        for by in (None, "officer", "hour"):
            fast = cached.report(d, d, by)
            slow = baseline_report(db, sample_config, d, d, by)
            rows, total = aggregate(facts, sample_config, by)
            for other in (slow.total, total, mem.report(d, d, by).total):
                assert_same(as_dict(fast.total), as_dict(other), by)
            assert [k.key for k in fast.rows] == [k.key for k in slow.rows] == \
                [k.key for k in rows]
            for a, b in zip(fast.rows, rows):
                assert_same(as_dict(a), as_dict(b), (by, a.key))


def test_cache_follows_the_log(sample_config, tmp_path):
    """Days are folded once; new events re-fold their day; a different
    database under the same name rebuilds the cache."""
    db = tmp_path / "motcua.db"
    sink = SqliteSink(db)
    days = simulate_days(sample_config, DAY, 3, seed=5, sink=sink)
    first = next(days)
    sink.flush()
    cache = tmp_path / "motcua.reports.db"
    assert default_cache_path(db) == cache
    d1 = first.day.isoformat()
    with ReportEngine(db, sample_config) as engine:
        r1 = engine.report(d1, "2026-12-31")
        assert engine.folded_days == []  # the newest day is never stored
    second = next(days)
    sink.flush()
    d2 = second.day.isoformat()
    with ReportEngine(db, sample_config) as engine:
        both = engine.report(d1, d2, "day")
        assert engine.folded_days == [d1]
        again = engine.report(d1, d2, "day")
        assert engine.folded_days == []
    with ReportEngine(db, sample_config, cache=False) as mem:
        truth = mem.report(d1, d2, "day")
    assert [as_dict(k) for k in both.rows] == [as_dict(k) for k in truth.rows]
    assert [as_dict(k) for k in again.rows] == [as_dict(k) for k in truth.rows]
    assert as_dict(both.rows[0]) == as_dict(r1.total)
    list(days)
    sink.close()

    # Another center's database copied over this one: the cache starts over.
    other = tmp_path / "other.db"
    sink = SqliteSink(other)
    simulate_day(sample_config, DAY, seed=99, sink=sink)
    sink.close()
    shutil.copy(other, db)
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"motcua.db{suffix}").unlink(missing_ok=True)
    with ReportEngine(db, sample_config) as engine:
        fresh = engine.report(d1, d1)
    with ReportEngine(db, sample_config, cache=False) as mem:
        assert as_dict(fresh.total) == as_dict(mem.report(d1, d1).total)


def test_unwritable_cache_falls_back_to_memory(simulated, sample_config, tmp_path):
    _, db = simulated
    d = DAY.isoformat()
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache's folder should be")
    with ReportEngine(db, sample_config, cache=blocked / "c.db") as engine:
        assert not engine.persistent
        report = engine.report(d, d)
    with ReportEngine(db, sample_config, cache=False) as mem:
        assert as_dict(report.total) == as_dict(mem.report(d, d).total)


def test_csv_and_xlsx_read_back(simulated, sample_config, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    _, db = simulated
    d = DAY.isoformat()
    with ReportEngine(db, sample_config, cache=False) as engine:
        report = engine.report(d, d, "department")
    table = build_table(report, sample_config, "vi")
    path = tmp_path / "r.csv"
    write_csv(table, path)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel-friendly BOM
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    assert head[:5] == ["Mã", "Lĩnh vực", "Số phiếu phát", "Chuyển đến", "Đã phục vụ"]
    assert "Tỷ lệ hài lòng (%)" in head and "Rất hài lòng" in head
    assert len(rows) == 1 + len(report.rows) + 1
    total = dict(zip(head, rows[-1]))
    assert total["Lĩnh vực"] == "Tổng cộng"
    assert int(total["Số phiếu phát"]) == report.total.issued
    assert float(total["Chờ trung bình (phút)"]) == pytest.approx(
        report.total.wait_mean / 60, abs=0.005)
    assert float(total["Tỷ lệ hài lòng (%)"]) == pytest.approx(
        report.total.satisfaction * 100, abs=0.05)
    tp = next(dict(zip(head, r)) for r in rows[1:-1] if r[0] == "TP")
    assert tp["Lĩnh vực"] == "TP – Sở Tư pháp"

    table_en = build_table(report, sample_config, "en")
    xlsx = tmp_path / "r.xlsx"
    write_xlsx(table_en, xlsx)
    wb = openpyxl.load_workbook(xlsx)
    ws = wb["Report"]
    header = [c.value for c in ws[4]]
    assert header[:5] == ["Code", "Department", "Issued", "Transferred in", "Served"]
    last = [c.value for c in ws[4 + len(report.rows) + 1]]
    values = dict(zip(header, last))
    assert values["Department"] == "Total"
    assert values["Issued"] == report.total.issued
    assert values["Mean wait (min)"] == pytest.approx(report.total.wait_mean / 60)
    assert values["Within target wait (%)"] == pytest.approx(report.total.within_share)
    assert ws.cell(row=5 + len(report.rows), column=header.index("Satisfaction (%)") + 1) \
        .number_format == "0.0%"
    assert "Definitions" in wb.sheetnames


def test_cli_table_csv_and_errors(simulated, tmp_path, capsys):
    _, src = simulated
    db = tmp_path / "m.db"
    shutil.copy(src, db)
    d = DAY.isoformat()
    assert main(["report", "--db", str(db), "--day", d, "--by", "hour"]) == 0
    out = capsys.readouterr().out
    assert "Theo giờ" in out and "08:00–09:00" in out and "Tổng cộng" in out
    assert main(["report", "--db", str(db), "--month", d[:7], "--format", "csv",
                 "--lang", "en", "--by", "counter"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("Code,Counter,Issued,Transferred in,Served")
    assert "Quầy 13 - Thu phí" in out
    assert main(["report", "--db", str(tmp_path / "none.db")]) == 2
    assert main(["report", "--db", str(db), "--day", "2026-13-01"]) == 2
    assert "Ngày không hợp lệ" in capsys.readouterr().err
    assert main(["report", "--db", str(db), "--day", "2020-01-01"]) == 0
    assert "Không có dữ liệu" in capsys.readouterr().out


def test_text_table_mentions_every_department(simulated, sample_config):
    result, db = simulated
    d = DAY.isoformat()
    with ReportEngine(db, sample_config, cache=False) as engine:
        text = to_text(build_table(engine.report(d, d, "department"), sample_config))
    for dept in sample_config.departments:
        assert dept.code in text


def test_engine_and_simulator_import_no_ui_or_network():
    """Reports, the simulator's core path and the monitor's model run
    without Textual; reports and the core simulator without websockets."""
    code = ("import sys, motcua.reports.engine, motcua.reports.render, motcua.reports.cli, motcua.sim.run, motcua.sim.erlang; "
            "bad = [m for m in ('textual', 'websockets', 'aiosqlite') if m in sys.modules]; "
            "import motcua.monitor.model; bad += [m for m in ('textual',) if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_fee_desk_reads_right_with_transferred_in(simulated, sample_config):
    """The fee desk gets most citizens from other desks: 'transferred in'
    says so (issued alone would read "22 issued, 111 served")."""
    _, db = simulated
    d = DAY.isoformat()
    with ReportEngine(db, sample_config, cache=False) as engine:
        report = engine.report(d, d, "department")
    rows = {k.key: k for k in report.rows}
    fee = rows["PHI"]
    assert fee.transferred_in > fee.issued
    assert fee.served + fee.no_show + fee.transferred <= fee.issued + fee.transferred_in
    # Every transfer out of one desk is a transfer into another.
    assert report.total.transferred_in == report.total.transferred == \
        sum(k.transferred for k in report.rows) > 0
    table = build_table(report, sample_config, "vi")
    text = to_text(table)
    assert "Ch.đến" in text and "Ch.đi" in text


def test_xlsx_prints_on_landscape_pages_fitted_to_width(simulated, sample_config, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    _, db = simulated
    d = DAY.isoformat()
    with ReportEngine(db, sample_config, cache=False) as engine:
        report = engine.report(d, d, "department")
    table = build_table(report, sample_config, "vi")
    path = tmp_path / "r.xlsx"
    write_xlsx(table, path)
    ws = openpyxl.load_workbook(path)["Báo cáo"]
    ps = ws.page_setup
    assert ps.orientation == "landscape" and str(ps.paperSize) == str(ws.PAPERSIZE_A4)
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert (ps.fitToWidth, ps.fitToHeight) == (1, 0)
    # The headings row and the code/name columns repeat on every page.
    assert ws.print_title_rows.replace("$", "") == "4:4"
    assert ws.print_title_cols.replace("$", "") == "A:B"
    assert table.title in ws.oddHeader.center.text
    assert "&P" in ws.oddFooter.right.text
    # The title spans the table instead of being cut at column A.
    last = openpyxl.utils.get_column_letter(len(table.columns))
    assert f"A1:{last}1" in {str(r) for r in ws.merged_cells.ranges}
    assert str(ws.print_area).endswith(f"$A$1:${last}${4 + len(report.rows) + 3}")


@pytest.mark.skipif(shutil.which("soffice") is None or shutil.which("pdfinfo") is None,
                    reason="needs LibreOffice and poppler-utils")
def test_xlsx_printed_by_libreoffice_is_one_page_wide(simulated, sample_config, tmp_path):
    _, db = simulated
    d = DAY.isoformat()
    with ReportEngine(db, sample_config, cache=False) as engine:
        report = engine.report(d, d, "procedure")  # 59 rows: more than one page down
    path = tmp_path / "r.xlsx"
    write_xlsx(build_table(report, sample_config, "vi"), path)
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(path)],
                   check=True, capture_output=True, timeout=180)
    info = subprocess.run(["pdfinfo", str(tmp_path / "r.pdf")], capture_output=True,
                          text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages")))
    size = next(line for line in info.splitlines() if line.startswith("Page size"))
    assert "A4" in size and float(size.split()[2]) > float(size.split()[4])  # landscape
    # Both sheets, each one page wide: a handful of pages, not 6 per sheet.
    assert 2 <= pages <= 4


def test_exported_file_is_named_in_the_report_language(simulated, tmp_path, monkeypatch):
    pytest.importorskip("openpyxl")
    _, src = simulated
    db = tmp_path / "m.db"
    shutil.copy(src, db)
    monkeypatch.chdir(tmp_path)
    d = DAY.isoformat()
    assert main(["report", "--db", str(db), "--day", d, "--format", "xlsx"]) == 0
    assert (tmp_path / f"bao-cao_theo-linh-vuc_{d}.xlsx").exists()
    assert main(["report", "--db", str(db), "--month", d[:7], "--by", "counter",
                 "--format", "xlsx", "--lang", "en"]) == 0
    assert (tmp_path / f"report_by-counter_{d[:7]}-01_{d[:7]}-30.xlsx").exists()


def _late_night(core, clock, day, sink):
    """Tickets across midnight after ``day``: one served from 23:55 to 00:03
    (its visit ends, and is rated, the next day), one still waiting at the
    rollover (expired with the old day), and the next day a no-show who
    came back and was served."""
    from datetime import time as dtime

    from motcua.server.core import QueueError

    tz = core.config.tz

    def at(d, hh, mm):
        clock.now = datetime.combine(d, dtime(hh, mm), tz)

    def run(command, **args):
        try:
            out = core.execute(command, **args)
        except QueueError as e:
            if e.outcome is not None:
                sink(core, e.outcome)
            raise
        if out.changed:
            sink(core, out)
        return out.result

    nxt = date.fromordinal(day.toordinal() + 1)
    at(day, 23, 55)
    run("issue", department="TP", request_id="late-served")
    run("issue", department="TP", request_id="late-waiting")
    counter = next(c.number for c in core.config.counters if "TP" in c.departments)
    run("login", counter=counter, officer="cb01")
    run("call_next", counter=counter)
    run("start", counter=counter)
    at(nxt, 0, 3)
    visit = run("finish", counter=counter)["visit"]["id"]
    run("rate", visit_id=visit, value=1, request_id="late-rate")
    at(nxt, 0, 5)
    run("issue", department="TP", request_id="came-back")
    run("call_next", counter=counter)
    run("no_show", counter=counter)
    at(nxt, 0, 9)
    number = core.tickets[core.by_request[(core.meta.day, None, "came-back")]].number
    run("requeue", number=number)
    run("call_next", counter=counter)
    run("finish", counter=counter)
    run("logout", counter=counter)


def test_a_cold_day_report_folds_only_that_day_and_matches_the_warm_one(
        sample_config, tmp_path):
    """On a multi-day log with tickets across midnight, a report of one day
    with no cache reads only that day and gives the figures of a cache built
    over every day, of the log folded in memory and of the naive baseline."""
    from motcua.reports.facts import SERVED
    from motcua.server.app import always_open
    from motcua.server.core import QueueCore
    from motcua.sim.run import SimClock

    db = tmp_path / "motcua.db"
    sink = SqliteSink(db)
    clock = SimClock()
    core = QueueCore(always_open(sample_config), clock)
    d1, d2, d3 = DAY, date(2026, 11, 24), date(2026, 11, 25)
    simulate_day(sample_config, d1, seed=3, core=core, clock=clock, sink=sink)
    _late_night(core, clock, d1, sink)
    simulate_day(sample_config, d2, seed=4, core=core, clock=clock, sink=sink)
    simulate_day(sample_config, d3, seed=5, core=core, clock=clock, sink=sink)
    sink.close()
    days = [d.isoformat() for d in (d1, d2, d3)]
    groupings = (None, *DIMENSIONS)

    with ReportEngine(db, sample_config, cache=tmp_path / "warm.db") as warm:
        warm.report(days[0], days[-1])
        assert warm.folded_days == days[:2]  # the newest day is never stored
        want = {(d, by): warm.report(d, d, by) for d in days[:2] for by in groupings}
        assert warm.folded_days == []
        served = [f for f in warm.facts(days[1], days[1]) if f.kind == SERVED]
    # The visit served across midnight counts on the day it ended, with its
    # whole service time (8 minutes from 23:55).
    assert any(f.value is not None and abs(f.value - 480) < 1 for f in served)

    for d in days[:2]:
        cold_cache = tmp_path / f"cold-{d}.db"
        with ReportEngine(db, sample_config, cache=cold_cache) as cold:
            got = {by: cold.report(d, d, by) for by in groupings}
            assert cold.folded_days == []  # folded once, by the first report
        with ReportEngine(db, sample_config, cache=tmp_path / f"again-{d}.db") as cold:
            cold.report(d, d)
            assert cold.folded_days == [d]  # that day only, not the whole log
        with ReportEngine(db, sample_config, cache=False) as mem:
            for by in groupings:
                base = baseline_report(db, sample_config, d, d, by)
                for other in (want[(d, by)], mem.report(d, d, by), base):
                    assert_same(as_dict(got[by].total), as_dict(other.total), (d, by))
                    assert [k.key for k in got[by].rows] == [k.key for k in other.rows]
                    for a, b in zip(got[by].rows, other.rows):
                        assert_same(as_dict(a), as_dict(b), (d, by, a.key))
