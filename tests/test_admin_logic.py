"""The administration's pure parts: live configuration changes, the TOML
export, devices and their secrets, managers' passwords."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from motcua.server.accounts import (Managers, hash_password, password_problem, pin_problem,
                                    verify_password)
from motcua.server.config import parse_config
from motcua.server.core import QueueCore, QueueError
from motcua.server.devices import Devices, digest, enrolment_code, parse_enrolment
from motcua.server.live_config import ChangeError, LiveConfig, config_doc, to_toml

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
MORNING = datetime(2026, 3, 3, 9, 0, tzinfo=HANOI)


def test_the_pure_parts_import_no_io():
    code = ("import sys; import motcua.server.live_config, motcua.server.devices, "
            "motcua.server.accounts; "
            "bad = [m for m in ('asyncio', 'websockets', 'aiosqlite', 'textual') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_configuration_survives_its_document_and_toml(sample_config):
    live = LiveConfig.of(sample_config)
    # Every field of the configuration survives being stored: a setting the
    # document forgot (lunch, ageing, keywords…) would be lost at the next start.
    assert live.config() == sample_config
    assert sample_config.lunch and sample_config.queue.overdue_after
    assert any(p.keywords for d in sample_config.departments for p in d.procedures)
    again = LiveConfig.of(live.config())
    assert again.same(live)
    text = to_toml(live.doc, live.pins, "header line")
    assert text.startswith("# header line")
    back = parse_config(tomllib.loads(text))
    assert LiveConfig.of(back).same(live)


def test_closing_a_department_for_today_or_until_a_time(sample_config):
    live = LiveConfig.of(sample_config)
    closed, record = live.apply({"kind": "close_department", "department": "TP"}, MORNING)
    assert closed.version == live.version + 1
    tp = closed.config().department("TP")
    assert tp.open is False
    assert tp.reopen_at == datetime(2026, 3, 4, 0, 0, tzinfo=HANOI).timestamp()
    assert record == {"kind": "close_department", "department": "TP", "until": "today",
                      "reopen_at": tp.reopen_at}
    later, _ = live.apply({"kind": "close_department", "department": "TP", "until": "14:30"},
                          MORNING)
    assert later.config().department("TP").reopen_at == MORNING.replace(
        hour=14, minute=30).timestamp()
    # It exports and loads back with its reopening time.
    assert parse_config(tomllib.loads(to_toml(later.doc, later.pins))).department(
        "TP").reopen_at == later.config().department("TP").reopen_at
    forever, _ = live.apply({"kind": "close_department", "department": "TP",
                             "until": "indefinitely"}, MORNING)
    assert forever.config().department("TP").reopen_at is None
    with pytest.raises(ChangeError) as e:
        live.apply({"kind": "close_department", "department": "TP", "until": "08:59"}, MORNING)
    assert e.value.code == "bad_time"
    opened, _ = closed.apply({"kind": "open_department", "department": "TP"}, MORNING)
    assert opened.same(live)


def test_changes_are_checked_by_the_center_file_parser(sample_config):
    live = LiveConfig.of(sample_config)
    for change, code in (
            ({"kind": "set_daily_cap", "department": "TP", "cap": 1000}, "bad_value"),
            ({"kind": "set_counter_departments", "counter": 1, "departments": []}, "bad_value"),
            ({"kind": "set_counter_departments", "counter": 1, "departments": ["TP", "TP"]},
             "bad_value"),
            ({"kind": "set_counter_departments", "counter": 1, "departments": ["KHDT"]},
             "config_invalid"),  # nobody else serves TP
            ({"kind": "add_officer", "officer": "có dấu", "name": "x", "pin_hash": "p"},
             "bad_value"),
            ({"kind": "add_officer", "officer": "cb77", "name": "x", "pin_hash": "p",
              "counters": [99]}, "unknown_counter"),
            ({"kind": "update_officer", "officer": "cb01"}, "bad_value"),
            ({"kind": "set_notice", "notice": sample_config.notice,
              "notice_en": sample_config.notice_en}, "no_change"),
            ({"kind": "nonsense"}, "bad_value")):
        with pytest.raises(ChangeError) as e:
            live.apply(change, MORNING)
        assert e.value.code == code, change
    nxt, record = live.apply({"kind": "add_officer", "officer": "cb77", "name": " Mới ",
                              "pin_hash": "pbkdf2_sha256$1$s$00", "counters": [2, 2, 3]}, MORNING)
    assert nxt.config().officer("cb77").counters == (2, 3)
    assert "pin_hash" not in record and "pbkdf2" not in str(record)
    assert "cb77" not in str(nxt.doc["officers"][-1].get("pin_hash", ""))
    assert nxt.pins["cb77"].startswith("pbkdf2")


def test_the_core_applies_live_changes_with_an_event(sample_config):
    from motcua.server.live_config import always_open
    clock = [MORNING.astimezone(timezone.utc)]
    core = QueueCore(always_open(sample_config), lambda: clock[0])
    out = core.configure({"kind": "close_department", "department": "TP", "until": "10:00"},
                         by="ql01", reason="họp")
    ev = out.events[-1]
    assert (ev.type, ev.data["by"], ev.data["reason"], ev.data["version"]) == (
        "config_changed", "ql01", "họp", 1)
    assert out.versions and "TP" in out.departments
    with pytest.raises(QueueError) as e:
        core.issue("TP", request_id="x")
    assert e.value.code == "department_closed"
    clock[0] += timedelta(hours=1)
    out = core.issue("TP", request_id="x")
    assert [e.type for e in out.events] == ["config_changed", "ticket_issued"]
    assert out.events[0].data["change"]["scheduled"] is True
    # An officer's PIN is no new version, and the disabled officer can't log in.
    out = core.set_pin("cb01", "pbkdf2_sha256$1$s$11", by="ql01")
    assert out.pins == {"cb01"} and not out.versions
    assert core.config.officer("cb01").pin_hash.endswith("$11")
    core.configure({"kind": "update_officer", "officer": "cb02", "disabled": True})
    with pytest.raises(QueueError) as e:
        core.login(2, "cb02")
    assert e.value.code == "unknown_officer"


def test_devices_are_enrolled_authenticated_and_revoked():
    devices = Devices()
    kiosk, secret = devices.enrol("kiosk", "sanh-1", 100.0, "ql01")
    assert kiosk.digest == digest(secret) and secret not in kiosk.row()
    assert devices.authenticate(secret) == kiosk
    assert devices.authenticate(secret + "x") is None
    with pytest.raises(Exception) as e:
        devices.enrol("kiosk", "sanh-1", 101.0, "ql01")
    assert e.value.code == "device_exists"
    revoked = devices.revoke("sanh-1", 102.0, "ql01", "mất")
    assert devices.authenticate(secret).revoked and revoked.revoke_reason == "mất"
    again, secret2 = devices.enrol("kiosk", "sanh-1", 103.0, "ql01")
    assert devices.authenticate(secret) is None and devices.authenticate(secret2) == again
    devices.seen("sanh-1", 104.0, "10.0.0.5")
    assert [d.last_address for d in devices.take_seen()] == ["10.0.0.5"]
    assert devices.take_seen() == []
    pad, s = devices.enrol("rating", "pad-3", 1.0, None, counter=3)
    code = enrolment_code("wss://10.0.0.2:8765", pad, s, "ab" * 32)
    assert parse_enrolment(code) == {"url": "wss://10.0.0.2:8765", "role": "rating",
                                     "device": "pad-3", "secret": s, "counter": 3,
                                     "fingerprint": "ab" * 32}
    with pytest.raises(ValueError):
        parse_enrolment("https://example.com/?secret=x")


def test_managers_passwords_are_argon2():
    h = hash_password("mot-mat-khau-dai")
    assert h.startswith("$argon2id$")
    assert verify_password("mot-mat-khau-dai", h)
    assert not verify_password("mot-mat-khau-dai!", h)
    assert not verify_password("anything", None)
    assert not verify_password("x", "not-a-hash")
    assert password_problem("short") and password_problem("aaaaaaaaaaaa")
    assert password_problem("mot-mat-khau-dai") is None
    assert pin_problem("1234") is None and pin_problem("0000") and pin_problem("12a4")
    managers = Managers()
    managers.add("ql01", "Quản lý", h, 1.0, "cli")
    with pytest.raises(Exception):
        managers.add("ql01", "Again", h, 1.0, "cli")
    assert managers.update("ql01", disabled=True).disabled


def test_the_document_has_no_pin_hash(sample_config):
    assert "pbkdf2" not in str(config_doc(sample_config))
