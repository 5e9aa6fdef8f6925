"""The kiosk's plain logic: procedure search, a citizen's choice, what goes on
a ticket. No Textual, no networking: the app and the tests use it directly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from motcua.i18n import fold, search_fold
from motcua.phone import MAX_ENTRY, PhoneError, group_entry, mask_phone, normalize_phone
from motcua.waits import wait_phrase, wait_range_of

DEFAULT_TZ = "Asia/Ho_Chi_Minh"


@dataclass
class Choice:
    """One citizen's attempt to take a number.

    ``request_id`` is made once per attempt and reused on every retry, so a
    reply lost to a network blip or a server restart never yields a second
    ticket (the server answers a repeated id with the ticket it already
    issued)."""

    department: str
    procedure: str | None = None
    priority: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def fields(self) -> dict[str, Any]:
        """The ``issue`` command's fields."""
        out: dict[str, Any] = {"department": self.department, "request_id": self.request_id}
        if self.procedure:
            out["procedure"] = self.procedure
        if self.priority:
            out["priority"] = self.priority
        return out


@dataclass(frozen=True)
class Match:
    """A procedure found by search, with its department and how well it matched."""

    department: dict[str, Any]
    procedure: dict[str, Any]
    score: int


# How much one query word counts where it is found: in the procedure's own
# name or one of its keywords, in its code, or only in its department's name.
_NAME, _CODE, _DEPT = 4, 4, 1
# The whole query as a run of words in the name, or as (the start of) a keyword.
_PHRASE_IN_NAME, _PHRASE_IN_KEYWORD = 12, 10


def _words(text: str) -> list[str]:
    return search_fold(text.replace("-", " ").replace(",", " ").replace("/", " ")).split()


def _word_score(word: str, words: list[str], last: bool, weight: int) -> int:
    """``weight`` for an exact word; half of it for the beginning of a word,
    which only the last query word may be (it is still being typed)."""
    if word in words:
        return weight
    if last and any(w.startswith(word) for w in words):
        return weight // 2 or 1
    return 0


def _run_in(needle: list[str], hay: list[str], last_prefix: bool) -> bool:
    """``needle`` appears as consecutive words of ``hay`` (its last word may be
    the beginning of a word)."""
    n = len(needle)
    for i in range(len(hay) - n + 1):
        window = hay[i:i + n]
        if window[:-1] == needle[:-1] and (window[-1] == needle[-1] or (
                last_prefix and window[-1].startswith(needle[-1]))):
            return True
    return False


@dataclass(frozen=True)
class _Indexed:
    department: dict[str, Any]
    procedure: dict[str, Any]
    name: tuple[list[str], ...]   # the vi and en names
    keywords: tuple[list[str], ...]
    code: list[str]
    dept: list[str]


def _index(center: dict[str, Any]) -> list[_Indexed]:
    out = []
    for dept in center.get("departments", []):
        dept_words = _words(f"{dept.get('vi', '')} {dept.get('en', '')}")
        for proc in dept.get("procedures", []):
            out.append(_Indexed(
                dept, proc, tuple(_words(proc.get(k) or "") for k in ("vi", "en")),
                tuple(_words(k) for k in proc.get("keywords") or []),
                _words(proc.get("code", "")), dept_words))
    return out


def search_procedures(center: dict[str, Any], query: str, limit: int | None = None) -> list[Match]:
    """Procedures matching every word of ``query``, best first.

    Case, Vietnamese diacritics and the i/y spellings ("ký"/"kí") are
    ignored. A word counts in the procedure's names (either language), its
    configured keywords ("CCCD", "hộ khẩu"), its code, or its department's
    name. Whole words first; only when they find nothing may the last word
    be unfinished ("thuong tr"), so that a finished query is not padded with
    look-alikes ("tru" is also the start of "trúng"). Best first: the whole
    query in the name as typed, then as a keyword, then words found in the
    name or keywords rather than only in the department's name; ties keep
    the configuration's order.
    """
    words = _words(query)
    if not words:
        return []
    index = _index(center)
    found = _search(index, words, prefix=False) or _search(index, words, prefix=True)
    matches = [m for _, _, m in sorted(found, key=lambda f: f[:2])]
    return matches[:limit] if limit is not None else matches


def _search(index: list[_Indexed], words: list[str], prefix: bool) -> list[tuple[int, int, Match]]:
    found = []
    for order, item in enumerate(index):
        own = [*item.name, *item.keywords]
        score = 0
        for i, word in enumerate(words):
            last = prefix and i == len(words) - 1
            best = max([_word_score(word, w, last, _NAME) for w in own]
                       + [_word_score(word, item.code, last, _CODE),
                          _word_score(word, item.dept, last, _DEPT)])
            if best == 0:
                break
            # A word that names the department too ("thuế" in "Cục Thuế")
            # puts that department's procedures first among equals.
            score += best + (best > _DEPT and word in item.dept)
        else:
            if any(_run_in(words, name, prefix) for name in item.name):
                score += _PHRASE_IN_NAME
            elif any(_run_in(words, kw, prefix) or _run_in(kw, words, False)
                     for kw in item.keywords):
                score += _PHRASE_IN_KEYWORD
            found.append((-score, order, Match(item.department, item.procedure, score)))
    return found


def counters_for(center: dict[str, Any], department: str) -> list[int]:
    """Numbers of the counters that serve ``department``, in order."""
    return sorted(c["number"] for c in center.get("counters", [])
                  if department in c.get("departments", []))


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Closed:
    """Why no ticket can be taken now, from the center's hours.

    ``reason`` is "before" (today, later), "after" (today is over) or
    "closed" (not an open day); ``next_days`` says in how many days the next
    open day comes (1: tomorrow) and ``next_weekday`` which day it is (0 is
    Monday), None when the center has no open day at all.
    """

    reason: str
    opens: str
    last_ticket: str
    next_days: int | None
    next_weekday: int | None


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")[:2]
    return int(hours) * 60 + int(minutes)


