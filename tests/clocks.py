"""Run the test suite at chosen times of day (``pytest --clock-matrix``).

Tests must pass at any wall-clock time, and CI runs at any hour. This plugin
re-runs pytest under libfaketime (PyPI ``libfaketime``: Debian's faketime
does not work with Python 3.11) with the wall clock set to a given local time
in Vietnam, once per time, and reports each run:

    pytest --clock-matrix                  # 03:15, 12:00 and 23:59:30 (UTC+7)
    pytest --clock 23:59:30 tests/test_core.py
    pytest --clock 2026-12-06T07:29:50     # a date too (default 2026-12-01, a Tuesday)

Every test starts with the clock at that time (it is set again before each
test, then runs on), so 23:59:30 means every test begins 30 seconds before
midnight and any test that runs longer crosses it. Subprocesses inherit the
clock; only the wall clock is faked, never the monotonic one (asyncio's
timeouts stay real).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

#: Vietnam's local time is UTC+7 all year (no daylight saving).
VIETNAM = timezone(timedelta(hours=7), "ICT")
DEFAULT_DAY = "2026-12-01"
MATRIX = ("03:15", "12:00", "23:59:30")
_CHILD = "MOTCUA_TEST_CLOCK"  # set in the re-run: the local time every test starts at
_offset = 0.0  # what FAKETIME currently adds to the real clock


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("clocks", "wall clock (libfaketime)")
    group.addoption("--clock", action="append", default=[], metavar="TIME",
                    help="run the suite with every test starting at this local time in "
                         "Vietnam (HH:MM[:SS] or YYYY-MM-DDTHH:MM[:SS]); repeatable")
    group.addoption("--clock-matrix", action="store_true",
                    help=f"run the suite at {', '.join(MATRIX)} Vietnam time and report each")


def parse_clock(text: str) -> datetime:
    """``03:15`` → 2026-12-01 03:15 ICT; a full date and time is taken as given."""
    text = text.strip()
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", text):
        text = f"{DEFAULT_DAY}T{text}"
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise pytest.UsageError(f"--clock: not a time: {text!r} (HH:MM[:SS])") from None
    return local.replace(tzinfo=VIETNAM) if local.tzinfo is None else local


def _faketime_env() -> dict[str, str]:
    try:
        import libfaketime
    except ImportError:
        raise pytest.UsageError("--clock needs libfaketime: pip install -e '.[test]'") from None
    # LD_PRELOAD (kept in front of any existing one), the library's folder,
    # FAKETIME_NO_CACHE and DONT_FAKE_MONOTONIC.
    _, extra = libfaketime.get_reload_information()
    return dict(extra)


def _child_args(config: pytest.Config) -> list[str]:
    """This run's arguments without the clock options."""
    out, skip = [], False
    for arg in config.invocation_params.args:
        if skip:
            skip = False
            continue
        if arg == "--clock-matrix":
            continue
        if arg == "--clock":
            skip = True
            continue
        if arg.startswith("--clock="):
            continue
        out.append(arg)
    return out


def _pytest_command() -> list[str]:
    script = sys.argv[0]
    if script.endswith("__main__.py") or not os.path.exists(script):
        return [sys.executable, "-m", "pytest"]
    return [sys.executable, script]


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """In the first process: run the suite once per clock, report, exit."""
    if os.environ.get(_CHILD):
        return None
    clocks = list(config.getoption("clock"))
    if config.getoption("clock_matrix"):
        clocks += [c for c in MATRIX if c not in clocks]
    if not clocks:
        return None
    times = [parse_clock(c) for c in clocks]
    base = {**os.environ, **_faketime_env(), "FAKETIME": "+0"}
    cmd = _pytest_command() + _child_args(config)
    results = []
    for when in times:
        label = f"{when:%Y-%m-%d %H:%M:%S} Vietnam ({when.astimezone(timezone.utc):%H:%M:%S} UTC)"
        print(f"\n===== pytest with the clock at {label} =====", flush=True)
        start = time.monotonic()
        proc = subprocess.Popen(cmd, env={**base, _CHILD: when.isoformat()},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        summary = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if re.search(r"\b(passed|failed|error|errors|skipped|no tests ran)\b.* in [\d.]+s",
                         line):
                summary = line.strip(" =\n")
        code = proc.wait()
        results.append((label, code, summary or f"exit {code}", time.monotonic() - start))
    print("\n===== clock matrix =====")
    for label, code, summary, took in results:
        verdict = "ok    " if code == 0 else "FAILED"
        print(f"{verdict} {label}: {summary} (exit {code}, {took:.0f} s)")
    return next((code for _, code, _, _ in results if code != 0), 0)


def _set_clock(when: datetime) -> None:
    """Make the wall clock read ``when`` now (libfaketime rereads FAKETIME
    on every call: FAKETIME_NO_CACHE)."""
    global _offset
    real = time.time() - _offset
    # Rounded up to the millisecond FAKETIME is written in: the clock reads
    # `when` or a hair after, never 23:59:58.9995 for 23:59:59.
    _offset = math.ceil((when.timestamp() - real) * 1000) / 1000
    os.environ["FAKETIME"] = f"{_offset:+.3f}"


def pytest_configure(config: pytest.Config) -> None:
    when = os.environ.get(_CHILD)
    if not when:
        return
    target = datetime.fromisoformat(when)
    _set_clock(target)
    if abs(time.time() - target.timestamp()) > 5:
        raise pytest.UsageError("libfaketime is not faking the clock here (LD_PRELOAD?)")
    config.stash[_TARGET] = target


_TARGET = pytest.StashKey[datetime]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Every test (its fixtures included) starts at the chosen time."""
    target = item.config.stash.get(_TARGET, None)
    if target is not None:
        _set_clock(target)


def pytest_report_header(config: pytest.Config) -> str | None:
    target = config.stash.get(_TARGET, None)
    if target is None:
        return None
    return f"clock: every test starts at {target:%Y-%m-%d %H:%M:%S} Vietnam time (libfaketime)"
