"""Appointments (đặt lịch hẹn): booking capacity, booking codes, imports and
check-in decisions. Pure: no I/O, time passed in.

A center opens *slots* for some departments (``[booking]`` in the center
file: so many bookings per ``slot_minutes`` during some hours, optionally only
for some procedures). A booking names a procedure, a day and a slot start; it
has a short code the citizen types (or scans) at the kiosk. Checking in turns
it into a ticket *booked* for its slot: the queue core calls a booked ticket
once its slot has come, ahead of walk-ins but bounded like priority
(:func:`motcua.server.calling.takes_booked`).

Imports are all or nothing: :func:`validate` names every bad row (with the
field and a Vietnamese and English reason) and nothing is added unless every
row is good. A row whose code is already booked with the very same content
is left as it is (a portal re-exporting the same bookings imports cleanly).
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from motcua.web.alerts import normalize_phone

#: What may happen to a booking checked in after its slot and grace.
AFTER_GRACE = ("walk_in", "refuse")

#: A booking's status: booked, checked in (a booked ticket), checked in too
#: late (a walk-in ticket), or lapsed (its day ended without a check-in).
BOOKED, CHECKED_IN, WALK_IN, LAPSED = "booked", "checked_in", "walk_in", "lapsed"

#: Booking codes made here: Crockford's base32 without the letters people
#: confuse (I, L, O, U), 8 characters = 40 bits; typed on a kiosk that takes
#: a few attempts a minute, unguessable in practice.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
#: A portal's own codes: letters, digits and dashes.
_CODE_RE = re.compile(r"^[A-Z0-9]{4,32}$")
_ID_RE = re.compile(r"^(\d{9}|\d{12})$")
MAX_ROWS = 5000
MAX_NAME = 100


@dataclass(frozen=True)
class Capacity:
    """Bookings a department takes: ``per_slot`` per slot, during ``hours``
    (start, end) windows, for ``procedures`` (empty: all of them)."""

    department: str
    per_slot: int
    hours: tuple[tuple[time, time], ...]
    procedures: tuple[str, ...] = ()


@dataclass(frozen=True)
class BookingRules:
    """The ``[booking]`` section."""

    slot_minutes: int = 15
    #: How early before its slot a booking may check in (it then waits).
    early_minutes: int = 30
    #: Late by at most this much after its slot start: the booking keeps its place.
    grace_minutes: int = 10
    #: Later still: ``walk_in`` (a normal ticket, said on the screen) or ``refuse``.
    after_grace: str = "walk_in"
    #: Booked calls in a row at a counter while walk-ins wait, at most.
    max_booked_in_row: int = 2
    #: A walk-in who has waited this many minutes is called before any
    #: booking (None: the department's target wait).
    walk_in_guard: float | None = None
    capacity: tuple[Capacity, ...] = ()

    def for_department(self, code: str) -> Capacity | None:
        return next((c for c in self.capacity if c.department == code), None)

    def guard_seconds(self, target_wait: float) -> float:
        return 60.0 * (self.walk_in_guard if self.walk_in_guard is not None else target_wait)

    def slots(self, department: str) -> list[time]:
        """The slot starts a department offers, in order."""
        cap = self.for_department(department)
        if cap is None:
            return []
        out = []
        step = timedelta(minutes=self.slot_minutes)
        for start, end in cap.hours:
            t = datetime.combine(date(2000, 1, 1), start)
            stop = datetime.combine(date(2000, 1, 1), end)
            while t + step <= stop:
                out.append(t.time())
                t += step
        return out


@dataclass
class Booking:
    code: str
    day: str
    slot: str  # HH:MM, local
    department: str
    procedure: str
    name: str
    phone: str | None
    id_number: str | None
    source: str
    created_at: float
    created_by: str | None = None
    status: str = BOOKED
    ticket_id: int | None = None
    checked_in_at: float | None = None

    def same_content(self, other: "Booking") -> bool:
        keys = ("day", "slot", "department", "procedure", "name", "phone", "id_number")
        return all(getattr(self, k) == getattr(other, k) for k in keys)

    def view(self) -> dict[str, Any]:
        """What the API answers about a booking (no ID number, no phone)."""
        return {"code": self.code, "day": self.day, "slot": self.slot,
                "department": self.department, "procedure": self.procedure,
                "status": self.status}


def slot_epoch(day: str, slot: str, tz: ZoneInfo) -> float:
    """The moment a slot starts."""
    h, m = (int(x) for x in slot.split(":"))
    return datetime.combine(date.fromisoformat(day), time(h, m), tz).timestamp()


def new_code(taken: Iterable[str] | set[str] | dict[str, Any]) -> str:
    """A fresh booking code not among ``taken``."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if code not in taken:
            return code


