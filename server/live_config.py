"""The center's configuration as a living document: changes made while the
center runs, validated, versioned and written back as TOML.

Pure: no I/O. The configuration is kept as a *document* — the same shape as
the center file (``[center]``, ``[[departments]]``, …), JSON-storable — plus
the officers' PIN hashes, kept apart (:attr:`LiveConfig.pins`) so that the
document's history never accumulates them. A change is a small dict
(``{"kind": "close_department", "department": "TP", …}``); :meth:`LiveConfig.apply`
returns the next version, built and checked by the very parser that reads
center files, so a live change can never make a configuration that a restart
would refuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any

import orjson

from .booking import booking_doc
from .config import WEEKDAYS, CenterConfig, ConfigError, parse_config


def _copy(doc: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON document (several times faster than
    ``copy.deepcopy`` on a center's 16 KB)."""
    return orjson.loads(orjson.dumps(doc))

#: What a live change may be (the ``kind`` of a change dict).
CHANGE_KINDS = ("close_department", "open_department", "set_daily_cap",
                "set_counter_departments", "set_notice", "add_officer", "update_officer")

_CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


class ChangeError(Exception):
    """A live change that cannot be made: a stable ``code`` (one of the
    core's error codes) and its parameters."""

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        super().__init__(code)


def _clock(t: time) -> str:
    return t.strftime("%H:%M:%S" if t.second else "%H:%M")


def config_doc(config: CenterConfig) -> dict[str, Any]:
    """The configuration as a center-file document (no PIN hashes): what is
    stored, compared and exported. Two configurations are the same exactly
    when their documents (and pins) are equal."""
    center: dict[str, Any] = {
        "name": config.name, "name_en": config.name_en, "timezone": config.timezone,
        "opens": _clock(config.opens), "closes": _clock(config.closes),
        "last_ticket": _clock(config.last_ticket), "open_days": list(config.open_days),
        "notice": config.notice, "notice_en": config.notice_en,
    }
    if config.lunch is not None:
        center["lunch"] = [_clock(config.lunch[0]), _clock(config.lunch[1])]
    q = config.queue
    queue: dict[str, Any] = {
        "max_priority_in_row": q.max_priority_in_row, "call_policy": q.call_policy,
        "transfer_placement": q.transfer_placement, "requeue_placement": q.requeue_placement,
        "recent_calls": q.recent_calls,
    }
    if q.expire_waiting_at is not None:
        queue["expire_waiting_at"] = _clock(q.expire_waiting_at)
    if q.overdue_after is not None:
        queue["overdue_after"] = q.overdue_after
    rating = {
        "window_seconds": config.rating_window_seconds,
        "levels": [{"value": r.value, "vi": r.vi, "en": r.en, "satisfied": r.satisfied,
                    "negative": r.negative} for r in config.rating_levels],
    }
    departments = []
    for d in config.departments:
        dept: dict[str, Any] = {"code": d.code, "letter": d.letter, "vi": d.vi, "en": d.en,
                                "target_wait": d.target_wait, "open": d.open}
        if d.daily_cap is not None:
            dept["daily_cap"] = d.daily_cap
        if d.reopen_at is not None:
            dept["reopen_at"] = datetime.fromtimestamp(d.reopen_at, config.tz).isoformat()
        dept["procedures"] = [{"code": p.code, "vi": p.vi, "en": p.en, "minutes": p.minutes,
                               **({"keywords": list(p.keywords)} if p.keywords else {})}
                              for p in d.procedures]
        departments.append(dept)
    officers = []
    for o in config.officers:
        officer: dict[str, Any] = {"id": o.id, "name": o.name}
        if o.disabled:
            officer["disabled"] = True
        if o.counters:
            officer["counters"] = list(o.counters)
        officers.append(officer)
    doc: dict[str, Any] = {
        "center": center, "queue": queue, "rating": rating,
        "priority_groups": [{"code": g.code, "vi": g.vi, "en": g.en}
                            for g in config.priority_groups],
        "departments": departments,
        "counters": [{"number": c.number, "name": c.name, "departments": list(c.departments)}
                     for c in config.counters],
        "officers": officers,
    }
    if config.tokens:
        doc["devices"] = dict(config.tokens)
    web = _web_doc(config)
    if web:
        doc["web"] = web
    if config.printer:
        doc["printer"] = dict(config.printer)
    booking = booking_doc(config.booking)
    if booking:
        doc["booking"] = booking
    hub = {k: v for k, v in (("code", config.hub.code), ("name", config.hub.name),
                             ("url", config.hub.url)) if v}
    if hub:
        doc["hub"] = hub
    return doc


