"""Time of day: the product at awkward hours, and the machinery that runs the
suite at chosen times (``pytest --clock-matrix``, see tests/clocks.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import VN

from motcua.server.app import always_open
from motcua.server.core import QueueCore

TESTS = Path(__file__).parent


def test_ignore_hours_issues_in_the_last_second_of_the_day(sample_config):
    """--ignore-hours means every moment: 23:59:59.5 too (it was refused
    as after hours, last ticket 23:59:59)."""
    now = [datetime(2026, 12, 1, 23, 59, 59, 500000, tzinfo=VN)]
    core = QueueCore(always_open(sample_config), lambda: now[0].astimezone(timezone.utc))
    out = core.issue("TP", device="k", request_id="late")
    assert out.result["ticket"]["number"] == "A001"
    now[0] = datetime(2026, 12, 2, 0, 0, 0, 200000, tzinfo=VN)
    assert core.issue("TP", device="k", request_id="early").result["ticket"]["number"] == "A001"


PROBE = '''
import subprocess
import time
from datetime import datetime, timedelta, timezone

VN = timezone(timedelta(hours=7))


def test_a_starts_at_the_chosen_time_and_the_clock_runs():
    start = datetime.now(VN)
    assert start.strftime("%Y-%m-%d %H:%M:%S") == "2026-12-01 23:59:59"
    # a subprocess sees the same clock (16:59 UTC is 23:59 in Vietnam)
    assert subprocess.run(["date", "-u", "+%H:%M"], capture_output=True,
                          text=True).stdout.strip() in ("16:59", "17:00")
    time.sleep(1.2)
    assert datetime.now(VN).date().isoformat() == "2026-12-02"


def test_b_starts_at_the_chosen_time_again():
    assert datetime.now(VN).strftime("%Y-%m-%d %H:%M") == "2026-12-01 23:59"
'''


def run_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MOTCUA_TEST_CLOCK"}
    # The probe runs with only the clock plugin (no conftest, no ini file).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "clocks",
                           "-p", "no:cacheprovider", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_clock_option_runs_every_test_from_the_chosen_time(tmp_path):
    pytest.importorskip("libfaketime")
    (tmp_path / "test_probe.py").write_text(PROBE, "utf-8")
    proc = run_pytest(tmp_path, "--clock", "23:59:59", "test_probe.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = proc.stdout[proc.stdout.index("===== clock matrix"):]
    assert "ok     2026-12-01 23:59:59 Vietnam (16:59:59 UTC): 2 passed" in summary


def test_clock_matrix_reports_each_run_and_fails_if_one_fails(tmp_path):
    pytest.importorskip("libfaketime")
    (tmp_path / "test_noon.py").write_text(textwrap.dedent('''
        from datetime import datetime, timedelta, timezone

        def test_only_at_noon():
            assert datetime.now(timezone(timedelta(hours=7))).hour == 12
    '''), "utf-8")
    proc = run_pytest(tmp_path, "--clock-matrix", "test_noon.py")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    summary = out[out.index("===== clock matrix"):].splitlines()[1:]
    assert [line.split()[0] for line in summary] == ["FAILED", "ok", "FAILED"], summary
    assert "03:15:00 Vietnam (20:15:00 UTC)" in summary[0]
    assert "12:00:00 Vietnam (05:00:00 UTC)" in summary[1]
    assert "23:59:30 Vietnam (16:59:30 UTC)" in summary[2]