def ticket_hours(center: dict[str, Any], local: datetime) -> Closed | None:
    """None while the center issues tickets at ``local`` (its own time), else
    why not: the same rules the server applies (open days, ``opens`` to
    ``last_ticket``), so the kiosk can say so before a citizen chooses.
    Compared to the minute, as the hours are written."""
    opens, last = center.get("opens"), center.get("last_ticket") or center.get("closes")
    if not opens or not last:
        return None
    days = [d for d in center.get("open_days", _WEEKDAYS) if d in _WEEKDAYS]
    now = local.hour * 60 + local.minute
    today = local.weekday()
    if _WEEKDAYS[today] in days:
        if now < _minutes(opens):
            return Closed("before", opens, last, 0, today)
        if now <= _minutes(last):
            return None
        reason = "after"
    else:
        reason = "closed"
    ahead = next((n for n in range(1, 8) if _WEEKDAYS[(today + n) % 7] in days), None)
    return Closed(reason, opens, last, ahead, None if ahead is None else (today + ahead) % 7)


def center_tz(center: dict[str, Any]) -> ZoneInfo:
    """The center's time zone (Asia/Ho_Chi_Minh when unknown)."""
    try:
        return ZoneInfo(center.get("timezone") or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def qr_payload(ticket: dict[str, Any], link: str | None = None) -> str:
    """What the ticket's QR code carries: the ticket's live page
    (``https://<center>/ve/<secret>``, from the ``issue`` reply), which any
    phone opens. A server too old to give a link: day, number and id."""
    if link:
        return link
    return f"motcua:{ticket['day']}:{ticket['number']}:{ticket['id']}"


@dataclass(frozen=True)
class IssuedTicket:
    """A ticket the server confirmed, with what the kiosk shows and prints."""

    ticket: dict[str, Any]
    ahead: int
    wait_minutes: int | None
    repeat: bool
    #: The ticket's live page for the citizen's phone (the QR holds it).
    link: str | None = None
    #: The calibrated range (minutes), and why the wait is unknown if it is.
    wait_range: tuple[int, int] | None = None
    wait_unknown: str | None = None
    #: The center sends text messages: "when this many people are ahead"
    #: (the ``issue`` reply's ``notify_ahead``); None: it sends none.
    notify_ahead: int | None = None

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> "IssuedTicket":
        link = reply.get("link")
        ahead = reply.get("notify_ahead")
        return cls(reply["ticket"], int(reply.get("ahead", 0)), reply.get("wait_minutes"),
                   bool(reply.get("repeat", False)), link if isinstance(link, str) else None,
                   wait_range_of(reply), reply.get("wait_unknown") or None,
                   ahead if isinstance(ahead, int) and not isinstance(ahead, bool) else None)

    @property
    def link_secret(self) -> str | None:
        """The secret in the ticket's link (``…/ve/<secret>``): how the
        ``notify`` command names the ticket."""
        if not self.link or "/ve/" not in self.link:
            return None
        secret = self.link.rsplit("/ve/", 1)[1].split("?", 1)[0].split("#", 1)[0]
        return secret or None

    @property
    def can_notify(self) -> bool:
        """Whether to offer "text me when my turn is near"."""
        return self.notify_ahead is not None and self.link_secret is not None

    def wait_phrase(self) -> tuple[str, dict[str, Any]] | None:
        """See :func:`wait_phrase`."""
        return wait_phrase(self.wait_minutes, self.wait_range, self.wait_unknown)

    @property
    def number(self) -> str:
        return str(self.ticket["number"])

    def issued_local(self, center: dict[str, Any]) -> datetime:
        """Issue time in the center's time zone."""
        return datetime.fromtimestamp(float(self.ticket["issued_at"]), center_tz(center))


class PhoneEntry:
    """A phone number being typed on the kiosk's keypad (or keyboard): digits,
    one leading "+", at most :data:`MAX_ENTRY` characters. Checked with the
    server's own rule (:func:`motcua.phone.normalize_phone`) before it is
    sent; :meth:`clear` forgets it."""

    def __init__(self) -> None:
        self._text = ""

    @property
    def text(self) -> str:
        return self._text

    def __bool__(self) -> bool:
        return bool(self._text)

    def press(self, key: str) -> bool:
        """A digit, "+", "backspace" or "clear"; False when it changes nothing."""
        before = self._text
        if key == "backspace":
            self._text = self._text[:-1]
        elif key == "clear":
            self._text = ""
        elif key == "+":
            if not self._text:
                self._text = "+"
        elif len(key) == 1 and key.isdigit() and key.isascii() and len(self._text) < MAX_ENTRY:
            self._text += key
        return self._text != before

    def clear(self) -> None:
        self._text = ""

    def grouped(self) -> str:
        """As typed, grouped to be read back (``0912 345 678``)."""
        return group_entry(self._text)

    def check(self) -> str:
        """The number as ``0xxxxxxxxx``; :class:`PhoneError` says why not."""
        return normalize_phone(self._text)


def phone_error_key(error: PhoneError) -> tuple[str, dict[str, Any]]:
    """The catalogue key and parameters that explain a refused entry."""
    return f"phone_err_{error.reason}", dict(error.params)


def masked(phone: str) -> str:
    """See :func:`motcua.phone.mask_phone`."""
    return mask_phone(phone)