def normalise_code(raw: str) -> str:
    """A code as typed or scanned: case, spaces and dashes do not matter."""
    return re.sub(r"[\s\-]", "", raw or "").upper()


_SCAN_PARAM = re.compile(r"[?&#](?:code|ma|booking|madatlich)=([A-Za-z0-9\-]+)", re.I)


def code_from_scan(raw: str) -> str:
    """The booking code in what a scanner typed: the code itself, or a link
    holding it (``…?code=7K3QX9TA``, or its last path segment), or a
    ``motcua-booking:CODE`` payload."""
    text = (raw or "").strip()
    if not re.search(r"[/:=?]", text):
        return normalise_code(text)
    m = _SCAN_PARAM.search(text)
    if m:
        return normalise_code(m.group(1))
    tail = re.split(r"[/:]", text.split("?", 1)[0].split("#", 1)[0].rstrip("/"))[-1]
    return normalise_code(tail)


# --- the [booking] section -------------------------------------------------

def parse_booking(c: Any, data: dict[str, Any], departments: dict[str, set[str]],
                  opens: time | None, closes: time | None) -> BookingRules:
    """Read ``[booking]`` with the config checker ``c``. ``departments`` maps
    each department code to its procedures' codes."""
    raw = c.get(data, "booking", "", dict, required=False, default={}) or {}
    p = "booking"
    c.unknown(raw, {"slot_minutes", "early_minutes", "grace_minutes", "after_grace",
                    "max_booked_in_row", "walk_in_guard", "capacity"}, p)
    slot = c.get(raw, "slot_minutes", p, int, required=False, default=15)
    if slot is not None and not 5 <= slot <= 120:
        c.err(f"{p}.slot_minutes", "between", min=5, max=120)
    early = c.get(raw, "early_minutes", p, int, required=False, default=30)
    if early is not None and not 0 <= early <= 240:
        c.err(f"{p}.early_minutes", "between", min=0, max=240)
    grace = c.get(raw, "grace_minutes", p, int, required=False, default=10)
    if grace is not None and not 0 <= grace <= 120:
        c.err(f"{p}.grace_minutes", "between", min=0, max=120)
    after = c.get(raw, "after_grace", p, str, required=False, default="walk_in")
    if after not in AFTER_GRACE:
        c.err(f"{p}.after_grace", "one_of", choices=", ".join(AFTER_GRACE))
    in_row = c.get(raw, "max_booked_in_row", p, int, required=False, default=2)
    if in_row is not None and in_row < 1:
        c.err(f"{p}.max_booked_in_row", "at_least", min=1)
    guard = c.get(raw, "walk_in_guard", p, (int, float), required=False, default=None)
    if guard is not None and guard <= 0:
        c.err(f"{p}.walk_in_guard", "positive_minutes")
    caps: list[Capacity] = []
    seen: set[str] = set()
    for i, cap in enumerate(c.get(raw, "capacity", p, list, required=False, default=[]) or []):
        cp = f"{p}.capacity[{i}]"
        if not isinstance(cap, dict):
            c.err(cp, "table")
            continue
        c.unknown(cap, {"department", "per_slot", "hours", "procedures"}, cp)
        dept = c.text(cap, "department", cp)
        if dept and dept not in departments:
            c.err(f"{cp}.department", "unknown_department", code=repr(dept))
        elif dept in seen:
            c.err(f"{cp}.department", "booking_duplicate_department", code=repr(dept))
        seen.add(dept)
        per_slot = c.get(cap, "per_slot", cp, int, default=1)
        if per_slot is not None and not 1 <= per_slot <= 100:
            c.err(f"{cp}.per_slot", "between", min=1, max=100)
        hours: list[tuple[time, time]] = []
        raw_hours = c.get(cap, "hours", cp, list, required=False, default=None)
        if raw_hours is None:
            if opens and closes:
                hours = [(opens, closes)]
        else:
            for j, window in enumerate(raw_hours):
                parts = [_hhmm(x) for x in window] if isinstance(window, list) else []
                if len(parts) != 2 or None in parts or not parts[0] < parts[1]:
                    c.err(f"{cp}.hours[{j}]", "booking_window")
                elif opens and closes and not (opens <= parts[0] and parts[1] <= closes):
                    c.err(f"{cp}.hours[{j}]", "booking_window_hours")
                else:
                    hours.append((parts[0], parts[1]))
        procs = c.get(cap, "procedures", cp, list, required=False, default=[]) or []
        for j, code in enumerate(procs):
            if dept in departments and code not in departments[dept]:
                c.err(f"{cp}.procedures[{j}]", "booking_procedure", code=repr(code),
                      department=repr(dept))
        caps.append(Capacity(dept, per_slot or 1, tuple(sorted(hours)),
                             tuple(str(x) for x in procs)))
    return BookingRules(slot or 15, 30 if early is None else early,
                        10 if grace is None else grace,
                        after if after in AFTER_GRACE else "walk_in", in_row or 2,
                        float(guard) if guard else None, tuple(caps))


