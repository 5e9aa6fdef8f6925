"""Center configuration: a TOML file describing one service center.

Pure: reads TOML with :mod:`tomllib` and returns frozen dataclasses. Every
validation error names the field path it concerns (``departments[2].letter``)
so that a center administrator can find and fix it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from datetime import time
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from motcua.web.settings import WebSettings, parse_web
from .booking import BookingRules, parse_booking
from .strings import CONFIG, KINDS, both, pair

ROLES = ("kiosk", "counter", "display", "rating", "admin")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PLACEMENTS = ("front", "back", "original")
CALL_POLICIES = ("oldest_first", "preference")
# The [printer] section's values; printer/options.py holds the same lists (a
# test checks) but the server does not import the printer package.
PRINTER_PAPER = (58, 80)
PRINTER_QR = ("native", "raster")
PRINTER_IMAGE_ALIGN = ("command", "padded")

#: The five SIPAS criteria a negative rating may name as its reason.
SIPAS_CRITERIA: dict[str, tuple[str, str]] = {
    "access": ("Tiếp cận dịch vụ", "Access to the service"),
    "procedure": ("Thủ tục hành chính", "The procedure"),
    "officer": ("Công chức giải quyết", "The civil servant"),
    "result": ("Kết quả giải quyết", "The result"),
    "feedback": ("Tiếp nhận, xử lý góp ý", "Handling of feedback"),
}


class ConfigError(Exception):
    """A configuration file is invalid. ``details`` lists ``(path, vietnamese,
    english)``; ``errors`` the same as ``(path, "vietnamese / english")``."""

    def __init__(self, details: list[tuple[str, str, str]], source: str = "") -> None:
        self.details = details
        self.errors = [(path, both(vi, en)) for path, vi, en in details]
        self.source = source
        lines = [f"{path}: {msg}" for path, msg in self.errors]
        super().__init__("\n".join(lines))


def _problem(path: str, key: str, **params: Any) -> tuple[str, str, str]:
    vi, en = pair(CONFIG, key, **params)
    return path, vi, en


@dataclass(frozen=True)
class Procedure:
    code: str
    vi: str
    en: str
    minutes: float
    department: str
    #: Other words citizens search for it by (abbreviations such as "CCCD",
    #: everyday names such as "sổ đỏ" or "hộ khẩu"); the kiosk's search only.
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Department:
    code: str
    letter: str
    vi: str
    en: str
    target_wait: float
    daily_cap: int | None
    open: bool
    procedures: tuple[Procedure, ...]
    #: When a department closed for today or until a time opens again by
    #: itself (epoch seconds); None while open, or closed until opened.
    reopen_at: float | None = None

    @property
    def typical_minutes(self) -> float:
        """Mean typical service minutes over the department's procedures."""
        if not self.procedures:
            return 10.0
        return sum(p.minutes for p in self.procedures) / len(self.procedures)


@dataclass(frozen=True)
class Counter:
    number: int
    name: str
    departments: tuple[str, ...]


@dataclass(frozen=True)
class Officer:
    id: str
    name: str
    pin_hash: str
    #: A disabled officer cannot log in (kept for the records of past days).
    disabled: bool = False
    #: The counters the officer usually works at (shown to managers).
    counters: tuple[int, ...] = ()


@dataclass(frozen=True)
class PriorityGroup:
    code: str
    vi: str
    en: str


@dataclass(frozen=True)
class RatingLevel:
    value: int
    vi: str
    en: str
    satisfied: bool
    negative: bool


@dataclass(frozen=True)
class HubSettings:
    """The ``[hub]`` section: this site's code and name at the province hub
    and, optionally, the hub's URL (with the site's own credential; never
    shown to clients). ``motcua serve --hub URL`` overrides the URL."""

    code: str | None = None
    name: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class QueueRules:
    max_priority_in_row: int = 2
    call_policy: str = "oldest_first"
    transfer_placement: str = "front"
    requeue_placement: str = "back"
    recent_calls: int = 10
    expire_waiting_at: time | None = None
    #: Ageing: a ticket that has waited this many times its department's
    #: target is overdue and called before anyone not overdue (None = off).
    overdue_after: float | None = None


