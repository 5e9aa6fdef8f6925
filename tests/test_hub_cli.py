"""The hub's commands as an operator runs them: init, add-site, add-reader,
sites, health, ``report --hub`` (table, CSV, xlsx; --by site, --site), and
their refusals (bad URL, wrong password, wrong role, unknown site)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date

import pytest

from motcua.cli import main
from motcua.hub.schema import SCHEMA_VERSION
from motcua.hub.shipper import Shipper
from motcua.sim.run import SqliteSink, simulate_days

from conftest import _hub_numbers, wait_for

DAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def province(postgres, sample_config, tmp_path_factory):
    """A hub made with the commands, two sites shipped into it."""
    name = f"hub{next(_hub_numbers)}"
    admin = postgres.url(name)
    assert main(["hub", "init", admin, "--name", "Tỉnh Lệnh", "--prefix", name]) == 0
    urls = {}
    folder = tmp_path_factory.mktemp("hubcli")
    for code, seed in (("XA01", 1), ("XA02", 2)):
        import contextlib

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["hub", "add-site", code, "--name", f"Xã {code}", "--hub", admin]) == 0
        urls[code] = out.getvalue().strip()
        path = folder / f"{code}.db"
        sink = SqliteSink(path)
        list(simulate_days(sample_config, DAY, 1, seed=seed, sink=sink, load=0.3))
        sink.close()

        async def ship(path=path, url=urls[code], code=code):
            s = Shipper(path, url, sample_config, code=code, poll=0.05)
            await s.start()
            try:
                await wait_for(lambda: s.backlog == 0 and s.hwm, 30)
            finally:
                await s.stop()

        asyncio.run(ship())
    return admin, urls


def test_init_again_is_harmless_and_says_so(province, capsys):
    admin, _ = province
    assert main(["hub", "init", admin]) == 0
    assert "phiên bản / schema already at version" in capsys.readouterr().out


def test_report_by_site_as_table_csv_and_xlsx(province, capsys, tmp_path, monkeypatch):
    admin, _ = province
    d = DAY.isoformat()
    assert main(["report", "--hub", admin, "--day", d, "--by", "site"]) == 0
    out = capsys.readouterr().out
    assert "Tỉnh Lệnh" in out and "XA01 – Xã XA01" in out and "XA02 – Xã XA02" in out
    assert "Theo đơn vị" in out
    assert main(["report", "--hub", admin, "--day", d, "--by", "site", "--format", "csv",
                 "--lang", "en"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:3] == ["Code", "Site", "Issued"]
    assert [r[0] for r in rows[1:]] == ["XA01", "XA02", ""]
    total = int(rows[-1][2])
    assert total == int(rows[1][2]) + int(rows[2][2]) > 0
    assert main(["report", "--hub", admin, "--day", d, "--site", "XA02", "--format", "csv"]) == 0
    only = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert int(only[-1][2]) == int(rows[2][2])
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--hub", admin, "--month", d[:7], "--by", "site",
                 "--format", "xlsx"]) == 0
    assert (tmp_path / f"bao-cao-tinh_theo-don-vi_{d[:7]}-01_{d[:7]}-30.xlsx").exists()


def test_sites_and_health(province, capsys):
    admin, _ = province
    assert main(["hub", "sites", "--hub", admin]) == 0
    out = capsys.readouterr().out
    assert "XA01" in out and "XA02" in out
    assert main(["hub", "health", "--hub", admin]) == 0
    out = capsys.readouterr().out
    assert "motcua_hub_sites 2" in out and 'motcua_hub_site_high_water_mark{site="XA01"}' in out
    assert "motcua_hub_database_bytes" in out and f"motcua_hub_schema_version {SCHEMA_VERSION}" in out


def test_refusals(province, capsys):
    admin, urls = province
    d = DAY.isoformat()
    # Malformed input.
    assert main(["report", "--hub", "mysql://x", "--day", d]) == 2
    assert "URL PostgreSQL" in capsys.readouterr().err
    assert main(["report", "--by", "site", "--day", d]) == 2
    assert "--hub" in capsys.readouterr().err
    assert main(["report", "--hub", admin, "--day", d, "--site", "NOPE"]) == 2
    assert "Không có đơn vị NOPE" in capsys.readouterr().err
    assert main(["hub", "add-site", "bad code!", "--hub", admin]) == 1
    assert "site code" in capsys.readouterr().err
    assert main(["hub", "init"]) == 2
    # A wrong secret.
    wrong = admin.replace("@", "nope@", 1)
    assert main(["report", "--hub", wrong, "--day", d]) == 2
    assert "password" in capsys.readouterr().err
    # The wrong role: a site's credential cannot add sites, and reports only itself.
    assert main(["hub", "add-site", "XA09", "--hub", urls["XA01"]]) == 1
    assert "refused" in capsys.readouterr().err
    assert main(["report", "--hub", urls["XA01"], "--day", d, "--by", "site",
                 "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert [r[0] for r in rows[1:]] == ["XA01", ""]
    # Unreachable.
    assert main(["report", "--hub", "postgresql://a:b@127.0.0.1:9/x", "--day", d]) == 2
    assert "Không kết nối được" in capsys.readouterr().err


def test_reader_reads_but_cannot_write(province, capsys):
    admin, _ = province
    assert main(["hub", "add-reader", "so-noi-vu", "--hub", admin]) == 0
    reader = capsys.readouterr().out.strip()
    assert main(["report", "--hub", reader, "--day", DAY.isoformat(), "--by", "site"]) == 0
    assert "XA02" in capsys.readouterr().out
    assert main(["hub", "add-site", "XA05", "--hub", reader]) == 1
