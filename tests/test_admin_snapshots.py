"""Snapshots of the admin app at 80×24 and 120×40, drawn from fixed data
(preview mode: no connection). Update with ``pytest --snapshot-update``
after checking the SVGs by eye."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from motcua.admin.app import AdminApp
from motcua.client import CenterState
from motcua.server.config import load_config
from motcua.server.core import QueueCore
from motcua.server.live_config import LiveConfig

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 3, 3, 9, 30, tzinfo=HANOI)
T = NOW.timestamp()


def preview(manager: str | None = "ql01") -> dict:
    config = load_config(None)
    live = LiveConfig.of(config)
    live, _ = live.apply({"kind": "close_department", "department": "TP", "until": "14:00"}, NOW)
    live, _ = live.apply({"kind": "update_officer", "officer": "cb03", "disabled": True}, NOW)
    core = QueueCore(live.config(), lambda: NOW)
    core.live = live
    for i in range(4):
        core.issue("KHDT", request_id=f"k{i}")
    core.login(2, "cb02")
    state = CenterState(center=core.config.public())
    state.load(core.snapshot())
    devices = [
        {"name": "sanh-1", "role": "kiosk", "counter": None, "created_at": T - 86400,
         "created_by": "ql01", "revoked": False, "revoked_at": None, "revoked_by": None,
         "revoke_reason": None, "last_seen": T - 60, "last_address": "10.0.0.21"},
        {"name": "tv-phong-cho", "role": "display", "counter": None, "created_at": T - 86400,
         "created_by": "ql01", "revoked": False, "revoked_at": None, "revoked_by": None,
         "revoke_reason": None, "last_seen": T - 5, "last_address": "10.0.0.30"},
        {"name": "quay-2", "role": "counter", "counter": 2, "created_at": T - 86400,
         "created_by": "ql01", "revoked": False, "revoked_at": None, "revoked_by": None,
         "revoke_reason": None, "last_seen": None, "last_address": None},
        {"name": "sanh-cu", "role": "kiosk", "counter": None, "created_at": T - 7 * 86400,
         "created_by": "cli:root", "revoked": True, "revoked_at": T - 3600,
         "revoked_by": "ql01", "revoke_reason": "mất", "last_seen": T - 7200,
         "last_address": "10.0.0.22"}]
    at = {2: "cb02"}
    officers = [{"id": o.id, "name": o.name, "disabled": o.disabled, "counters": list(o.counters),
                 "at_counter": next((n for n, who in at.items() if who == o.id), None)}
                for o in core.config.officers]
    versions = [
        {"version": 3, "at": T - 60, "by": "ql01", "reason": "nghỉ phép",
         "change": {"kind": "update_officer", "officer": "cb03", "disabled": True}},
        {"version": 2, "at": T - 120, "by": "ql01", "reason": "mất điện",
         "change": {"kind": "close_department", "department": "TP", "until": "14:00"}},
        {"version": 1, "at": T - 86400, "by": "file", "reason": None,
         "change": {"kind": "file", "source": "sample"}}]
    return {"state": state, "manager": manager, "devices": devices, "officers": officers,
            "versions": versions}


def app(tab: str = "devices", language: str = "vi", manager: str | None = "ql01") -> AdminApp:
    return AdminApp(preview=preview(manager), tab=tab, language=language, clock=lambda: T)


def test_devices_80x24(snap_compare):
    assert snap_compare(app("devices"), terminal_size=(80, 24))


def test_departments_and_counters_80x24(snap_compare):
    assert snap_compare(app("departments"), terminal_size=(80, 24))


def test_login_80x24(snap_compare):
    assert snap_compare(app(manager=None), terminal_size=(80, 24))


def test_officers_120x40(snap_compare):
    assert snap_compare(app("officers"), terminal_size=(120, 40))


def test_departments_english_120x40(snap_compare):
    assert snap_compare(app("departments", "en"), terminal_size=(120, 40))


def test_today_120x40(snap_compare):
    assert snap_compare(app("today"), terminal_size=(120, 40))


def test_close_dialog_80x24(snap_compare):
    async def open_dialog(pilot):
        await pilot.pause()
        await pilot.click("#close-department")
        await pilot.pause(0.3)
    assert snap_compare(app("departments"), terminal_size=(80, 24), run_before=open_dialog)