def _hhmm(value: Any) -> time | None:
    if isinstance(value, time):
        return value
    m = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value) if isinstance(value, str) else None
    return time(int(m.group(1)), int(m.group(2))) if m else None


def booking_doc(rules: BookingRules) -> dict[str, Any]:
    """The section as a center-file document (empty when all is default)."""
    if rules == BookingRules():
        return {}
    doc: dict[str, Any] = {
        "slot_minutes": rules.slot_minutes, "early_minutes": rules.early_minutes,
        "grace_minutes": rules.grace_minutes, "after_grace": rules.after_grace,
        "max_booked_in_row": rules.max_booked_in_row,
    }
    if rules.walk_in_guard is not None:
        doc["walk_in_guard"] = rules.walk_in_guard
    caps = []
    for cap in rules.capacity:
        entry: dict[str, Any] = {"department": cap.department, "per_slot": cap.per_slot,
                                 "hours": [[a.strftime("%H:%M"), b.strftime("%H:%M")]
                                           for a, b in cap.hours]}
        if cap.procedures:
            entry["procedures"] = list(cap.procedures)
        caps.append(entry)
    if caps:
        doc["capacity"] = caps
    return doc


# --- import files ------------------------------------------------------------

#: Column names a file may use (Vietnamese or English; case, tone marks,
#: spaces and underscores do not matter) -> the field.
COLUMNS = {
    "code": "code", "ma": "code", "madatlich": "code", "malichhen": "code",
    "bookingcode": "code",
    "procedure": "procedure", "thutuc": "procedure", "mathutuc": "procedure",
    "date": "date", "ngay": "date", "ngayhen": "date",
    "slot": "slot", "gio": "slot", "giohen": "slot", "time": "slot",
    "name": "name", "hoten": "name", "ten": "name", "fullname": "name",
    "phone": "phone", "dienthoai": "phone", "sodienthoai": "phone", "sdt": "phone",
    "idnumber": "id_number", "id": "id_number", "cccd": "id_number", "socccd": "id_number",
    "cmnd": "id_number", "sogiayto": "id_number",
}
FIELDS = ("code", "procedure", "date", "slot", "name", "phone", "id_number")


class BookingFileError(Exception):
    """A file that cannot be read as bookings at all."""

    def __init__(self, vi: str, en: str) -> None:
        self.message, self.message_en = vi, en
        super().__init__(f"{vi} / {en}")


def _column(name: str) -> str | None:
    from motcua.i18n import fold

    key = re.sub(r"[\s_\-./]", "", fold(str(name)).lower())
    return COLUMNS.get(key)


def rows_of(items: list[Any]) -> list[dict[str, Any]]:
    """Rows from JSON objects, their keys read like a CSV file's headings
    (anything that is not an object is a bad row)."""
    rows = []
    for item in items:
        if isinstance(item, dict):
            row: dict[str, Any] = {}
            for k, v in item.items():
                f = _column(k)
                if f:
                    row[f] = v
            rows.append(row)
        else:
            rows.append({"_bad": True})
    return rows


