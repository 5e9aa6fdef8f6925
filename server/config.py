"""Center configuration: a TOML file describing one service center.

Pure: reads TOML with :mod:`tomllib` and returns frozen dataclasses. Every
validation error names the field path it concerns (``departments[2].letter``)
so that a center administrator can find and fix it.
"""

from __future__ import annotations

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

ROLES = ("kiosk", "counter", "display", "rating", "admin")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PLACEMENTS = ("front", "back", "original")
CALL_POLICIES = ("oldest_first", "preference")

#: The five SIPAS criteria a negative rating may name as its reason.
SIPAS_CRITERIA: dict[str, tuple[str, str]] = {
    "access": ("Tiếp cận dịch vụ", "Access to the service"),
    "procedure": ("Thủ tục hành chính", "The procedure"),
    "officer": ("Công chức giải quyết", "The civil servant"),
    "result": ("Kết quả giải quyết", "The result"),
    "feedback": ("Tiếp nhận, xử lý góp ý", "Handling of feedback"),
}


class ConfigError(Exception):
    """A configuration file is invalid; ``errors`` lists ``(path, message)``."""

    def __init__(self, errors: list[tuple[str, str]], source: str = "") -> None:
        self.errors = errors
        self.source = source
        lines = [f"{path}: {msg}" for path, msg in errors]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Procedure:
    code: str
    vi: str
    en: str
    minutes: float
    department: str


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
    #: The lunch closure (start, end) when counters stop serving, if any.
    lunch: tuple[time, time] | None = None

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
        return ZoneInfo(self.timezone)

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
                    "procedures": [
                        {"code": p.code, "vi": p.vi, "en": p.en, "minutes": p.minutes}
                        for p in d.procedures
                    ],
                }
                for d in self.departments
            ],
            "counters": [
                {"number": c.number, "name": c.name, "departments": list(c.departments)}
                for c in self.counters
            ],
            "officers": [{"id": o.id, "name": o.name} for o in self.officers],
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

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class _Checker:
    """Collects errors with their field paths while reading raw TOML data."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def err(self, path: str, msg: str) -> None:
        self.errors.append((path, msg))

    def get(self, data: dict, key: str, path: str, kind: type | tuple, required: bool = True, default: Any = None) -> Any:
        full = f"{path}.{key}" if path else key
        if key not in data:
            if required:
                self.err(full, "is required")
            return default
        value = data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python; a TOML `true` is never a valid number here.
        if isinstance(value, bool) and bool not in kinds:
            self.err(full, f"must be {_kind_name(kinds)}, not a boolean")
            return default
        if not isinstance(value, kinds):
            self.err(full, f"must be {_kind_name(kinds)}, got {type(value).__name__}")
            return default
        return value

    def text(self, data: dict, key: str, path: str, required: bool = True, default: str = "") -> str:
        value = self.get(data, key, path, str, required, default)
        if required and isinstance(value, str) and not value.strip():
            self.err(f"{path}.{key}" if path else key, "must not be empty")
        return value if isinstance(value, str) else default

    def clock(self, data: dict, key: str, path: str, required: bool = True, default: time | None = None) -> time | None:
        raw = self.get(data, key, path, (str, time), required, None)
        if raw is None:
            return default
        if isinstance(raw, time):
            return raw
        m = _TIME_RE.match(raw)
        if not m:
            self.err(f"{path}.{key}" if path else key, f"must be a time HH:MM, got {raw!r}")
            return default
        return time(int(m.group(1)), int(m.group(2)))

    def unknown(self, data: dict, allowed: set[str], path: str) -> None:
        for key in data:
            if key not in allowed:
                self.err(f"{path}.{key}" if path else key, "is not a known setting")


def _parse_hhmm(value: Any) -> time | None:
    if isinstance(value, time):
        return value
    m = _TIME_RE.match(value) if isinstance(value, str) else None
    return time(int(m.group(1)), int(m.group(2))) if m else None


def _kind_name(kinds: tuple) -> str:
    names = {str: "text", int: "a whole number", float: "a number", bool: "true or false",
             list: "a list", dict: "a table", time: "a time"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def parse_config(data: dict[str, Any], source: str = "") -> CenterConfig:
    """Validate raw TOML data and build a :class:`CenterConfig`.

    Raises :class:`ConfigError` listing every problem found, by field path.
    """
    c = _Checker()
    c.unknown(data, {"center", "queue", "rating", "priority_groups", "departments",
                     "counters", "officers", "devices"}, "")

    center = c.get(data, "center", "", dict, default={}) or {}
    c.unknown(center, {"name", "name_en", "timezone", "opens", "closes", "last_ticket", "lunch",
                       "open_days", "notice", "notice_en"}, "center")
    name = c.text(center, "name", "center")
    name_en = c.text(center, "name_en", "center", required=False, default=name)
    tz = c.text(center, "timezone", "center", required=False, default="Asia/Ho_Chi_Minh")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        c.err("center.timezone", f"unknown time zone {tz!r}")
    opens = c.clock(center, "opens", "center", required=False, default=time(7, 30))
    closes = c.clock(center, "closes", "center", required=False, default=time(17, 0))
    last_ticket = c.clock(center, "last_ticket", "center", required=False, default=closes)
    if opens and closes and opens >= closes:
        c.err("center.closes", "must be later than center.opens")
    if opens and closes and last_ticket and not (opens <= last_ticket <= closes):
        c.err("center.last_ticket", "must be between center.opens and center.closes")
    lunch = None
    raw_lunch = c.get(center, "lunch", "center", list, required=False, default=None)
    if raw_lunch is not None:
        parts = [_parse_hhmm(x) for x in raw_lunch]
        if len(parts) != 2 or None in parts:
            c.err("center.lunch", "must be two times [\"HH:MM\", \"HH:MM\"]")
        elif not (opens and closes and opens < parts[0] < parts[1] < closes):
            c.err("center.lunch", "must start after center.opens and end before center.closes")
        else:
            lunch = (parts[0], parts[1])
    open_days = c.get(center, "open_days", "center", list, required=False,
                      default=["mon", "tue", "wed", "thu", "fri"])
    for i, day in enumerate(open_days or []):
        if day not in WEEKDAYS:
            c.err(f"center.open_days[{i}]", f"must be one of {', '.join(WEEKDAYS)}")
    notice = c.text(center, "notice", "center", required=False)
    notice_en = c.text(center, "notice_en", "center", required=False, default=notice)

    q = c.get(data, "queue", "", dict, required=False, default={}) or {}
    c.unknown(q, {"max_priority_in_row", "call_policy", "transfer_placement",
                  "requeue_placement", "recent_calls", "expire_waiting_at", "overdue_after"},
              "queue")
    max_prio = c.get(q, "max_priority_in_row", "queue", int, required=False, default=2)
    if max_prio is not None and max_prio < 1:
        c.err("queue.max_priority_in_row", "must be at least 1")
    policy = c.get(q, "call_policy", "queue", str, required=False, default="oldest_first")
    if policy not in CALL_POLICIES:
        c.err("queue.call_policy", f"must be one of {', '.join(CALL_POLICIES)}")
    placements = {}
    for key, default in (("transfer_placement", "front"), ("requeue_placement", "back")):
        value = c.get(q, key, "queue", str, required=False, default=default)
        if value not in PLACEMENTS:
            c.err(f"queue.{key}", f"must be one of {', '.join(PLACEMENTS)}")
        placements[key] = value
    recent = c.get(q, "recent_calls", "queue", int, required=False, default=10)
    if recent is not None and not (1 <= recent <= 50):
        c.err("queue.recent_calls", "must be between 1 and 50")
    expire_at = c.clock(q, "expire_waiting_at", "queue", required=False, default=None)
    overdue = c.get(q, "overdue_after", "queue", (int, float), required=False, default=None)
    if overdue is not None and overdue <= 0:
        c.err("queue.overdue_after", "must be positive (a multiple of the target wait)")
    rules = QueueRules(max_prio or 2, policy, placements["transfer_placement"],
                       placements["requeue_placement"], recent or 10, expire_at,
                       float(overdue) if overdue else None)

    rating = c.get(data, "rating", "", dict, required=False, default={}) or {}
    c.unknown(rating, {"window_seconds", "levels"}, "rating")
    window = c.get(rating, "window_seconds", "rating", int, required=False, default=300)
    if window is not None and window <= 0:
        c.err("rating.window_seconds", "must be positive")
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
            c.err(p, "must be a table")
            continue
        c.unknown(lv, {"value", "vi", "en", "satisfied", "negative"}, p)
        value = c.get(lv, "value", p, int)
        if value in seen_values:
            c.err(f"{p}.value", f"duplicates value {value}")
        seen_values.add(value)
        levels.append(RatingLevel(
            value if isinstance(value, int) else 0,
            c.text(lv, "vi", p), c.text(lv, "en", p, required=False, default=lv.get("vi", "")),
            bool(c.get(lv, "satisfied", p, bool, required=False, default=False)),
            bool(c.get(lv, "negative", p, bool, required=False, default=False)),
        ))
    if not levels:
        c.err("rating.levels", "needs at least one level")

    groups: list[PriorityGroup] = []
    seen: set[str] = set()
    for i, g in enumerate(c.get(data, "priority_groups", "", list, required=False, default=[]) or []):
        p = f"priority_groups[{i}]"
        if not isinstance(g, dict):
            c.err(p, "must be a table")
            continue
        c.unknown(g, {"code", "vi", "en"}, p)
        code = c.text(g, "code", p)
        if code in seen:
            c.err(f"{p}.code", f"duplicates priority group {code!r}")
        seen.add(code)
        groups.append(PriorityGroup(code, c.text(g, "vi", p),
                                    c.text(g, "en", p, required=False, default=g.get("vi", ""))))

    departments: list[Department] = []
    letters: dict[str, str] = {}
    dept_codes: set[str] = set()
    proc_codes: set[str] = set()
    raw_depts = c.get(data, "departments", "", list, default=[]) or []
    if not raw_depts and "departments" in data:
        c.err("departments", "needs at least one department")
    for i, d in enumerate(raw_depts):
        p = f"departments[{i}]"
        if not isinstance(d, dict):
            c.err(p, "must be a table")
            continue
        c.unknown(d, {"code", "letter", "vi", "en", "target_wait", "daily_cap", "open", "procedures"}, p)
        code = c.text(d, "code", p)
        if code in dept_codes:
            c.err(f"{p}.code", f"duplicates department {code!r}")
        dept_codes.add(code)
        letter = c.text(d, "letter", p)
        if letter and not re.fullmatch(r"[A-Z]", letter):
            c.err(f"{p}.letter", f"must be one capital letter A-Z, got {letter!r}")
        elif letter in letters:
            c.err(f"{p}.letter", f"{letter!r} is already used by department {letters[letter]!r}")
        letters[letter] = code
        target = c.get(d, "target_wait", p, (int, float), required=False, default=15)
        if target is not None and target <= 0:
            c.err(f"{p}.target_wait", "must be positive (minutes)")
        cap = c.get(d, "daily_cap", p, int, required=False, default=None)
        if cap is not None and not (1 <= cap <= 999):
            c.err(f"{p}.daily_cap", "must be between 1 and 999")
        procs: list[Procedure] = []
        for j, pr in enumerate(c.get(d, "procedures", p, list, required=False, default=[]) or []):
            pp = f"{p}.procedures[{j}]"
            if not isinstance(pr, dict):
                c.err(pp, "must be a table")
                continue
            c.unknown(pr, {"code", "vi", "en", "minutes"}, pp)
            pcode = c.text(pr, "code", pp)
            if pcode in proc_codes:
                c.err(f"{pp}.code", f"duplicates procedure {pcode!r}")
            proc_codes.add(pcode)
            minutes = c.get(pr, "minutes", pp, (int, float), required=False, default=10)
            if minutes is not None and minutes <= 0:
                c.err(f"{pp}.minutes", "must be positive")
            procs.append(Procedure(pcode, c.text(pr, "vi", pp),
                                   c.text(pr, "en", pp, required=False, default=pr.get("vi", "")),
                                   float(minutes or 10), code))
        departments.append(Department(
            code, letter, c.text(d, "vi", p),
            c.text(d, "en", p, required=False, default=d.get("vi", "")),
            float(target or 15), cap,
            bool(c.get(d, "open", p, bool, required=False, default=True)), tuple(procs)))

    counters: list[Counter] = []
    numbers: set[int] = set()
    served: set[str] = set()
    for i, ct in enumerate(c.get(data, "counters", "", list, default=[]) or []):
        p = f"counters[{i}]"
        if not isinstance(ct, dict):
            c.err(p, "must be a table")
            continue
        c.unknown(ct, {"number", "name", "departments"}, p)
        number = c.get(ct, "number", p, int)
        if isinstance(number, int):
            if number < 1:
                c.err(f"{p}.number", "must be 1 or more")
            if number in numbers:
                c.err(f"{p}.number", f"duplicates counter {number}")
            numbers.add(number)
        depts = c.get(ct, "departments", p, list, default=[]) or []
        if not depts:
            c.err(f"{p}.departments", "must list at least one department")
        for j, code in enumerate(depts):
            if code not in dept_codes:
                c.err(f"{p}.departments[{j}]", f"unknown department {code!r}")
            served.add(code)
        counters.append(Counter(number if isinstance(number, int) else 0,
                                c.text(ct, "name", p, required=False, default=f"Quầy {number}"),
                                tuple(str(x) for x in depts)))
    for i, d in enumerate(departments):
        if d.code and d.code not in served:
            c.err(f"departments[{i}]", f"no counter serves department {d.code!r}")

    officers: list[Officer] = []
    ids: set[str] = set()
    for i, o in enumerate(c.get(data, "officers", "", list, required=False, default=[]) or []):
        p = f"officers[{i}]"
        if not isinstance(o, dict):
            c.err(p, "must be a table")
            continue
        c.unknown(o, {"id", "name", "pin_hash"}, p)
        oid = c.text(o, "id", p)
        if oid in ids:
            c.err(f"{p}.id", f"duplicates officer {oid!r}")
        ids.add(oid)
        ph = c.text(o, "pin_hash", p)
        if ph and not ph.startswith("pbkdf2_sha256$"):
            c.err(f"{p}.pin_hash", "must be a hash from `motcua hash-pin`, not a plain PIN")
        officers.append(Officer(oid, c.text(o, "name", p), ph))

    devices = c.get(data, "devices", "", dict, default={}) or {}
    tokens: dict[str, str] = {}
    for role, token in devices.items():
        if role not in ROLES:
            c.err(f"devices.{role}", f"unknown role; roles are {', '.join(ROLES)}")
        elif not isinstance(token, str) or len(token) < 4:
            c.err(f"devices.{role}", "must be a token of at least 4 characters")
        else:
            tokens[role] = token
    for role in ROLES:
        if role not in devices and "devices" in data:
            c.err(f"devices.{role}", "is required (a token for each role)")

    if c.errors:
        raise ConfigError(c.errors, source)
    return CenterConfig(
        name=name, name_en=name_en, timezone=tz, opens=opens, closes=closes,
        last_ticket=last_ticket, open_days=tuple(open_days), notice=notice, lunch=lunch,
        notice_en=notice_en, queue=rules, rating_window_seconds=window,
        rating_levels=tuple(sorted(levels, key=lambda r: -r.value)),
        priority_groups=tuple(groups), departments=tuple(departments),
        counters=tuple(sorted(counters, key=lambda x: x.number)), officers=tuple(officers),
        tokens=tokens,
    )


def load_config(path: str | Path | None = None) -> CenterConfig:
    """Load a center file, or the built-in sample center when ``path`` is None."""
    if path is None:
        text = resources.files("motcua.server").joinpath("sample_center.toml").read_text("utf-8")
        source = "<built-in sample center>"
    else:
        source = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as e:
            raise ConfigError([("", f"cannot read file: {e.strerror or e}")], source) from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([("", f"not valid TOML: {e}")], source) from e
    return parse_config(data, source)