def _web_doc(config: CenterConfig) -> dict[str, Any]:
    web: dict[str, Any] = {}
    if config.web.public_url:
        web["public_url"] = config.web.public_url
    n = config.web.notify
    if n is not None:
        web["notify"] = {"url": n.url, "method": n.method, "body": n.body,
                         "content_type": n.content_type, "headers": dict(n.headers),
                         "ahead": n.ahead, "retries": n.retries, "timeout": n.timeout,
                         "backoff": n.backoff}
    return web


def pins_of(config: CenterConfig) -> dict[str, str]:
    """Officer ID → PIN hash."""
    return {o.id: o.pin_hash for o in config.officers}


def build(doc: dict[str, Any], pins: dict[str, str], source: str = "",
          demo: bool = False) -> CenterConfig:
    """Parse a document with its officers' PIN hashes into a configuration
    (raises :class:`ConfigError`)."""
    data = _copy(doc)
    for o in data.get("officers", []):
        if isinstance(o, dict) and "id" in o:
            o["pin_hash"] = pins.get(o["id"], "")
    config = parse_config(data, source)
    return replace(config, demo=True) if demo else config


@dataclass(frozen=True)
class LiveConfig:
    """One version of the center's configuration."""

    doc: dict[str, Any]
    pins: dict[str, str] = field(default_factory=dict)
    #: 0 for a configuration never stored; the stored versions count from 1.
    version: int = 0
    #: Runtime options laid over every version, never stored: ``ignore_hours``
    #: (``serve --ignore-hours``) and ``demo``.
    ignore_hours: bool = False
    demo: bool = False
    #: The configuration built from this version (made once, when first asked).
    _built: CenterConfig | None = field(default=None, init=False, compare=False, repr=False)

    @classmethod
    def of(cls, config: CenterConfig, version: int = 0) -> "LiveConfig":
        """The live form of a configuration (e.g. one read from a file)."""
        return cls(config_doc(config), pins_of(config), version, demo=config.demo)

    def config(self) -> CenterConfig:
        """The configuration the core runs on: the document, the pins and the
        runtime options."""
        if self._built is not None:
            return self._built
        config = build(self.doc, self.pins, f"<stored configuration v{self.version}>", self.demo)
        if self.ignore_hours:
            config = always_open(config)
        object.__setattr__(self, "_built", config)
        return config

    def same(self, other: "LiveConfig") -> bool:
        """Whether two versions configure the same center."""
        return self.doc == other.doc and self.pins == other.pins

    def with_pin(self, officer: str, pin_hash: str) -> "LiveConfig":
        """The same version with one officer's PIN hash replaced (a PIN is
        not part of the document: no new version)."""
        old = self.config()
        officers = tuple(replace(o, pin_hash=pin_hash) if o.id == officer else o
                         for o in old.officers)
        nxt = replace(self, pins={**self.pins, officer: pin_hash})
        # Only a hash changed: the built configuration follows without a parse.
        object.__setattr__(nxt, "_built", replace(old, officers=officers))
        return nxt

    def apply(self, change: dict[str, Any], now: datetime) -> tuple["LiveConfig", dict[str, Any]]:
        """The next version with ``change`` made, and the change as the event
        log records it (no PIN hashes). ``now`` is the center's local time
        (aware). Raises :class:`ChangeError`."""
        kind = change.get("kind")
        doc = _copy(self.doc)
        pins = dict(self.pins)
        record: dict[str, Any] = {"kind": kind}
        if kind in ("close_department", "open_department", "set_daily_cap"):
            dept = _find(doc.get("departments", []), "code", change.get("department"))
            if dept is None:
                raise ChangeError("unknown_department", department=change.get("department"))
            record["department"] = dept["code"]
            if kind == "close_department":
                until = change.get("until")
                dept["open"] = False
                reopen = _reopen_time(until, now)
                if reopen is None:
                    dept.pop("reopen_at", None)
                else:
                    dept["reopen_at"] = reopen.isoformat()
                record["until"] = until or "today"
                record["reopen_at"] = reopen.timestamp() if reopen else None
            elif kind == "open_department":
                dept["open"] = True
                dept.pop("reopen_at", None)
            else:
                cap = change.get("cap")
                if not isinstance(cap, int) or isinstance(cap, bool) or not 0 <= cap <= 999:
                    raise ChangeError("bad_value", field="cap", problem="0–999 (0: no cap)")
                if cap:
                    dept["daily_cap"] = cap
                else:
                    dept.pop("daily_cap", None)
                record["cap"] = cap or None
        elif kind == "set_counter_departments":
            counter = _find(doc.get("counters", []), "number", change.get("counter"))
            if counter is None:
                raise ChangeError("unknown_counter", counter=change.get("counter"))
            codes = change.get("departments")
            if (not isinstance(codes, list) or not codes or len(codes) > 50
                    or not all(isinstance(c, str) for c in codes)):
                raise ChangeError("bad_value", field="departments",
                                  problem="a list of department codes")
            if len(set(codes)) != len(codes):
                raise ChangeError("bad_value", field="departments", problem="listed twice")
            known = {d["code"] for d in doc.get("departments", [])}
            for code in codes:
                if code not in known:
                    raise ChangeError("unknown_department", department=code)
            record.update(counter=counter["number"], before=list(counter["departments"]),
                          departments=list(codes))
            counter["departments"] = list(codes)
        elif kind == "set_notice":
            notice = change.get("notice")
            if not isinstance(notice, str) or len(notice) > 500:
                raise ChangeError("bad_value", field="notice", problem="text, ≤ 500")
            notice_en = change.get("notice_en")
            if notice_en is not None and (not isinstance(notice_en, str) or len(notice_en) > 500):
                raise ChangeError("bad_value", field="notice_en", problem="text, ≤ 500")
            doc["center"]["notice"] = notice.strip()
            doc["center"]["notice_en"] = (notice_en if notice_en is not None else notice).strip()
            record.update(notice=doc["center"]["notice"], notice_en=doc["center"]["notice_en"])
        elif kind == "add_officer":
            oid = change.get("officer")
            if not isinstance(oid, str) or not _CODE_RE.match(oid):
                raise ChangeError("bad_value", field="officer",
                                  problem="1–40 letters, digits, . _ -")
            if _find(doc.get("officers", []), "id", oid) is not None:
                raise ChangeError("officer_exists", officer=oid)
            name = _name(change.get("name"))
            officer: dict[str, Any] = {"id": oid, "name": name}
            counters = _counters(doc, change.get("counters"))
            if counters:
                officer["counters"] = counters
            if not isinstance(change.get("pin_hash"), str):
                raise ChangeError("bad_value", field="pin", problem="required")
            doc.setdefault("officers", []).append(officer)
            pins[oid] = change["pin_hash"]
            record.update(officer=oid, name=name, counters=counters)
        elif kind == "update_officer":
            officer = _find(doc.get("officers", []), "id", change.get("officer"))
            if officer is None:
                raise ChangeError("no_such_officer", officer=change.get("officer"))
            record["officer"] = officer["id"]
            if change.get("name") is not None:
                officer["name"] = record["name"] = _name(change["name"])
            if change.get("disabled") is not None:
                if not isinstance(change["disabled"], bool):
                    raise ChangeError("bad_value", field="disabled", problem="true or false")
                if change["disabled"]:
                    officer["disabled"] = True
                else:
                    officer.pop("disabled", None)
                record["disabled"] = change["disabled"]
            if change.get("counters") is not None:
                counters = _counters(doc, change["counters"])
                if counters:
                    officer["counters"] = counters
                else:
                    officer.pop("counters", None)
                record["counters"] = counters
            if len(record) == 2:
                raise ChangeError("bad_value", field="officer", problem="nothing to change")
        else:
            raise ChangeError("bad_value", field="kind", problem=", ".join(CHANGE_KINDS))
        if doc == self.doc and pins == self.pins:
            raise ChangeError("no_change")
        nxt = replace(self, doc=doc, pins=pins, version=self.version + 1)
        try:
            nxt.config()
        except ConfigError as e:
            path, msg = e.errors[0]
            raise ChangeError("config_invalid", path=path, problem=msg) from None
        return nxt, record