def parse_file(text: str, kind: str | None = None) -> list[dict[str, Any]]:
    """Rows (dicts of :data:`FIELDS`) from the text of a CSV or JSON file
    (``kind`` ``csv``/``json``, or guessed: JSON starts with ``[`` or ``{``).
    JSON is a list of objects, or ``{"bookings": [...]}``."""
    text = text.lstrip("\ufeff")
    if kind is None:
        kind = "json" if text.lstrip()[:1] in ("[", "{") else "csv"
    if kind == "json":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise BookingFileError(f"Tệp JSON không đọc được ({e}).",
                                   f"The JSON file cannot be read ({e}).") from None
        if isinstance(data, dict):
            data = data.get("bookings")
        if not isinstance(data, list):
            raise BookingFileError("Tệp JSON phải là một danh sách lịch hẹn.",
                                   "The JSON file must be a list of bookings.")
        return rows_of(data)
    try:
        sample = text[:4096]
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample.strip() else csv.excel
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as e:
        raise BookingFileError(f"Tệp CSV không đọc được ({e}).",
                               f"The CSV file cannot be read ({e}).") from None
    cols = [_column(h) for h in header]
    if "procedure" not in cols or "date" not in cols or "slot" not in cols:
        raise BookingFileError(
            "Dòng đầu của tệp CSV phải có tên cột: mã (tùy chọn), thủ tục, ngày, giờ, họ tên, "
            "điện thoại, CCCD.",
            "The CSV file's first line must name its columns: code (optional), procedure, "
            "date, slot, name, phone, id_number.")
    # The heading is line 1: a booking's row number is its line in the file,
    # the row a spreadsheet shows.
    rows: list[Any] = [None]
    try:
        for line in reader:
            if not any(cell.strip() for cell in line):
                rows.append(None)  # blank line: skipped, but keeps the numbering
                continue
            rows.append({f: cell for f, cell in zip(cols, line) if f})
    except csv.Error as e:
        raise BookingFileError(f"Tệp CSV không đọc được ({e}).",
                               f"The CSV file cannot be read ({e}).") from None
    return rows


# --- validation --------------------------------------------------------------

ROW_PROBLEMS: dict[str, tuple[str, str]] = {
    "required": ("thiếu {field}", "{field_en} is missing"),
    "not_text": ("{field} phải là chữ", "{field_en} must be text"),
    "bad_code": ("mã {value} không hợp lệ (4–32 chữ và số)",
                 "code {value} is not valid (4–32 letters and digits)"),
    "code_twice": ("mã {value} trùng với dòng {other}", "code {value} repeats row {other}"),
    "code_taken": ("mã {value} đã dùng cho một lịch hẹn khác",
                   "code {value} already belongs to another booking"),
    "unknown_procedure": ("không có thủ tục {value}", "there is no procedure {value}"),
    "not_bookable": ("thủ tục {value} không nhận đặt lịch", "procedure {value} takes no bookings"),
    "bad_date": ("ngày {value} không hợp lệ (YYYY-MM-DD hoặc DD/MM/YYYY)",
                 "date {value} is not valid (YYYY-MM-DD or DD/MM/YYYY)"),
    "past_date": ("ngày {value} đã qua", "{value} is in the past"),
    "closed_day": ("trung tâm không làm việc ngày {value}", "the center is closed on {value}"),
    "bad_slot": ("giờ {value} không phải giờ bắt đầu một khung đặt lịch ({slots})",
                 "{value} is not the start of a booking slot ({slots})"),
    "slot_passed": ("khung giờ {value} hôm nay đã qua", "today's {value} slot has passed"),
    "slot_full": ("khung {value} ngày {day} đã đủ {cap} lịch hẹn",
                  "the {value} slot on {day} is full ({cap} bookings)"),
    "long_name": ("họ tên dài quá {max} ký tự", "the name is longer than {max} characters"),
    "bad_phone": ("số điện thoại {value} không hợp lệ", "phone number {value} is not valid"),
    "bad_id": ("số CCCD/CMND {value} không hợp lệ (12 hoặc 9 chữ số)",
               "ID number {value} is not valid (12 or 9 digits)"),
    "not_row": ("không phải một lịch hẹn", "is not a booking"),
    "too_many": ("quá {max} lịch hẹn trong một lần nhập", "more than {max} bookings at once"),
}
FIELD_NAMES = {"code": ("mã", "code"), "procedure": ("thủ tục", "procedure"),
               "date": ("ngày", "date"), "slot": ("giờ", "slot"), "name": ("họ tên", "name"),
               "phone": ("điện thoại", "phone"), "id_number": ("CCCD", "ID number"),
               "row": ("dòng", "row")}