@dataclass(frozen=True)
class CenterConfig:
    name: str
    name_en: str
    timezone: str
    opens: time
    closes: time
    last_ticket: time
    open_days: tuple[str, ...]
    notice: str
    notice_en: str
    queue: QueueRules
    rating_window_seconds: int
    rating_levels: tuple[RatingLevel, ...]
    priority_groups: tuple[PriorityGroup, ...]
    departments: tuple[Department, ...]
    counters: tuple[Counter, ...]
    officers: tuple[Officer, ...]
    tokens: dict[str, str] = field(default_factory=dict)
    #: The citizen web's settings (``[web]``: the public address, the gateway).
    web: WebSettings = field(default_factory=WebSettings)
    #: The kiosks' printer model, as far as the center file says (``[printer]``):
    #: only the settings given, each kiosk's command line may override them.
    printer: dict[str, Any] = field(default_factory=dict)
    hub: HubSettings = field(default_factory=HubSettings)
    #: The built-in sample center (or ``serve --demo``): the shared per-role
    #: tokens of ``[devices]`` are accepted, device names are not proven.
    demo: bool = False
    #: The lunch closure (start, end) when counters stop serving, if any.
    lunch: tuple[time, time] | None = None
    #: Appointments: slots per department, check-in and the merge with walk-ins.
    booking: BookingRules = field(default_factory=BookingRules)

    # Lookup tables built once; the dataclass stays frozen for callers.
    def __post_init__(self) -> None:
        object.__setattr__(self, "_dept", {d.code: d for d in self.departments})
        object.__setattr__(self, "_counter", {c.number: c for c in self.counters})
        object.__setattr__(self, "_officer", {o.id: o for o in self.officers})
        object.__setattr__(
            self, "_proc", {p.code: p for d in self.departments for p in d.procedures}
        )

    @property
    def tz(self) -> ZoneInfo:
        # ZoneInfo caches by key, but the call costs a lookup every command.
        tz = self.__dict__.get("_tz")
        if tz is None:
            tz = ZoneInfo(self.timezone)
            object.__setattr__(self, "_tz", tz)
        return tz

    def department(self, code: str) -> Department | None:
        return self._dept.get(code)  # type: ignore[attr-defined]

    def counter(self, number: int) -> Counter | None:
        return self._counter.get(number)  # type: ignore[attr-defined]

    def officer(self, officer_id: str) -> Officer | None:
        return self._officer.get(officer_id)  # type: ignore[attr-defined]

    def procedure(self, code: str) -> Procedure | None:
        return self._proc.get(code)  # type: ignore[attr-defined]

    def rating_level(self, value: int) -> RatingLevel | None:
        for level in self.rating_levels:
            if level.value == value:
                return level
        return None

    def priority_group(self, code: str) -> PriorityGroup | None:
        for group in self.priority_groups:
            if group.code == code:
                return group
        return None

    def public(self) -> dict[str, Any]:
        """The configuration clients may see (no tokens, no PIN hashes)."""
        return {
            "name": self.name,
            "name_en": self.name_en,
            "timezone": self.timezone,
            "opens": self.opens.strftime("%H:%M"),
            "closes": self.closes.strftime("%H:%M"),
            "last_ticket": self.last_ticket.strftime("%H:%M"),
            "lunch": [t.strftime("%H:%M") for t in self.lunch] if self.lunch else None,
            "open_days": list(self.open_days),
            "notice": self.notice,
            "notice_en": self.notice_en,
            "recent_calls": self.queue.recent_calls,
            "departments": [
                {
                    "code": d.code,
                    "letter": d.letter,
                    "vi": d.vi,
                    "en": d.en,
                    "target_wait": d.target_wait,
                    "daily_cap": d.daily_cap,
                    "open": d.open,
                    "reopen_at": d.reopen_at,
                    "procedures": [
                        {"code": p.code, "vi": p.vi, "en": p.en, "minutes": p.minutes,
                         "keywords": list(p.keywords)}
                        for p in d.procedures
                    ],
                }
                for d in self.departments
            ],
            "counters": [
                {"number": c.number, "name": c.name, "departments": list(c.departments)}
                for c in self.counters
            ],
            "officers": [{"id": o.id, "name": o.name, "disabled": o.disabled,
                          "counters": list(o.counters)} for o in self.officers],
            "printer": dict(self.printer),
            "booking": {
                "departments": [c.department for c in self.booking.capacity],
                "slot_minutes": self.booking.slot_minutes,
                "early_minutes": self.booking.early_minutes,
                "grace_minutes": self.booking.grace_minutes,
                "after_grace": self.booking.after_grace,
            },
            "priority_groups": [
                {"code": g.code, "vi": g.vi, "en": g.en} for g in self.priority_groups
            ],
            "rating": {
                "window_seconds": self.rating_window_seconds,
                "levels": [
                    {
                        "value": r.value,
                        "vi": r.vi,
                        "en": r.en,
                        "satisfied": r.satisfied,
                        "negative": r.negative,
                    }
                    for r in self.rating_levels
                ],
                "reasons": [
                    {"code": code, "vi": vi, "en": en}
                    for code, (vi, en) in SIPAS_CRITERIA.items()
                ],
            },
        }