def _find(items: list[dict[str, Any]], key: str, value: Any) -> dict[str, Any] | None:
    return next((i for i in items if isinstance(i, dict) and i.get(key) == value), None)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 80:
        raise ChangeError("bad_value", field="name", problem="text, 1–80")
    return value.strip()


def _counters(doc: dict[str, Any], value: Any) -> list[int]:
    if value is None:
        return []
    if (not isinstance(value, list) or len(value) > 50
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in value)):
        raise ChangeError("bad_value", field="counters", problem="a list of counter numbers")
    known = {c["number"] for c in doc.get("counters", [])}
    for n in value:
        if n not in known:
            raise ChangeError("unknown_counter", counter=n)
    return list(dict.fromkeys(value))


_UNTIL_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _reopen_time(until: Any, now: datetime) -> datetime | None:
    """When a department closed ``until`` reopens: ``None``/"today" is the
    next day's start, "HH:MM" a time later today, "indefinitely" never (it
    stays closed until opened)."""
    if until in (None, "today"):
        tomorrow = (now + timedelta(days=1)).date()
        return datetime.combine(tomorrow, time(0, 0), now.tzinfo)
    if until == "indefinitely":
        return None
    m = _UNTIL_RE.match(until) if isinstance(until, str) else None
    if m is None:
        raise ChangeError("bad_value", field="until", problem="HH:MM, today or indefinitely")
    at = datetime.combine(now.date(), time(int(m.group(1)), int(m.group(2))), now.tzinfo)
    if at <= now:
        raise ChangeError("bad_time", until=until)
    return at