@dataclass
class RowProblem:
    row: int  # from 1: a JSON list's items; a CSV's lines (its heading is line 1)
    field: str
    problem: str
    message: str
    message_en: str

    def view(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "problem": self.problem,
                "message": self.message, "message_en": self.message_en}


class BookingsInvalid(Exception):
    """Rows that cannot be imported; nothing was."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.row}: {p.message}" for p in problems[:5]))


def _problem(row: int, fld: str, key: str, **params: Any) -> RowProblem:
    vi, en = ROW_PROBLEMS[key]
    names = FIELD_NAMES.get(fld, (fld, fld))
    params = {"field": names[0], "field_en": names[1], **params}
    return RowProblem(row, fld, key, f"Dòng {row}: {vi.format(**params)}.",
                      f"Row {row}: {en.format(**params)}.")


def _parse_day(raw: str) -> date | None:
    raw = raw.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            return date.fromisoformat(raw)
        m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", raw)
        if m:
            return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    except ValueError:
        return None
    return None


def validate(rows: list[Any], config: Any, existing: dict[str, Booking], now: datetime,
             source: str, by: str | None = None) -> tuple[list[Booking], int]:
    """Check every row and build the new bookings: (new, unchanged). Raises
    :class:`BookingsInvalid` naming every bad row when any is bad (then
    nothing is to be added). ``now`` is the center's local time."""
    from .config import WEEKDAYS

    rules: BookingRules = config.booking
    problems: list[RowProblem] = []
    if len(rows) > MAX_ROWS:
        raise BookingsInvalid([_problem(len(rows), "row", "too_many", max=MAX_ROWS)])
    counts: dict[tuple[str, str, str], int] = {}
    for b in existing.values():
        key = (b.day, b.department, b.slot)
        counts[key] = counts.get(key, 0) + 1
    codes_here: dict[str, int] = {}
    taken = set(existing)
    new: list[Booking] = []
    unchanged = 0
    today = now.date()
    ts = now.timestamp()
    for i, raw in enumerate(rows, start=1):
        if raw is None:
            continue
        if not isinstance(raw, dict) or raw.get("_bad"):
            problems.append(_problem(i, "row", "not_row"))
            continue
        before = len(problems)
        vals: dict[str, str] = {}
        for f in FIELDS:
            v = raw.get(f)
            if v is None:
                v = ""
            if isinstance(v, (int, float)) and not isinstance(v, bool) and f in ("phone", "id_number", "code"):
                v = str(v)
            if not isinstance(v, str):
                problems.append(_problem(i, f, "not_text"))
                v = ""
            vals[f] = v.strip()
        for f in ("procedure", "date", "slot", "name"):
            if not vals[f] and not any(p.field == f for p in problems[before:]):
                problems.append(_problem(i, f, "required"))
        code = normalise_code(vals["code"]) if vals["code"] else ""
        if code and not _CODE_RE.match(code):
            problems.append(_problem(i, "code", "bad_code", value=vals["code"][:40]))
        elif code in codes_here:
            problems.append(_problem(i, "code", "code_twice", value=code, other=codes_here[code]))
        if code:
            codes_here.setdefault(code, i)
        proc = config.procedure(vals["procedure"]) if vals["procedure"] else None
        cap = None
        if vals["procedure"] and proc is None:
            problems.append(_problem(i, "procedure", "unknown_procedure",
                                     value=vals["procedure"][:40]))
        elif proc is not None:
            cap = rules.for_department(proc.department)
            if cap is None or (cap.procedures and proc.code not in cap.procedures):
                problems.append(_problem(i, "procedure", "not_bookable", value=proc.code))
                cap = None
        day = _parse_day(vals["date"]) if vals["date"] else None
        if vals["date"] and day is None:
            problems.append(_problem(i, "date", "bad_date", value=vals["date"][:40]))
        elif day is not None and day < today:
            problems.append(_problem(i, "date", "past_date", value=day.strftime("%d/%m/%Y")))
        elif day is not None and WEEKDAYS[day.weekday()] not in config.open_days:
            problems.append(_problem(i, "date", "closed_day", value=day.strftime("%d/%m/%Y")))
            day = None
        slot = _hhmm(vals["slot"][:5] if len(vals["slot"]) == 8 else vals["slot"]) \
            if vals["slot"] else None
        slot_s = slot.strftime("%H:%M") if slot else ""
        if cap is not None and vals["slot"]:
            offered = rules.slots(cap.department)
            if slot not in offered:
                shown = ", ".join(t.strftime("%H:%M") for t in offered[:3])
                shown += "…" if len(offered) > 3 else ""
                problems.append(_problem(i, "slot", "bad_slot", value=vals["slot"][:20],
                                         slots=shown))
            elif day == today and datetime.combine(day, slot, now.tzinfo) < now:
                problems.append(_problem(i, "slot", "slot_passed", value=slot_s))
        if len(vals["name"]) > MAX_NAME:
            problems.append(_problem(i, "name", "long_name", max=MAX_NAME))
        phone = None
        if vals["phone"]:
            try:
                phone = normalize_phone(vals["phone"])
            except ValueError:
                problems.append(_problem(i, "phone", "bad_phone", value=vals["phone"][:20]))
        id_number = None
        if vals["id_number"]:
            id_number = re.sub(r"\s", "", vals["id_number"])
            if not _ID_RE.match(id_number):
                problems.append(_problem(i, "id_number", "bad_id", value=vals["id_number"][:20]))
        if len(problems) > before or proc is None or day is None or slot is None:
            continue
        b = Booking(code or "", day.isoformat(), slot_s, proc.department, proc.code,
                    vals["name"], phone, id_number, source, ts, by)
        if code and code in existing:
            if existing[code].same_content(b):
                unchanged += 1
            else:
                problems.append(_problem(i, "code", "code_taken", value=code))
            continue
        key = (b.day, b.department, b.slot)
        if counts.get(key, 0) >= cap.per_slot:  # type: ignore[union-attr]
            problems.append(_problem(i, "slot", "slot_full", value=slot_s,
                                     day=day.strftime("%d/%m/%Y"), cap=cap.per_slot))  # type: ignore[union-attr]
            continue
        counts[key] = counts.get(key, 0) + 1
        new.append(b)
    if problems:
        raise BookingsInvalid(problems)
    for b in new:
        if not b.code:
            b.code = new_code(taken | set(codes_here))
        taken.add(b.code)
    return new, unchanged