# --- PIN hashing ---------------------------------------------------------

PIN_ITERATIONS = 100_000


def hash_pin(pin: str, salt: str | None = None, iterations: int = PIN_ITERATIONS) -> str:
    """Hash a PIN as ``pbkdf2_sha256$iterations$salt$hex``."""
    salt = salt or secrets.token_hex(8)
    dk = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${dk.hex()}"


def verify_pin(pin: str, pin_hash: str) -> bool:
    """Check a PIN against a stored hash in constant time. Slow on purpose
    (PBKDF2): call it off the event loop."""
    try:
        scheme, iterations, salt, digest = pin_hash.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        dk = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(dk.hex(), digest)


# --- loading and validation ----------------------------------------------

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


class _Checker:
    """Collects errors with their field paths while reading raw TOML data."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str, str]] = []

    def err(self, path: str, key: str, **params: Any) -> None:
        """Record the problem ``key`` of :data:`strings.CONFIG` at ``path``."""
        self.errors.append(_problem(path, key, **params))

    def get(self, data: dict, key: str, path: str, kind: type | tuple, required: bool = True, default: Any = None) -> Any:
        full = f"{path}.{key}" if path else key
        if key not in data:
            if required:
                self.err(full, "required")
            return default
        value = data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python; a TOML `true` is never a valid number here.
        if isinstance(value, bool) and bool not in kinds:
            self.err(full, "not_boolean", kind=_kind_name(kinds))
            return default
        if not isinstance(value, kinds):
            self.err(full, "wrong_kind", kind=_kind_name(kinds), got=_kind_name((type(value),)))
            return default
        return value

    def text(self, data: dict, key: str, path: str, required: bool = True, default: str = "") -> str:
        value = self.get(data, key, path, str, required, default)
        # Only a text that is there can be empty (a number there is reported once).
        if required and isinstance(data.get(key), str) and not value.strip():
            self.err(f"{path}.{key}" if path else key, "empty")
        return value if isinstance(value, str) else default

    def clock(self, data: dict, key: str, path: str, required: bool = True, default: time | None = None) -> time | None:
        raw = self.get(data, key, path, (str, time), required, None)
        if raw is None:
            return default
        if isinstance(raw, time):
            return raw
        m = _TIME_RE.match(raw)
        if not m:
            self.err(f"{path}.{key}" if path else key, "bad_time", raw=repr(raw))
            return default
        return time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))

    def unknown(self, data: dict, allowed: set[str], path: str) -> None:
        for key in data:
            if key not in allowed:
                self.err(f"{path}.{key}" if path else key, "unknown_setting")


def _parse_hhmm(value: Any) -> time | None:
    if isinstance(value, time):
        return value
    m = _TIME_RE.match(value) if isinstance(value, str) else None
    return time(int(m.group(1)), int(m.group(2))) if m else None


def _kind_name(kinds: tuple) -> tuple[str, str]:
    """The kinds of value in words, in both languages."""
    names = [KINDS.get(k.__name__, (k.__name__, k.__name__)) for k in kinds]
    return " hoặc ".join(n[0] for n in names), " or ".join(n[1] for n in names)


def parse_config(data: dict[str, Any], source: str = "") -> CenterConfig:
    """Validate raw TOML data and build a :class:`CenterConfig`.

    Raises :class:`ConfigError` listing every problem found, by field path.
    """
    c = _Checker()
    c.unknown(data, {"center", "queue", "rating", "priority_groups", "departments",
                     "counters", "officers", "devices", "web", "printer", "hub",
                     "booking"}, "")

    center = c.get(data, "center", "", dict, default={}) or {}
    c.unknown(center, {"name", "name_en", "timezone", "opens", "closes", "last_ticket", "lunch",
                       "open_days", "notice", "notice_en"}, "center")
    name = c.text(center, "name", "center")
    name_en = c.text(center, "name_en", "center", required=False, default=name)
    tz = c.text(center, "timezone", "center", required=False, default="Asia/Ho_Chi_Minh")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        c.err("center.timezone", "unknown_timezone", tz=repr(tz))
    opens = c.clock(center, "opens", "center", required=False, default=time(7, 30))
    closes = c.clock(center, "closes", "center", required=False, default=time(17, 0))
    last_ticket = c.clock(center, "last_ticket", "center", required=False, default=closes)
    if opens and closes and opens >= closes:
        c.err("center.closes", "closes_after_opens")
    if opens and closes and last_ticket and not (opens <= last_ticket <= closes):
        c.err("center.last_ticket", "last_ticket_between")
    lunch = None
    raw_lunch = c.get(center, "lunch", "center", list, required=False, default=None)
    if raw_lunch is not None:
        parts = [_parse_hhmm(x) for x in raw_lunch]
        if len(parts) != 2 or None in parts:
            c.err("center.lunch", "lunch_two_times")
        elif not (opens and closes and opens < parts[0] < parts[1] < closes):
            c.err("center.lunch", "lunch_inside_hours")
        else:
            lunch = (parts[0], parts[1])
    open_days = c.get(center, "open_days", "center", list, required=False,
                      default=["mon", "tue", "wed", "thu", "fri"])
    for i, day in enumerate(open_days or []):
        if day not in WEEKDAYS:
            c.err(f"center.open_days[{i}]", "one_of", choices=", ".join(WEEKDAYS))
    notice = c.text(center, "notice", "center", required=False)
    notice_en = c.text(center, "notice_en", "center", required=False, default=notice)

    q = c.get(data, "queue", "", dict, required=False, default={}) or {}
    c.unknown(q, {"max_priority_in_row", "call_policy", "transfer_placement",
                  "requeue_placement", "recent_calls", "expire_waiting_at", "overdue_after"},
              "queue")
    max_prio = c.get(q, "max_priority_in_row", "queue", int, required=False, default=2)
    if max_prio is not None and max_prio < 1:
        c.err("queue.max_priority_in_row", "at_least", min=1)
    policy = c.get(q, "call_policy", "queue", str, required=False, default="oldest_first")
    if policy not in CALL_POLICIES:
        c.err("queue.call_policy", "one_of", choices=", ".join(CALL_POLICIES))
    placements = {}
    for key, default in (("transfer_placement", "front"), ("requeue_placement", "back")):
        value = c.get(q, key, "queue", str, required=False, default=default)
        if value not in PLACEMENTS:
            c.err(f"queue.{key}", "one_of", choices=", ".join(PLACEMENTS))
        placements[key] = value
    recent = c.get(q, "recent_calls", "queue", int, required=False, default=10)
    if recent is not None and not (1 <= recent <= 50):
        c.err("queue.recent_calls", "between", min=1, max=50)
    expire_at = c.clock(q, "expire_waiting_at", "queue", required=False, default=None)
    overdue = c.get(q, "overdue_after", "queue", (int, float), required=False, default=None)
    if overdue is not None and overdue <= 0:
        c.err("queue.overdue_after", "overdue_positive")
    rules = QueueRules(max_prio or 2, policy, placements["transfer_placement"],
                       placements["requeue_placement"], recent or 10, expire_at,
                       float(overdue) if overdue else None)

    rating = c.get(data, "rating", "", dict, required=False, default={}) or {}
    c.unknown(rating, {"window_seconds", "levels"}, "rating")
    window = c.get(rating, "window_seconds", "rating", int, required=False, default=300)
    if window is not None and window <= 0:
        c.err("rating.window_seconds", "positive")
    levels: list[RatingLevel] = []
    raw_levels = c.get(rating, "levels", "rating", list, required=False, default=None)
    if raw_levels is None:
        raw_levels = [
            {"value": 4, "vi": "Rất hài lòng", "en": "Very satisfied", "satisfied": True},
            {"value": 3, "vi": "Hài lòng", "en": "Satisfied", "satisfied": True},
            {"value": 2, "vi": "Bình thường", "en": "Neutral"},
            {"value": 1, "vi": "Không hài lòng", "en": "Dissatisfied", "negative": True},
        ]
    seen_values: set[int] = set()
    for i, lv in enumerate(raw_levels):
        p = f"rating.levels[{i}]"
        if not isinstance(lv, dict):
            c.err(p, "table")
            continue
        c.unknown(lv, {"value", "vi", "en", "satisfied", "negative"}, p)
        value = c.get(lv, "value", p, int)
        if value in seen_values:
            c.err(f"{p}.value", "duplicate_value", value=value)
        seen_values.add(value)
        levels.append(RatingLevel(
            value if isinstance(value, int) else 0,
            c.text(lv, "vi", p), c.text(lv, "en", p, required=False, default=lv.get("vi", "")),
            bool(c.get(lv, "satisfied", p, bool, required=False, default=False)),
            bool(c.get(lv, "negative", p, bool, required=False, default=False)),
        ))
    if not levels:
        c.err("rating.levels", "no_levels")

    groups: list[PriorityGroup] = []
    seen: set[str] = set()
    for i, g in enumerate(c.get(data, "priority_groups", "", list, required=False, default=[]) or []):
        p = f"priority_groups[{i}]"
        if not isinstance(g, dict):
            c.err(p, "table")
            continue
        c.unknown(g, {"code", "vi", "en"}, p)
        code = c.text(g, "code", p)
        if code in seen:
            c.err(f"{p}.code", "duplicate_group", code=repr(code))
        seen.add(code)
        groups.append(PriorityGroup(code, c.text(g, "vi", p),
                                    c.text(g, "en", p, required=False, default=g.get("vi", ""))))

    departments: list[Department] = []
    letters: dict[str, str] = {}
    dept_codes: set[str] = set()
    proc_codes: set[str] = set()
    raw_depts = c.get(data, "departments", "", list, default=[]) or []
    if not raw_depts and "departments" in data:
        c.err("departments", "no_departments")
    for i, d in enumerate(raw_depts):
        p = f"departments[{i}]"
        if not isinstance(d, dict):
            c.err(p, "table")
            continue
        c.unknown(d, {"code", "letter", "vi", "en", "target_wait", "daily_cap", "open",
                      "reopen_at", "procedures"}, p)
        code = c.text(d, "code", p)
        if code in dept_codes:
            c.err(f"{p}.code", "duplicate_department", code=repr(code))
        dept_codes.add(code)
        letter = c.text(d, "letter", p)
        if letter and not re.fullmatch(r"[A-Z]", letter):
            c.err(f"{p}.letter", "bad_letter", letter=repr(letter))
        elif letter in letters:
            c.err(f"{p}.letter", "letter_taken", letter=repr(letter), code=repr(letters[letter]))
        letters[letter] = code
        target = c.get(d, "target_wait", p, (int, float), required=False, default=15)
        if target is not None and target <= 0:
            c.err(f"{p}.target_wait", "positive_minutes")
        cap = c.get(d, "daily_cap", p, int, required=False, default=None)
        if cap is not None and not (1 <= cap <= 999):
            c.err(f"{p}.daily_cap", "between", min=1, max=999)
        procs: list[Procedure] = []
        for j, pr in enumerate(c.get(d, "procedures", p, list, required=False, default=[]) or []):
            pp = f"{p}.procedures[{j}]"
            if not isinstance(pr, dict):
                c.err(pp, "table")
                continue
            c.unknown(pr, {"code", "vi", "en", "minutes", "keywords"}, pp)
            pcode = c.text(pr, "code", pp)
            if pcode in proc_codes:
                c.err(f"{pp}.code", "duplicate_procedure", code=repr(pcode))
            proc_codes.add(pcode)
            minutes = c.get(pr, "minutes", pp, (int, float), required=False, default=10)
            if minutes is not None and minutes <= 0:
                c.err(f"{pp}.minutes", "positive")
            keywords = c.get(pr, "keywords", pp, list, required=False, default=[]) or []
            for k, word in enumerate(keywords):
                if not isinstance(word, str) or not word.strip():
                    c.err(f"{pp}.keywords[{k}]", "empty_text")
                elif len(word) > 60:
                    c.err(f"{pp}.keywords[{k}]", "at_most_chars", max=60)
            if len(keywords) > 30:
                c.err(f"{pp}.keywords", "at_most_keywords", max=30)
            procs.append(Procedure(pcode, c.text(pr, "vi", pp),
                                   c.text(pr, "en", pp, required=False, default=pr.get("vi", "")),
                                   float(minutes or 10), code,
                                   tuple(w.strip() for w in keywords
                                         if isinstance(w, str) and w.strip())))
        is_open = bool(c.get(d, "open", p, bool, required=False, default=True))
        reopen_at = _instant(c, d, "reopen_at", p)
        if reopen_at is not None and is_open:
            c.err(f"{p}.reopen_at", "reopen_only_closed")
        departments.append(Department(
            code, letter, c.text(d, "vi", p),
            c.text(d, "en", p, required=False, default=d.get("vi", "")),
            float(target or 15), cap, is_open, tuple(procs), reopen_at))

    counters: list[Counter] = []
    numbers: set[int] = set()
    served: set[str] = set()
    for i, ct in enumerate(c.get(data, "counters", "", list, default=[]) or []):
        p = f"counters[{i}]"
        if not isinstance(ct, dict):
            c.err(p, "table")
            continue
        c.unknown(ct, {"number", "name", "departments"}, p)
        number = c.get(ct, "number", p, int)
        if isinstance(number, int):
            if number < 1:
                c.err(f"{p}.number", "at_least", min=1)
            if number in numbers:
                c.err(f"{p}.number", "duplicate_counter", number=number)
            numbers.add(number)
        depts = c.get(ct, "departments", p, list, default=[]) or []
        if not depts:
            c.err(f"{p}.departments", "counter_needs_department")
        for j, code in enumerate(depts):
            if code not in dept_codes:
                c.err(f"{p}.departments[{j}]", "unknown_department", code=repr(code))
            served.add(code)
        counters.append(Counter(number if isinstance(number, int) else 0,
                                c.text(ct, "name", p, required=False, default=f"Quầy {number}"),
                                tuple(str(x) for x in depts)))
    for i, d in enumerate(departments):
        if d.code and d.code not in served:
            c.err(f"departments[{i}]", "unserved_department", code=repr(d.code))

    officers: list[Officer] = []
    ids: set[str] = set()
    for i, o in enumerate(c.get(data, "officers", "", list, required=False, default=[]) or []):
        p = f"officers[{i}]"
        if not isinstance(o, dict):
            c.err(p, "table")
            continue
        c.unknown(o, {"id", "name", "pin_hash", "disabled", "counters"}, p)
        oid = c.text(o, "id", p)
        if oid in ids:
            c.err(f"{p}.id", "duplicate_officer", id=repr(oid))
        ids.add(oid)
        ph = c.text(o, "pin_hash", p)
        if ph and not ph.startswith("pbkdf2_sha256$"):
            c.err(f"{p}.pin_hash", "plain_pin")
        own = c.get(o, "counters", p, list, required=False, default=[]) or []
        for j, n in enumerate(own):
            if not isinstance(n, int) or isinstance(n, bool) or n not in numbers:
                c.err(f"{p}.counters[{j}]", "unknown_counter", n=repr(n))
        officers.append(Officer(oid, c.text(o, "name", p), ph,
                                bool(c.get(o, "disabled", p, bool, required=False,
                                           default=False)),
                                tuple(n for n in own if isinstance(n, int))))

    printer = _printer_settings(c, c.get(data, "printer", "", dict, required=False,
                                         default={}) or {})

    devices = c.get(data, "devices", "", dict, default={}) or {}
    tokens: dict[str, str] = {}
    for role, token in devices.items():
        if role not in ROLES:
            c.err(f"devices.{role}", "unknown_role", roles=", ".join(ROLES))
        elif not isinstance(token, str) or len(token) < 4:
            c.err(f"devices.{role}", "short_token")
        else:
            tokens[role] = token
    for role in ROLES:
        if role not in devices and "devices" in data:
            c.err(f"devices.{role}", "token_required")

    web = parse_web(c, data)
    hub_data = c.get(data, "hub", "", dict, required=False, default={}) or {}
    c.unknown(hub_data, {"code", "name", "url"}, "hub")
    hub_code = c.text(hub_data, "code", "hub", required=False, default="") or None
    if hub_code is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}", hub_code):
        c.err("hub.code", "hub_code")
    hub_url = c.text(hub_data, "url", "hub", required=False, default="") or None
    if hub_url is not None and not hub_url.startswith(("postgresql://", "postgres://")):
        c.err("hub.url", "hub_url")
    hub = HubSettings(hub_code, c.text(hub_data, "name", "hub", required=False) or None, hub_url)

    booking = parse_booking(c, data, {d.code: {p.code for p in d.procedures}
                                      for d in departments}, opens, closes)

    if c.errors:
        raise ConfigError(c.errors, source)
    return CenterConfig(
        name=name, name_en=name_en, timezone=tz, opens=opens, closes=closes,
        last_ticket=last_ticket, open_days=tuple(open_days), notice=notice, lunch=lunch,
        notice_en=notice_en, queue=rules, rating_window_seconds=window,
        rating_levels=tuple(sorted(levels, key=lambda r: -r.value)),
        priority_groups=tuple(groups), departments=tuple(departments),
        counters=tuple(sorted(counters, key=lambda x: x.number)), officers=tuple(officers),
        tokens=tokens, web=web, printer=printer, hub=hub, booking=booking,
    )


def _instant(c: _Checker, data: dict, key: str, path: str) -> float | None:
    """An optional moment: a TOML date-time with offset, or its ISO text."""
    from datetime import datetime

    raw = c.get(data, key, path, (str, datetime), required=False, default=None)
    if raw is None:
        return None
    try:
        moment = raw if isinstance(raw, datetime) else datetime.fromisoformat(raw)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        c.err(f"{path}.{key}", "bad_instant")
        return None
    return moment.timestamp()


def _printer_settings(c: _Checker, raw: dict[str, Any]) -> dict[str, Any]:
    """The ``[printer]`` section: what every kiosk's printer is (cheap clones
    differ from Epson's in ways no program can ask them)."""
    c.unknown(raw, {"paper", "dots", "qr", "image_align", "check_status"}, "printer")
    out: dict[str, Any] = {}
    paper = c.get(raw, "paper", "printer", int, required=False)
    if paper is not None:
        if paper in PRINTER_PAPER:
            out["paper"] = paper
        else:
            c.err("printer.paper", "printer_paper")
    dots = c.get(raw, "dots", "printer", int, required=False)
    if dots is not None:
        top = (paper if paper in PRINTER_PAPER else 80) * 8
        if dots % 8 or not 256 <= dots <= top:
            c.err("printer.dots", "printer_dots", top=top)
        else:
            out["dots"] = dots
    for key, allowed in (("qr", PRINTER_QR), ("image_align", PRINTER_IMAGE_ALIGN)):
        value = c.get(raw, key, "printer", str, required=False)
        if value is not None:
            if value in allowed:
                out[key] = value
            else:
                c.err(f"printer.{key}", "one_of", choices=", ".join(allowed))
    check = c.get(raw, "check_status", "printer", bool, required=False)
    if check is not None:
        out["check_status"] = check
    return out


def load_config(path: str | Path | None = None) -> CenterConfig:
    """Load a center file, or the built-in sample center when ``path`` is None."""
    demo = False
    if path is None:
        text = resources.files("motcua.server").joinpath("sample_center.toml").read_text("utf-8")
        source = "<built-in sample center>"
        demo = True
    else:
        source = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as e:
            raise ConfigError([_problem("", "unreadable", reason=e.strerror or e)], source) from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([_problem("", "not_toml", reason=e)], source) from e
    config = parse_config(data, source)
    return dataclasses.replace(config, demo=True) if demo else config
