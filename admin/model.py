"""What the admin app shows, from the shared client's mirror and the
server's lists. Pure: no Textual, no network (tested on its own)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from motcua.client import CenterState

T = Callable[..., str]
DEFAULT_TZ = "Asia/Ho_Chi_Minh"


def center_tz(center: dict[str, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(center.get("timezone") or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def local(ts: float | None, tz: ZoneInfo, fmt: str = "%d/%m %H:%M") -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(ts, timezone.utc).astimezone(tz).strftime(fmt)


def device_rows(devices: list[dict[str, Any]], tz: ZoneInfo, t: T) -> list[tuple[str, list[str]]]:
    """Devices: active ones first, by role and name."""
    rows = []
    for d in sorted(devices, key=lambda d: (d["revoked"], d["role"], d["name"])):
        status = t("revoked", when=local(d["revoked_at"], tz)) if d["revoked"] else t("active")
        rows.append((d["name"], [d["name"], t(f"role_{d['role']}"),
                                 str(d["counter"]) if d["counter"] is not None else "",
                                 local(d["last_seen"], tz) or t("never"),
                                 d["last_address"] or "", status]))
    return rows


def officer_rows(officers: list[dict[str, Any]], t: T) -> list[tuple[str, list[str]]]:
    return [(o["id"], [o["id"], o["name"], ", ".join(str(n) for n in o.get("counters") or ()),
                       str(o["at_counter"]) if o.get("at_counter") else "",
                       t("officer_disabled") if o.get("disabled") else t("officer_active")])
            for o in officers]


def closure(dept: dict[str, Any], tz: ZoneInfo, now: float, t: T) -> str:
    """A department's state in words: taking tickets, closed for today,
    until a time, or until reopened."""
    if dept.get("open", True):
        return t("dept_open")
    reopen = dept.get("reopen_at")
    if reopen is None:
        return t("dept_closed")
    at = datetime.fromtimestamp(reopen, timezone.utc).astimezone(tz)
    today = datetime.fromtimestamp(now, timezone.utc).astimezone(tz).date()
    if at.date() > today and at.hour == 0 and at.minute == 0:
        return t("dept_closed_today")
    return t("dept_closed_until", time=at.strftime("%H:%M" if at.date() == today
                                                    else "%d/%m %H:%M"))


def department_rows(state: CenterState, now: float, t: T,
                    language: str = "vi") -> list[tuple[str, list[str]]]:
    tz = center_tz(state.center)
    counters = state.center.get("counters", [])
    rows = []
    for d in state.center.get("departments", []):
        view = state.departments.get(d["code"], {})
        served = [str(c["number"]) for c in counters if d["code"] in c["departments"]]
        name = (d.get("en") if language == "en" else None) or d.get("vi") or d["code"]
        rows.append((d["code"], [d["code"], name, closure(d, tz, now, t),
                                 str(d["daily_cap"]) if d.get("daily_cap") else t("no_cap"),
                                 str(view.get("waiting", 0)), ", ".join(served)]))
    return rows


def counter_rows(state: CenterState, t: T) -> list[tuple[str, list[str]]]:
    rows = []
    for c in state.center.get("counters", []):
        view = state.counters.get(c["number"], {})
        status = view.get("status", "closed")
        officer = view.get("officer_name") or view.get("officer") or ""
        rows.append((str(c["number"]), [str(c["number"]), c.get("name", ""),
                                        ", ".join(c["departments"]),
                                        t(f"counter_{status}"), officer]))
    return rows


def change_text(change: dict[str, Any] | None) -> str:
    """A configuration change in a few words for the history table."""
    if not change:
        return ""
    c = dict(change)
    kind = c.pop("kind", "?")
    c.pop("reopen_at", None)
    c.pop("before", None)
    parts = []
    for key, value in c.items():
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if value is not None and value is not False:
            parts.append(f"{key}={value}" if value is not True else key)
    return f"{kind} " + " ".join(parts)


def history_rows(versions: list[dict[str, Any]], tz: ZoneInfo,
                 t: T) -> list[tuple[str, list[str]]]:
    return [(str(v["version"]), [str(v["version"]), local(v["at"], tz),
                                 v["by"] or t("scheduled"), change_text(v["change"]),
                                 v["reason"] or ""])
            for v in versions]


def parse_numbers(text: str) -> list[int] | None:
    """``"1, 2 3"`` → ``[1, 2, 3]``; None if something is not a number."""
    parts = [p for p in text.replace(",", " ").split() if p]
    if not all(p.isdigit() for p in parts):
        return None
    return [int(p) for p in parts]


def parse_codes(text: str) -> list[str]:
    """``"tp, khdt"`` → ``["TP", "KHDT"]`` (order kept)."""
    return [p.strip().upper() for p in text.replace(";", ",").split(",") if p.strip()]


def qr_lines(data: str) -> list[str]:
    """A QR code of ``data`` in half-block characters (two modules a line),
    dark on light, with its quiet zone."""
    import qrcode

    qr = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_L)
    qr.add_data(data)
    qr.make(fit=True)
    m = qr.get_matrix()
    if len(m) % 2:
        m = [*m, [False] * len(m[0])]
    glyph = {(False, False): "█", (True, False): "▄", (False, True): "▀", (True, True): " "}
    return ["".join(glyph[(top, bottom)] for top, bottom in zip(m[i], m[i + 1]))
            for i in range(0, len(m), 2)]