def due_reopenings(config: CenterConfig, ts: float) -> list[str]:
    """Departments whose closure has run out at ``ts``."""
    return [d.code for d in config.departments
            if not d.open and d.reopen_at is not None and d.reopen_at <= ts]


def next_reopening(config: CenterConfig) -> float | None:
    """The earliest time a closed department reopens by itself."""
    times = [d.reopen_at for d in config.departments if not d.open and d.reopen_at is not None]
    return min(times) if times else None


def always_open(config: CenterConfig) -> CenterConfig:
    """The same center with hours lifted (demos, benchmarks, tests): open
    to the last microsecond of the day (23:59:59 would refuse 23:59:59.5),
    and no lunch closure either."""
    return replace(config, opens=time(0, 0), closes=time.max,
                   last_ticket=time.max, open_days=WEEKDAYS, lunch=None)


# --- TOML -----------------------------------------------------------------

def to_toml(doc: dict[str, Any], pins: dict[str, str], header: str = "") -> str:
    """The document as a center file that ``motcua serve --config`` reads
    back to the same configuration (PIN hashes included)."""
    import tomli_w

    data = _copy(doc)
    for o in data.get("officers", []):
        o["pin_hash"] = pins.get(o["id"], "")
    # Tables before arrays of tables, in the order a person reads a center file.
    order = ["center", "queue", "booking", "rating", "printer", "web", "hub", "devices",
             "priority_groups", "departments", "counters", "officers"]
    ordered = {k: data[k] for k in order if k in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    text = tomli_w.dumps(ordered, multiline_strings=False)
    if header:
        text = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()) + "\n" + text
    return text