# --- check-in ---------------------------------------------------------------

@dataclass(frozen=True)
class CheckIn:
    """What a check-in at ``now`` makes of a booking: ``booked`` (due at
    ``due``; ``early`` when it must wait for its slot) or ``walk_in`` (late
    past the grace). ``refusal`` is an error code with its params instead."""

    kind: str | None
    due: float | None = None
    early: bool = False
    refusal: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def check_in(b: Booking, now: float, today: str, rules: BookingRules, tz: ZoneInfo) -> CheckIn:
    """Decide a booking's check-in (the core applies it)."""
    when = datetime.strptime(b.day, "%Y-%m-%d").strftime("%d/%m/%Y")
    if b.day != today:
        return CheckIn(None, refusal="booking_other_day",
                       params={"day": when, "slot": b.slot})
    start = slot_epoch(b.day, b.slot, tz)
    if now < start - rules.early_minutes * 60:
        come = datetime.fromtimestamp(start - rules.early_minutes * 60, tz).strftime("%H:%M")
        return CheckIn(None, refusal="booking_too_early", params={"slot": b.slot, "come": come})
    if now <= start + rules.grace_minutes * 60:
        return CheckIn("booked", due=start, early=now < start)
    if rules.after_grace == "refuse":
        return CheckIn(None, refusal="booking_late",
                       params={"slot": b.slot, "grace": rules.grace_minutes})
    return CheckIn("walk_in")


def with_status(b: Booking, status: str, ticket_id: int | None, at: float | None) -> Booking:
    return replace(b, status=status, ticket_id=ticket_id, checked_in_at=at)
